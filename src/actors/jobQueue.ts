import { AbortedError, DeadlineError, InvalidOptionError, QueueFullError, type WardenError } from '../errors.js';
import { MAX_TIMER_DELAY_MS, systemClock, type Clock, type TimerHandle } from './clock.js';

/** Job priorities, highest first. */
export const PRIORITIES = ['critical', 'high', 'normal', 'background'] as const;

/** How urgent a job is; see {@link JobQueue} for how priorities and the starvation bound interact. */
export type Priority = (typeof PRIORITIES)[number];

/** Options of {@link JobQueue}; every one is optional. */
export interface JobQueueOptions {
  /** Named in error messages and details, e.g. `'prepare'` or `'execute'`. Default: `'job'`. */
  name?: string;
  /** Most items that may wait; `enqueue` past it throws `E_QUEUE_FULL`. Default: `Infinity`. */
  maxQueue?: number;
  /** How many times a waiting item may be overtaken (see {@link JobQueue}). `Infinity` gives strict priorities. Default: 16. */
  starvationLimit?: number;
  /** Time source for deadlines. Default: the system clock. */
  clock?: Clock;
}

/** Options of {@link JobQueue.enqueue}; every one is optional. */
export interface EnqueueOptions<T> {
  /** Default: `'normal'`. */
  priority?: Priority;
  /** Aborting it while the item waits removes the item with `E_ABORTED`. */
  signal?: AbortSignal;
  /** Epoch ms (same scale as the clock's `now()`); reaching it while the item waits removes the item with `E_DEADLINE`. */
  deadline?: number;
  /**
   * Called exactly once if the item leaves the queue any way but `dequeue()`: abort, deadline,
   * `remove()` or `drain()`. Never called when `enqueue` throws or after `dequeue()`.
   * The queue is already consistent when it runs, so it may call back into the queue.
   */
  onCancel?: (error: WardenError, ticket: QueueTicket<T>) => void;
}

/** What `enqueue` returns and `dequeue` hands back: the item and the facts the scheduler needs to take over. */
export interface QueueTicket<T> {
  /** Unique in this queue and increasing in enqueue order. */
  readonly id: number;
  readonly item: T;
  readonly priority: Priority;
  /** The clock's `now()` at enqueue. */
  readonly enqueuedAt: number;
  /** After `dequeue()` the queue no longer watches these: the scheduler does. */
  readonly deadline: number | undefined;
  readonly signal: AbortSignal | undefined;
}

const DEFAULT_STARVATION_LIMIT = 16;
const CRITICAL = 0;

/** The private side of a ticket: list links, heap slot and abort listener. @internal */
class Entry<T> implements QueueTicket<T> {
  prev: Entry<T> | undefined;
  next: Entry<T> | undefined;
  heapIndex = -1;
  waiting = true;

  constructor(
    readonly owner: JobQueue<T>,
    readonly id: number,
    readonly item: T,
    public level: number,
    readonly enqueuedAt: number,
    readonly deadline: number | undefined,
    readonly signal: AbortSignal | undefined,
    readonly onCancel: EnqueueOptions<T>['onCancel'],
  ) {}

  get priority(): Priority {
    return PRIORITIES[this.level]!;
  }
}

/**
 * Ids of dequeued items that overtook the current head of a level, in increasing order.
 * Its size is the head's overtake count, which the queue keeps at or below the limit, so
 * it stays small.
 */
class IdFifo {
  #ids: number[] = [];
  #start = 0;

  get size(): number {
    return this.#ids.length - this.#start;
  }

  push(id: number): void {
    this.#ids.push(id);
  }

  /** Forgets ids up to `id`: those items are older than the new head, so they did not overtake it. */
  dropUpTo(id: number): void {
    while (this.#start < this.#ids.length && this.#ids[this.#start]! <= id) this.#start++;
    if (this.#start === this.#ids.length) this.clear();
    else if (this.#start > 32 && this.#start * 2 > this.#ids.length) {
      this.#ids = this.#ids.slice(this.#start);
      this.#start = 0;
    }
  }

  clear(): void {
    this.#ids = [];
    this.#start = 0;
  }
}

/** One priority: a doubly linked FIFO (O(1) removal of any ticket) and the head's overtakes. @internal */
class Level<T> {
  head: Entry<T> | undefined;
  tail: Entry<T> | undefined;
  length = 0;
  /**
   * One FIFO per overtaking level: an item of level `q` is dequeued in FIFO order within
   * `q`, so the ids it records here only grow, and pruning from the front is enough.
   */
  readonly overtakers: IdFifo[];

  constructor(level: number) {
    this.overtakers = Array.from({ length: level }, () => new IdFifo());
  }

  /** How many later-enqueued, higher, non-critical items were dequeued while the head waited. */
  get headOvertakes(): number {
    let count = 0;
    for (const fifo of this.overtakers) count += fifo.size;
    return count;
  }

  append(entry: Entry<T>): void {
    entry.prev = this.tail;
    if (this.tail) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    this.length++;
  }

  /** Inserts an entry at its place by id (enqueue order), for an item moved from another level. */
  insertInOrder(entry: Entry<T>): void {
    let after = this.tail;
    while (after && after.id > entry.id) after = after.prev;
    if (after === this.tail) {
      this.append(entry);
      return;
    }
    entry.prev = after;
    entry.next = after ? after.next : this.head;
    if (entry.next) entry.next.prev = entry;
    if (after) after.next = entry;
    else this.head = entry;
    this.length++;
  }

  unlink(entry: Entry<T>): void {
    const wasHead = entry === this.head;
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = entry.next = undefined;
    this.length--;
    if (!wasHead) return;
    // Every overtaker of an item behind the old head also overtook the old head (it is younger
    // than both), so the new head's overtakers are the old head's minus those older than it.
    const head = this.head;
    for (const fifo of this.overtakers) {
      if (head) fifo.dropUpTo(head.id);
      else fifo.clear();
    }
  }

  clear(): void {
    this.head = this.tail = undefined;
    this.length = 0;
    for (const fifo of this.overtakers) fifo.clear();
  }
}

/** Entries with a deadline, earliest first (ties: oldest first), with O(log n) removal of any entry. @internal */
class DeadlineHeap<T> {
  #heap: Entry<T>[] = [];

  get size(): number {
    return this.#heap.length;
  }

  peek(): Entry<T> | undefined {
    return this.#heap[0];
  }

  push(entry: Entry<T>): void {
    entry.heapIndex = this.#heap.length;
    this.#heap.push(entry);
    this.#up(entry.heapIndex);
  }

  remove(entry: Entry<T>): void {
    const index = entry.heapIndex;
    if (index < 0) return;
    entry.heapIndex = -1;
    const last = this.#heap.pop()!;
    if (index === this.#heap.length) return;
    this.#heap[index] = last;
    last.heapIndex = index;
    this.#down(index);
    this.#up(last.heapIndex);
  }

  clear(): void {
    for (const entry of this.#heap) entry.heapIndex = -1;
    this.#heap = [];
  }

  #before(a: Entry<T>, b: Entry<T>): boolean {
    return a.deadline! < b.deadline! || (a.deadline === b.deadline && a.id < b.id);
  }

  #swap(i: number, j: number): void {
    const a = this.#heap[i]!;
    const b = this.#heap[j]!;
    this.#heap[i] = b;
    this.#heap[j] = a;
    b.heapIndex = i;
    a.heapIndex = j;
  }

  #up(index: number): void {
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#before(this.#heap[index]!, this.#heap[parent]!)) return;
      this.#swap(index, parent);
      index = parent;
    }
  }

  #down(index: number): void {
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < this.#heap.length && this.#before(this.#heap[left]!, this.#heap[smallest]!)) smallest = left;
      if (right < this.#heap.length && this.#before(this.#heap[right]!, this.#heap[smallest]!)) smallest = right;
      if (smallest === index) return;
      this.#swap(index, smallest);
      index = smallest;
    }
  }
}

function describe(value: unknown): string {
  return `\`${typeof value === 'string' ? value : String(value)}\` (${typeof value})`;
}

function invalid(name: string, expected: string, value: unknown): InvalidOptionError {
  return new InvalidOptionError(`Expected the \`${name}\` option to be ${expected}, got ${describe(value)}`, {
    details: { option: name },
  });
}

function limitOption(name: string, value: unknown, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value === Infinity || (Number.isSafeInteger(value) && value >= minimum))) {
    throw invalid(name, `an integer >= ${minimum} or Infinity`, value);
  }
  return value;
}

function isAbortSignal(value: unknown): value is AbortSignal {
  // Duck-typed so that signals from another realm (vm contexts, polyfills) are accepted.
  const signal = value as AbortSignal | null;
  return typeof value === 'object' && signal !== null && typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function';
}

/**
 * The waiting room in front of one worker pool. It holds items and never runs them: the
 * scheduler calls {@link JobQueue.dequeue} whenever a worker becomes idle. `enqueue`,
 * `dequeue`, `peek` and `remove` are O(1) amortized, plus O(log n) for an item with a
 * deadline; `drain` is O(n).
 *
 * **Order.** `dequeue()` takes:
 * 1. the oldest `critical` item, if any;
 * 2. else the oldest *due* item, whatever its priority;
 * 3. else the oldest item of the highest priority that has one.
 *
 * **Starvation bound (the exact rule).** A waiting item is *overtaken* each time an item
 * enqueued after it, of a higher priority other than `critical`, is dequeued. An item
 * overtaken `starvationLimit` times is *due*. Because due items go first, oldest first, no
 * item is ever overtaken more than `starvationLimit` times. With a limit of 0 the
 * non-critical priorities are served in plain FIFO order; with `Infinity`, strictly by
 * priority.
 *
 * It follows that no item is ever dequeued before an older item of the same or a higher
 * priority: such an item would have been overtaken at least as often and be due too, and
 * due items go oldest first. So a due item only ever jumps younger items or older items of
 * lower priority, and a `high` item is delayed by due items only when they are older.
 *
 * **Why `critical` is outside the bound.** Critical items are always dequeued first and
 * their dequeues do not count as overtakes. Counting them would make the two promises
 * contradict: after 1 000 `background` items are enqueued and 16 critical ones go past,
 * all 1 000 are due at once, and the next critical item would have to wait behind every
 * one of them. The price is that a sustained stream of critical items delays everything
 * else without bound, so keep `critical` for rare work whose lateness is itself a failure,
 * and use `high` for work that is merely important.
 *
 * **Leaving.** An item leaves exactly once: by `dequeue()` (after which the queue no longer
 * watches its signal or deadline: the ticket carries both for the scheduler), or by
 * cancellation (abort, deadline, `remove()`, `drain()`), which calls its `onCancel` once.
 * One timer is armed for the earliest deadline, whatever the number of items.
 *
 * @example
 * const queue = new JobQueue<Job>({ name: 'execute', maxQueue: 1000 });
 * const result = new Promise((resolve, reject) => {
 *   queue.enqueue({ job, resolve, reject }, { priority: 'high', signal, onCancel: reject });
 * });
 * // when a worker becomes idle:
 * const ticket = queue.dequeue();
 */
export class JobQueue<T> {
  readonly name: string;
  readonly maxQueue: number;
  readonly starvationLimit: number;
  readonly #clock: Clock;
  readonly #levels: Level<T>[] = PRIORITIES.map((_, level) => new Level<T>(level));
  readonly #deadlines = new DeadlineHeap<T>();
  #size = 0;
  #lastId = 0;
  /**
   * One abort listener per signal, not per item: a signal shared by many jobs (one per
   * request, say) would otherwise collect thousands of listeners, and EventTarget removes
   * a listener in time linear in their number.
   */
  readonly #watched = new Map<AbortSignal, { entries: Set<Entry<T>>; onAbort: () => void }>();
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;

  constructor(options: JobQueueOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalid('options', 'an object', options);
    if (options.name !== undefined && typeof options.name !== 'string') throw invalid('name', 'a string', options.name);
    const clock = options.clock ?? systemClock;
    if (typeof clock.now !== 'function' || typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function') {
      throw invalid('clock', 'an object with now, setTimeout and clearTimeout', clock);
    }
    this.name = options.name ?? 'job';
    this.maxQueue = limitOption('maxQueue', options.maxQueue, Infinity, 1);
    this.starvationLimit = limitOption('starvationLimit', options.starvationLimit, DEFAULT_STARVATION_LIMIT, 0);
    this.#clock = clock;
  }

  /** How many items wait. */
  get size(): number {
    return this.#size;
  }

  /** How many items wait at each priority. */
  sizes(): Record<Priority, number> {
    const [critical, high, normal, background] = this.#levels.map((level) => level.length);
    return { critical: critical!, high: high!, normal: normal!, background: background! };
  }

  /**
   * Adds an item. Throws synchronously, and never calls `onCancel`, when it refuses:
   * `E_INVALID_OPTION` for bad options, `E_ABORTED` if `signal` is already aborted,
   * `E_DEADLINE` if `deadline` has already passed, `E_QUEUE_FULL` at `maxQueue`.
   * Nothing is ever dropped silently.
   */
  enqueue(item: T, options: EnqueueOptions<T> = {}): QueueTicket<T> {
    const { priority = 'normal', signal, deadline, onCancel } = options;
    const level = PRIORITIES.indexOf(priority);
    if (level < 0) throw invalid('priority', `one of ${PRIORITIES.join(', ')}`, priority);
    if (signal !== undefined && !isAbortSignal(signal)) throw invalid('signal', 'an AbortSignal', signal);
    if (deadline !== undefined && (typeof deadline !== 'number' || Number.isNaN(deadline))) {
      throw invalid('deadline', 'a number (epoch ms)', deadline);
    }
    if (onCancel !== undefined && typeof onCancel !== 'function') throw invalid('onCancel', 'a function', onCancel);

    const details = { queue: this.name, priority };
    if (signal?.aborted) {
      throw new AbortedError(`${this.name} request aborted before it was queued`, { cause: signal.reason, details });
    }
    const now = this.#clock.now();
    if (deadline !== undefined && deadline <= now) {
      throw new DeadlineError(`${this.name} request reached its deadline before it was queued`, {
        details: { ...details, deadline, now },
      });
    }
    if (this.#size >= this.maxQueue) {
      throw new QueueFullError(`${this.name} queue is full (maxQueue ${this.maxQueue})`, {
        details: { ...details, maxQueue: this.maxQueue },
      });
    }

    const watchedDeadline = deadline === Infinity ? undefined : deadline;
    const entry = new Entry<T>(this, ++this.#lastId, item, level, now, watchedDeadline, signal, onCancel);
    this.#levels[level]!.append(entry);
    this.#size++;
    if (signal) this.#watchSignal(entry, signal);
    if (watchedDeadline !== undefined) {
      this.#deadlines.push(entry);
      this.#armTimer();
    }
    return entry;
  }

  /** The ticket `dequeue()` would return now, without removing it. */
  peek(): QueueTicket<T> | undefined {
    return this.#next();
  }

  /** Removes and returns the next item (see the order above), or `undefined` when empty. */
  dequeue(): QueueTicket<T> | undefined {
    const entry = this.#next();
    if (!entry) return undefined;
    this.#detach(entry);
    this.#recordOvertakes(entry);
    return entry;
  }

  /**
   * Puts a dequeued item back at its place in enqueue order (a pipelined job its worker never
   * started), watching its signal and deadline again. Not bounded by `maxQueue`: the item was
   * admitted already. Throws, as `enqueue` does and without calling `onCancel`, `E_ABORTED` or
   * `E_DEADLINE` when it is too late for it.
   */
  restore(ticket: QueueTicket<T>): void {
    if (!(ticket instanceof Entry) || ticket.owner !== this || ticket.waiting) throw new Error(`${this.name} queue: restore() takes a ticket dequeued from it`);
    const entry = ticket as Entry<T>;
    const details = { queue: this.name, priority: entry.priority };
    if (entry.signal?.aborted) throw new AbortedError(`${this.name} request aborted before it was queued again`, { cause: entry.signal.reason, details });
    const now = this.#clock.now();
    if (entry.deadline !== undefined && entry.deadline <= now) {
      throw new DeadlineError(`${this.name} request reached its deadline before it was queued again`, { details: { ...details, deadline: entry.deadline, now } });
    }
    entry.waiting = true;
    this.#levels[entry.level]!.insertInOrder(entry);
    this.#size++;
    if (entry.signal) this.#watchSignal(entry, entry.signal);
    if (entry.deadline !== undefined) {
      this.#deadlines.push(entry);
      this.#armTimer();
    }
  }

  /** Whether the ticket is still waiting in this queue. */
  has(ticket: QueueTicket<T>): boolean {
    return ticket instanceof Entry && ticket.owner === this && ticket.waiting;
  }

  /**
   * Moves a waiting item up to `priority` (never down), keeping its place in enqueue order
   * there: a request that joins a waiting job with a higher priority must not wait at the
   * lower one. Returns false when the ticket is not waiting or the priority is not higher.
   * The promoted item's overtake count restarts from the new level's head (it is served
   * sooner anyway).
   */
  raisePriority(ticket: QueueTicket<T>, priority: Priority): boolean {
    const level = PRIORITIES.indexOf(priority);
    if (level < 0) throw invalid('priority', `one of ${PRIORITIES.join(', ')}`, priority);
    if (!this.has(ticket)) return false;
    const entry = ticket as Entry<T>;
    if (level >= entry.level) return false;
    this.#levels[entry.level]!.unlink(entry);
    entry.level = level;
    this.#levels[level]!.insertInOrder(entry);
    return true;
  }

  /**
   * Cancels a waiting item with `error` (its `onCancel` is called). Returns false, doing
   * nothing, when the ticket is not waiting here (already dequeued or cancelled): idempotent.
   */
  remove(ticket: QueueTicket<T>, error: WardenError): boolean {
    if (!this.has(ticket)) return false;
    this.#cancel([ticket as Entry<T>], () => error);
    return true;
  }

  /**
   * Cancels every waiting item with `error`, highest priority first, FIFO within one
   * (used by close, with `E_HOST_CLOSED`). Items enqueued by an `onCancel` callback stay.
   * Returns how many were cancelled.
   */
  drain(error: WardenError): number {
    const entries: Entry<T>[] = [];
    for (const level of this.#levels) {
      for (let entry = level.head; entry; entry = entry.next) entries.push(entry);
    }
    // Detach in bulk: relinking each entry one by one would be wasted work.
    for (const entry of entries) {
      entry.waiting = false;
      entry.prev = entry.next = undefined;
      this.#unwatchSignal(entry);
    }
    for (const level of this.#levels) level.clear();
    this.#deadlines.clear();
    this.#size = 0;
    this.#armTimer();
    this.#notify(entries, () => error);
    return entries.length;
  }

  #next(): Entry<T> | undefined {
    const levels = this.#levels;
    const critical = levels[CRITICAL]!.head;
    if (critical) return critical;
    let due: Entry<T> | undefined;
    if (this.starvationLimit !== Infinity) {
      for (let index = CRITICAL + 1; index < levels.length; index++) {
        const level = levels[index]!;
        const head = level.head;
        if (head && level.headOvertakes >= this.starvationLimit && (!due || head.id < due.id)) due = head;
      }
    }
    if (due) return due;
    for (let index = CRITICAL + 1; index < levels.length; index++) {
      const head = levels[index]!.head;
      if (head) return head;
    }
    return undefined;
  }

  /**
   * Counts `entry`'s dequeue against the waiting items it overtook. Only the head of each
   * lower level is recorded: its overtakers are the oldest set, and later heads inherit the
   * part of it that is younger than them (see `Level.unlink`).
   */
  #recordOvertakes(entry: Entry<T>): void {
    if (entry.level === CRITICAL || this.starvationLimit === Infinity) return;
    for (let index = entry.level + 1; index < this.#levels.length; index++) {
      const level = this.#levels[index]!;
      if (level.head && level.head.id < entry.id) level.overtakers[entry.level]!.push(entry.id);
    }
  }

  #detach(entry: Entry<T>): void {
    entry.waiting = false;
    this.#levels[entry.level]!.unlink(entry);
    this.#size--;
    this.#unwatchSignal(entry);
    if (entry.heapIndex >= 0) {
      this.#deadlines.remove(entry);
      // The timer is left armed when later deadlines remain: it fires early at worst and re-arms.
      if (this.#deadlines.size === 0) this.#armTimer();
    }
  }

  #watchSignal(entry: Entry<T>, signal: AbortSignal): void {
    let watch = this.#watched.get(signal);
    if (!watch) {
      const entries = new Set<Entry<T>>();
      const onAbort = (): void => {
        // Set order is enqueue order, so waiters are told oldest first.
        this.#cancel([...entries], (cancelled) => {
          return new AbortedError(`${this.name} request aborted while queued`, {
            cause: signal.reason,
            details: { queue: this.name, priority: cancelled.priority },
          });
        });
      };
      watch = { entries, onAbort };
      this.#watched.set(signal, watch);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    watch.entries.add(entry);
  }

  #unwatchSignal(entry: Entry<T>): void {
    const signal = entry.signal;
    if (!signal) return;
    const watch = this.#watched.get(signal);
    if (!watch?.entries.delete(entry) || watch.entries.size > 0) return;
    this.#watched.delete(signal);
    signal.removeEventListener('abort', watch.onAbort);
  }

  #cancel(entries: Entry<T>[], errorFor: (entry: Entry<T>) => WardenError): void {
    for (const entry of entries) this.#detach(entry);
    this.#notify(entries, errorFor);
  }

  /**
   * Calls each `onCancel` after the queue is consistent. One that throws does not keep the
   * others from being called (each must be called exactly once); the first error is rethrown.
   */
  #notify(entries: Entry<T>[], errorFor: (entry: Entry<T>) => WardenError): void {
    let failure: { error: unknown } | undefined;
    for (const entry of entries) {
      if (!entry.onCancel) continue;
      try {
        entry.onCancel(errorFor(entry), entry);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }

  /** Keeps one timer armed no later than the earliest deadline, and none without deadlines. */
  #armTimer(): void {
    const earliest = this.#deadlines.peek();
    if (earliest && this.#timer !== undefined && this.#timerAt <= earliest.deadline!) return;
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
    }
    if (!earliest) return;
    const now = this.#clock.now();
    // Clamped: Node fires longer delays after 1 ms. A clamped timer fires early and re-arms.
    const delay = Math.min(Math.max(earliest.deadline! - now, 0), MAX_TIMER_DELAY_MS);
    this.#timerAt = now + delay;
    this.#timer = this.#clock.setTimeout(() => this.#expire(), delay);
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    const expired: Entry<T>[] = [];
    for (let entry = this.#deadlines.peek(); entry && entry.deadline! <= now; entry = this.#deadlines.peek()) {
      this.#detach(entry);
      expired.push(entry);
    }
    this.#armTimer();
    this.#notify(expired, (entry) => {
      return new DeadlineError(`${this.name} request reached its deadline while queued`, {
        details: { queue: this.name, priority: entry.priority, deadline: entry.deadline, waitedMs: now - entry.enqueuedAt },
      });
    });
  }
}
