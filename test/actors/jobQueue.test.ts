import test from 'ava';
import fc from 'fast-check';
import { getEventListeners } from 'node:events';
import { SimulatedClock, MAX_TIMER_DELAY_MS } from '../../src/actors/clock.js';
import { JobQueue, PRIORITIES, type Priority, type QueueTicket } from '../../src/actors/jobQueue.js';
import { AbortedError, DeadlineError, HostClosedError, QueueFullError, type WardenError } from '../../src/errors.js';

/** Dequeues everything, returning the items in order. */
function drainOrder<T>(queue: JobQueue<T>): T[] {
  const items: T[] = [];
  for (let ticket = queue.dequeue(); ticket; ticket = queue.dequeue()) items.push(ticket.item);
  return items;
}

function listeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

test('items of one priority leave in FIFO order', (t) => {
  const queue = new JobQueue<number>();
  for (let i = 0; i < 1000; i++) queue.enqueue(i, { priority: 'normal' });
  t.deepEqual(drainOrder(queue), Array.from({ length: 1000 }, (_, i) => i));
});

test('higher priorities leave first; ticket fields and sizes are reported', (t) => {
  const clock = new SimulatedClock(5_000);
  const queue = new JobQueue<string>({ clock, starvationLimit: Infinity });
  queue.enqueue('b1', { priority: 'background' });
  queue.enqueue('n1');
  const h1 = queue.enqueue('h1', { priority: 'high', deadline: 9_000 });
  queue.enqueue('c1', { priority: 'critical' });
  queue.enqueue('n2', { priority: 'normal' });
  queue.enqueue('c2', { priority: 'critical' });
  t.like(h1, { item: 'h1', priority: 'high', enqueuedAt: 5_000, deadline: 9_000, signal: undefined });
  t.deepEqual(queue.sizes(), { critical: 2, high: 1, normal: 2, background: 1 });
  t.is(queue.size, 6);
  t.is(queue.peek()?.item, 'c1');
  t.is(queue.size, 6, 'peek does not remove');
  t.deepEqual(drainOrder(queue), ['c1', 'c2', 'h1', 'n1', 'n2', 'b1']);
  t.deepEqual(PRIORITIES, ['critical', 'high', 'normal', 'background']);
});

test('starvation bound: an item overtaken starvationLimit times is served next, oldest due first', (t) => {
  const queue = new JobQueue<string>({ starvationLimit: 2 });
  queue.enqueue('b1', { priority: 'background' });
  queue.enqueue('n1', { priority: 'normal' });
  for (const name of ['h1', 'h2', 'h3', 'h4', 'h5']) queue.enqueue(name, { priority: 'high' });
  // h1 and h2 overtake b1 and n1 twice: both are due; b1 is older, so it goes first even
  // though n1 has the higher priority.
  t.deepEqual(drainOrder(queue), ['h1', 'h2', 'b1', 'n1', 'h3', 'h4', 'h5']);
});

test('starvation bound: exact interleaved sequence, and only later-enqueued items overtake', (t) => {
  const queue = new JobQueue<string>({ starvationLimit: 1 });
  const order: string[] = [];
  const take = (): void => {
    order.push(queue.dequeue()!.item);
  };
  queue.enqueue('h0', { priority: 'high' });
  queue.enqueue('b1', { priority: 'background' });
  take(); // h0 is older than b1: passing it is not an overtake
  queue.enqueue('h1', { priority: 'high' });
  queue.enqueue('h2', { priority: 'high' });
  take(); // h1 overtakes b1 once: b1 is due
  queue.enqueue('n1', { priority: 'normal' });
  take(); // b1, due, before h2 and n1
  take(); // h2 was enqueued before n1: passing it is not an overtake
  queue.enqueue('h3', { priority: 'high' });
  queue.enqueue('h4', { priority: 'high' });
  take(); // h3 overtakes n1: n1 is due
  take(); // n1, before h4
  take(); // h4
  t.deepEqual(order, ['h0', 'h1', 'b1', 'h2', 'h3', 'n1', 'h4']);
});

test('starvation bound: the next item in line inherits only the overtakes younger than itself', (t) => {
  const queue = new JobQueue<string>({ starvationLimit: 1 });
  queue.enqueue('b1', { priority: 'background' });
  queue.enqueue('h1', { priority: 'high' });
  queue.enqueue('b2', { priority: 'background' });
  queue.enqueue('n1', { priority: 'normal' });
  // h1 overtakes b1 (due, served next) but not b2, which is younger than h1: n1 goes first.
  t.deepEqual(drainOrder(queue), ['h1', 'b1', 'n1', 'b2']);
});

test('critical items go before due items and do not count as overtakes', (t) => {
  const queue = new JobQueue<string>({ starvationLimit: 1 });
  queue.enqueue('b1', { priority: 'background' });
  for (const name of ['c1', 'c2', 'c3']) queue.enqueue(name, { priority: 'critical' });
  queue.enqueue('h1', { priority: 'high' });
  queue.enqueue('h2', { priority: 'high' });
  t.is(queue.dequeue()?.item, 'c1');
  t.is(queue.dequeue()?.item, 'c2');
  t.is(queue.dequeue()?.item, 'c3');
  t.is(queue.dequeue()?.item, 'h1', 'three critical dequeues did not make b1 due');
  queue.enqueue('c4', { priority: 'critical' });
  t.is(queue.peek()?.item, 'c4', 'h1 made b1 due, but critical still goes first');
  t.deepEqual(drainOrder(queue), ['c4', 'b1', 'h2']);
});

test('starvationLimit 0 serves non-critical items in FIFO order', (t) => {
  const queue = new JobQueue<string>({ starvationLimit: 0 });
  queue.enqueue('b1', { priority: 'background' });
  queue.enqueue('n1', { priority: 'normal' });
  queue.enqueue('h1', { priority: 'high' });
  queue.enqueue('c1', { priority: 'critical' });
  t.deepEqual(drainOrder(queue), ['c1', 'b1', 'n1', 'h1']);
});

test('a sustained high stream serves one background item per starvationLimit high items', (t) => {
  const limit = 16;
  const queue = new JobQueue<string>({ starvationLimit: limit });
  for (let i = 0; i < 3; i++) queue.enqueue(`b${i}`, { priority: 'background' });
  const order: string[] = [];
  for (let i = 0; i < 100; i++) {
    queue.enqueue(`h${i}`, { priority: 'high' });
    order.push(queue.dequeue()!.item);
  }
  // All three backgrounds were overtaken by the same 16 high items, so they became due together.
  t.deepEqual(order.slice(limit, limit + 3), ['b0', 'b1', 'b2']);
  t.true(order.slice(0, limit).every((name) => name.startsWith('h')));
});

test('maxQueue: enqueue past it throws E_QUEUE_FULL synchronously and drops nothing', (t) => {
  const queue = new JobQueue<number>({ name: 'prepare', maxQueue: 2 });
  let cancelled = 0;
  queue.enqueue(1, { onCancel: () => cancelled++ });
  queue.enqueue(2, { onCancel: () => cancelled++ });
  const error = t.throws(() => queue.enqueue(3, { priority: 'critical', onCancel: () => cancelled++ }), {
    instanceOf: QueueFullError,
  });
  t.is(error?.code, 'E_QUEUE_FULL');
  t.regex(error!.message, /prepare queue is full/);
  t.like(error?.details, { queue: 'prepare', maxQueue: 2 });
  t.is(cancelled, 0);
  t.is(queue.size, 2);
  t.is(queue.dequeue()?.item, 1);
  queue.enqueue(3);
  t.deepEqual(drainOrder(queue), [2, 3]);
});

test('an already-aborted signal is refused at enqueue with E_ABORTED', (t) => {
  const queue = new JobQueue<number>();
  const reason = new Error('user gave up');
  const signal = AbortSignal.abort(reason);
  let cancelled = 0;
  const error = t.throws(() => queue.enqueue(1, { signal, onCancel: () => cancelled++ }), { instanceOf: AbortedError });
  t.is(error?.code, 'E_ABORTED');
  t.is(error?.cause, reason);
  t.is(queue.size, 0);
  t.is(cancelled, 0);
  t.is(listeners(signal), 0);
});

test('an abort while waiting removes the item once with E_ABORTED and its listener', (t) => {
  const queue = new JobQueue<string>();
  const controller = new AbortController();
  const calls: Array<[WardenError, QueueTicket<string>]> = [];
  const ticket = queue.enqueue('a', { signal: controller.signal, onCancel: (error, which) => calls.push([error, which]) });
  const other = new AbortController();
  queue.enqueue('b', { signal: other.signal });
  t.is(listeners(controller.signal), 1);
  t.true(queue.has(ticket));
  controller.abort(new Error('stop'));
  t.is(calls.length, 1);
  const [error, which] = calls[0]!;
  t.true(error instanceof AbortedError);
  t.is(error.code, 'E_ABORTED');
  t.is((error.cause as Error).message, 'stop');
  t.is(which, ticket);
  t.is(queue.size, 1);
  t.false(queue.has(ticket));
  t.is(listeners(controller.signal), 0);
  t.is(listeners(other.signal), 1);
  t.false(queue.remove(ticket, new HostClosedError('late')), 'remove after cancel is a no-op');
  t.is(calls.length, 1);
});

test('a signal shared by several items cancels every waiting one, oldest first', (t) => {
  const queue = new JobQueue<string>();
  const controller = new AbortController();
  const cancelled: string[] = [];
  const onCancel = (error: WardenError, ticket: QueueTicket<string>): void => {
    cancelled.push(`${ticket.item}:${error.code}`);
  };
  queue.enqueue('a', { signal: controller.signal, onCancel, priority: 'background' });
  const b = queue.enqueue('b', { signal: controller.signal, onCancel });
  queue.enqueue('c', { signal: controller.signal, onCancel, priority: 'high' });
  queue.enqueue('d', { onCancel });
  t.is(queue.dequeue()?.item, 'c');
  queue.remove(b, new HostClosedError('x'));
  t.is(listeners(controller.signal), 1);
  controller.abort();
  t.deepEqual(cancelled, ['b:E_HOST_CLOSED', 'a:E_ABORTED']);
  t.deepEqual(drainOrder(queue), ['d']);
  t.is(listeners(controller.signal), 0);
});

test('after dequeue the queue no longer watches the signal', (t) => {
  const queue = new JobQueue<string>();
  const controller = new AbortController();
  let cancelled = 0;
  const ticket = queue.enqueue('a', { signal: controller.signal, onCancel: () => cancelled++ });
  t.is(queue.dequeue(), ticket);
  t.is(ticket.signal, controller.signal, 'the scheduler gets the signal to watch');
  t.is(listeners(controller.signal), 0);
  controller.abort();
  t.is(cancelled, 0);
  t.false(queue.remove(ticket, new AbortedError('x')));
});

test('deadlines expire waiting items with E_DEADLINE, using one timer', (t) => {
  const clock = new SimulatedClock(1_000);
  const queue = new JobQueue<string>({ clock, name: 'execute' });
  const expired: Array<[string, WardenError]> = [];
  const onCancel = (error: WardenError, ticket: QueueTicket<string>): void => {
    expired.push([ticket.item, error]);
  };
  queue.enqueue('late', { deadline: 1_300, onCancel });
  queue.enqueue('early', { deadline: 1_100, onCancel });
  queue.enqueue('none', { onCancel });
  const taken = queue.enqueue('taken', { deadline: 1_050, priority: 'critical', onCancel });
  queue.enqueue('mid', { deadline: 1_200, onCancel });
  t.is(clock.pendingTimers, 1);
  t.is(queue.dequeue(), taken);
  clock.advance(99);
  t.deepEqual(expired, [], 'the dequeued item with the earliest deadline does not expire');
  clock.advance(1);
  t.deepEqual(
    expired.map(([item]) => item),
    ['early'],
  );
  const [, error] = expired[0]!;
  t.true(error instanceof DeadlineError);
  t.is(error.code, 'E_DEADLINE');
  t.like(error.details, { queue: 'execute', deadline: 1_100, waitedMs: 100 });
  clock.advance(1_000);
  t.deepEqual(
    expired.map(([item]) => item),
    ['early', 'mid', 'late'],
  );
  t.is(queue.size, 1);
  t.is(clock.pendingTimers, 0, 'no timer while no item has a deadline');
});

test('a deadline already passed is refused at enqueue; Infinity means none', (t) => {
  const clock = new SimulatedClock(1_000);
  const queue = new JobQueue<number>({ clock });
  t.throws(() => queue.enqueue(1, { deadline: 1_000 }), { instanceOf: DeadlineError });
  t.is(queue.size, 0);
  const ticket = queue.enqueue(2, { deadline: Infinity });
  t.is(ticket.deadline, undefined);
  t.is(clock.pendingTimers, 0);
});

test('an earlier deadline re-arms the single timer; a far one is clamped and re-armed', (t) => {
  const clock = new SimulatedClock(0);
  const queue = new JobQueue<string>({ clock });
  const expired: string[] = [];
  const far = 3 * MAX_TIMER_DELAY_MS;
  queue.enqueue('far', { deadline: far, onCancel: (_, ticket) => expired.push(ticket.item) });
  queue.enqueue('soon', { deadline: 10, onCancel: (_, ticket) => expired.push(ticket.item) });
  t.is(clock.pendingTimers, 1);
  clock.advance(10);
  t.deepEqual(expired, ['soon']);
  clock.advance(MAX_TIMER_DELAY_MS);
  t.deepEqual(expired, ['soon'], 'the clamped timer fired early and re-armed');
  t.is(clock.pendingTimers, 1);
  clock.advance(far);
  t.deepEqual(expired, ['soon', 'far']);
  t.is(clock.pendingTimers, 0);
});

test('drain cancels everything with the given error, in dequeue-priority order', (t) => {
  const clock = new SimulatedClock(0);
  const queue = new JobQueue<string>({ clock });
  const controller = new AbortController();
  const cancelled: Array<[string, WardenError]> = [];
  const onCancel = (error: WardenError, ticket: QueueTicket<string>): void => {
    cancelled.push([ticket.item, error]);
  };
  queue.enqueue('b', { priority: 'background', onCancel, signal: controller.signal });
  queue.enqueue('n', { onCancel, deadline: 100 });
  queue.enqueue('c', { priority: 'critical', onCancel });
  const closed = new HostClosedError('host closed');
  t.is(queue.drain(closed), 3);
  t.deepEqual(
    cancelled.map(([item]) => item),
    ['c', 'n', 'b'],
  );
  t.true(cancelled.every(([, error]) => error === closed && error.code === 'E_HOST_CLOSED'));
  t.is(queue.size, 0);
  t.deepEqual(queue.sizes(), { critical: 0, high: 0, normal: 0, background: 0 });
  t.is(listeners(controller.signal), 0);
  t.is(clock.pendingTimers, 0);
  clock.advance(1_000);
  controller.abort();
  t.is(cancelled.length, 3, 'nothing fires after drain');
  t.is(queue.drain(closed), 0, 'idempotent');
  queue.enqueue('after');
  t.is(queue.dequeue()?.item, 'after', 'the queue stays usable');
});

test('remove cancels one waiting item exactly once', (t) => {
  const queue = new JobQueue<string>();
  const errors: WardenError[] = [];
  queue.enqueue('a');
  const b = queue.enqueue('b', { onCancel: (error) => errors.push(error) });
  queue.enqueue('c');
  const error = new HostClosedError('gone');
  t.true(queue.remove(b, error));
  t.false(queue.remove(b, error));
  t.deepEqual(errors, [error]);
  t.deepEqual(drainOrder(queue), ['a', 'c']);
  const other = new JobQueue<string>();
  t.false(queue.remove(other.enqueue('y'), error), "another queue's ticket is not ours");
});

test('a throwing onCancel does not keep the other items from being cancelled', (t) => {
  const queue = new JobQueue<number>();
  const seen: number[] = [];
  queue.enqueue(1, {
    onCancel: () => {
      throw new Error('bug in caller');
    },
  });
  queue.enqueue(2, { onCancel: (_, ticket) => seen.push(ticket.item) });
  t.throws(() => queue.drain(new HostClosedError('closing')), { message: 'bug in caller' });
  t.deepEqual(seen, [2]);
  t.is(queue.size, 0);
});

test('onCancel may call back into the queue', (t) => {
  const clock = new SimulatedClock(0);
  const queue = new JobQueue<string>({ clock });
  queue.enqueue('x', { deadline: 5, onCancel: () => queue.enqueue('retry', { deadline: 50 }) });
  clock.advance(5);
  t.is(queue.size, 1);
  t.is(clock.pendingTimers, 1);
  t.is(queue.dequeue()?.item, 'retry');
  t.is(clock.pendingTimers, 0);
});

test('options are validated with E_INVALID_OPTION naming the option', (t) => {
  const bad: Array<[() => unknown, RegExp]> = [
    [() => new JobQueue({ maxQueue: 0 }), /`maxQueue`/],
    [() => new JobQueue({ maxQueue: 1.5 }), /`maxQueue`/],
    [() => new JobQueue({ starvationLimit: -1 }), /`starvationLimit`/],
    [() => new JobQueue({ starvationLimit: Number.NaN }), /`starvationLimit`/],
    [() => new JobQueue().enqueue(1, { priority: 'urgent' as Priority }), /`priority`/],
    [() => new JobQueue().enqueue(1, { deadline: Number.NaN }), /`deadline`/],
    [() => new JobQueue().enqueue(1, { signal: {} as AbortSignal }), /`signal`/],
  ];
  for (const [make, message] of bad) {
    const error = t.throws(make, { message });
    t.is((error as WardenError).code, 'E_INVALID_OPTION');
  }
  t.is(new JobQueue({ maxQueue: Infinity, starvationLimit: Infinity }).maxQueue, Infinity);
});

test('no listener or timer leaks over 100k items leaving every way', (t) => {
  const clock = new SimulatedClock(0);
  const queue = new JobQueue<number>({ clock });
  const shared = new AbortController();
  const count = 100_000;
  const tickets: Array<QueueTicket<number>> = [];
  let cancelled = 0;
  const onCancel = (): void => {
    cancelled++;
  };
  for (let i = 0; i < count; i++) {
    const priority = PRIORITIES[i % 4]!;
    tickets.push(queue.enqueue(i, { priority, signal: shared.signal, deadline: 1_000 + (i % 1000), onCancel }));
  }
  t.is(listeners(shared.signal), 1, 'one listener per signal, however many items share it');
  t.is(clock.pendingTimers, 1);
  let dequeued = 0;
  for (let i = 0; i < count / 4; i++) if (queue.dequeue()) dequeued++;
  for (let i = 0; i < count; i += 7) queue.remove(tickets[i]!, new AbortedError('x'));
  clock.advance(1_000 + 200); // expires a slice of the rest by deadline
  const expiredOrRemoved = cancelled;
  t.true(expiredOrRemoved > 0);
  queue.drain(new HostClosedError('closing'));
  t.is(dequeued + cancelled, count);
  t.is(queue.size, 0);
  t.is(listeners(shared.signal), 0);
  t.is(clock.pendingTimers, 0);
});

test('200k waiting items: removals and dequeues account for every item', (t) => {
  const queue = new JobQueue<number>({ starvationLimit: 8 });
  const tickets: Array<QueueTicket<number>> = [];
  for (let i = 0; i < 200_000; i++) tickets.push(queue.enqueue(i, { priority: PRIORITIES[(i * 7) % 4]! }));
  for (let i = 0; i < 200_000; i += 3) queue.remove(tickets[i]!, new AbortedError('x'));
  let left = 0;
  while (queue.dequeue()) left++;
  t.is(left, 200_000 - Math.ceil(200_000 / 3));
  t.is(queue.size, 0);
  // No timing assertion (shared machines): quadratic work (Array.shift, scans) would take
  // minutes here and hit the test timeout; speed is the benchmark's business.
});

/* ---------- property test against a naive model of the documented rule ---------- */

const SIGNAL_SLOTS = 3;

type Op =
  | { kind: 'enqueue'; priority: Priority; signalSlot: number | undefined; deadlineIn: number | undefined }
  | { kind: 'dequeue' }
  | { kind: 'abort'; slot: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'drain' };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('enqueue' as const),
      priority: fc.constantFrom(...PRIORITIES),
      // Items share a few signals, as jobs of one request would.
      signalSlot: fc.option(fc.integer({ min: 0, max: SIGNAL_SLOTS - 1 }), { nil: undefined }),
      deadlineIn: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
    }),
    weight: 80,
  },
  { arbitrary: fc.constant({ kind: 'dequeue' as const }), weight: 60 },
  { arbitrary: fc.record({ kind: fc.constant('abort' as const), slot: fc.integer({ min: 0, max: SIGNAL_SLOTS - 1 }) }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }), weight: 10 },
  { arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 60 }) }), weight: 20 },
  { arbitrary: fc.constant({ kind: 'drain' as const }), weight: 1 },
);

interface ModelItem {
  id: number;
  level: number;
  overtakes: number;
  deadline: number | undefined;
  signal: AbortSignal | undefined;
}

/** The documented rule, written the obvious O(n) way. */
function modelNext(waiting: ModelItem[], limit: number): ModelItem | undefined {
  const byAge = [...waiting].sort((a, b) => a.id - b.id);
  return (
    byAge.find((item) => item.level === 0) ??
    byAge.find((item) => item.overtakes >= limit) ??
    [...byAge].sort((a, b) => a.level - b.level)[0]
  );
}

test('property: every item leaves exactly once, the documented way, in the documented order, within the bound', (t) => {
  fc.assert(
    fc.property(
      fc.array(opArbitrary, { maxLength: 300, size: 'max' }),
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 1, max: 30 }),
      (ops, limit, maxQueue) => {
        const clock = new SimulatedClock(0);
        const queue = new JobQueue<number>({ clock, starvationLimit: limit, maxQueue });
        /** How each item left, as the queue reports it: 'dequeued' or the cancel error's code. */
        const actual = new Map<number, string[]>();
        /** How each item left, as the model predicts it. */
        const expected = new Map<number, string>();
        const leave = (id: number, how: string): void => {
          actual.set(id, [...(actual.get(id) ?? []), how]);
        };
        let waiting: ModelItem[] = [];
        const modelRemove = (gone: (item: ModelItem) => boolean, how: string): void => {
          for (const item of waiting) if (gone(item)) expected.set(item.id, how);
          waiting = waiting.filter((item) => !gone(item));
        };
        const tickets = new Map<number, QueueTicket<number>>();
        const controllers = Array.from({ length: SIGNAL_SLOTS }, () => new AbortController());
        const signals: AbortSignal[] = controllers.map((controller) => controller.signal);
        let enqueued = 0;

        for (const op of ops) {
          switch (op.kind) {
            case 'enqueue': {
              const signal = op.signalSlot === undefined ? undefined : controllers[op.signalSlot]!.signal;
              const deadline = op.deadlineIn === undefined ? undefined : clock.now() + op.deadlineIn;
              const id = enqueued + 1;
              if (waiting.length >= maxQueue) {
                try {
                  queue.enqueue(id, { priority: op.priority });
                } catch (error) {
                  if (error instanceof QueueFullError) break;
                  throw error;
                }
                throw new Error('enqueue past maxQueue was accepted');
              }
              const ticket = queue.enqueue(id, {
                priority: op.priority,
                signal,
                deadline,
                onCancel: (error, which) => leave(which.item, error.code),
              });
              enqueued++;
              if (ticket.id !== id || ticket.item !== id) throw new Error('ids out of step with the model');
              tickets.set(id, ticket);
              waiting.push({ id, level: PRIORITIES.indexOf(op.priority), overtakes: 0, deadline, signal });
              break;
            }
            case 'dequeue': {
              const next = modelNext(waiting, limit);
              const ticket = queue.dequeue();
              if (ticket?.item !== next?.id) throw new Error(`dequeued ${ticket?.item} where the model takes ${next?.id}`);
              if (!next || !ticket) break;
              leave(ticket.item, 'dequeued');
              modelRemove((item) => item === next, 'dequeued');
              for (const item of waiting) {
                // No item goes before an older one of the same or higher priority.
                if (item.id < next.id && item.level <= next.level) throw new Error(`${next.id} jumped ${item.id}`);
                if (next.level > 0 && item.level > next.level && item.id < next.id) item.overtakes++;
                if (item.overtakes > limit) throw new Error(`item ${item.id} overtaken ${item.overtakes} times`);
              }
              break;
            }
            case 'abort': {
              const controller = controllers[op.slot]!;
              controller.abort();
              modelRemove((item) => item.signal === controller.signal, 'E_ABORTED');
              controllers[op.slot] = new AbortController();
              signals.push(controllers[op.slot]!.signal);
              break;
            }
            case 'remove': {
              const victim = waiting[op.pick % Math.max(waiting.length, 1)];
              if (!victim) break;
              if (!queue.remove(tickets.get(victim.id)!, new HostClosedError('removed'))) throw new Error('remove refused');
              modelRemove((item) => item === victim, 'E_HOST_CLOSED');
              break;
            }
            case 'advance': {
              clock.advance(op.ms);
              modelRemove((item) => item.deadline !== undefined && item.deadline <= clock.now(), 'E_DEADLINE');
              break;
            }
            case 'drain': {
              const count = waiting.length;
              if (queue.drain(new HostClosedError('closing')) !== count) throw new Error('drain count');
              modelRemove(() => true, 'E_HOST_CLOSED');
              break;
            }
          }
          if (queue.size !== waiting.length) throw new Error(`size ${queue.size}, model ${waiting.length}`);
        }

        queue.drain(new HostClosedError('closing'));
        modelRemove(() => true, 'E_HOST_CLOSED');
        if (actual.size !== enqueued || expected.size !== enqueued) throw new Error(`${actual.size} of ${enqueued} items left`);
        for (const [id, hows] of actual) {
          if (hows.length !== 1) throw new Error(`item ${id} left ${hows.length} times: ${hows.join(', ')}`);
          if (hows[0] !== expected.get(id)) throw new Error(`item ${id} left by ${hows[0]}, model says ${expected.get(id)}`);
        }
        if (signals.some((signal) => listeners(signal) !== 0)) throw new Error('listener leak');
        if (clock.pendingTimers !== 0) throw new Error('timer leak');
      },
    ),
    { numRuns: 500, seed: 0x51ed },
  );
  t.pass();
});

test('raisePriority moves a waiting item up, in enqueue order among its new peers, never down', (t) => {
  const queue = new JobQueue<string>({ starvationLimit: Infinity });
  const old = queue.enqueue('old-background', { priority: 'background' });
  queue.enqueue('high-1', { priority: 'high' });
  queue.enqueue('normal', { priority: 'normal' });
  queue.enqueue('high-2', { priority: 'high' });
  t.false(queue.raisePriority(old, 'background'));
  t.true(queue.raisePriority(old, 'high'));
  t.is(old.priority, 'high');
  t.deepEqual(queue.sizes(), { critical: 0, high: 3, normal: 1, background: 0 });
  const order: string[] = [];
  for (let ticket = queue.dequeue(); ticket; ticket = queue.dequeue()) order.push(ticket.item);
  // Enqueued first, so first among the high ones.
  t.deepEqual(order, ['old-background', 'high-1', 'high-2', 'normal']);
  t.false(queue.raisePriority(old, 'critical'), 'no longer waiting');
  t.throws(() => queue.raisePriority(old, 'urgent' as Priority), { code: 'E_INVALID_OPTION' });
});
