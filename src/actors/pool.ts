import crypto from 'node:crypto';
import { createActor, type Actor, type StateValue } from 'xstate';
import createDebug from 'debug';
import { provideSupervisorActions, type SupervisorMachineInput, type WorkerMachineOutput } from '../machines/index.js';
import type { WorkerKind } from '../protocol/messages.js';
import type { XStateInspector } from '../options.js';
import { AbortedError, DeadlineError, HostClosedError, PoolDegradedError, type WardenError } from '../errors.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { DEFAULT_IDLE_CPU_POLICY, IdleCpuWatch, type IdleCpuPolicy, type IdleWorkerSample } from './idleCpu.js';
import { JobQueue, PRIORITIES, type Priority, type QueueTicket } from './jobQueue.js';
import { atDeadline } from './timers.js';
import type { PoolJob, Primer } from './poolJob.js';
import { PoolWorker } from './poolWorker.js';
import { SpareBudget } from './spareBudget.js';
import type { WorkerHandle } from './workerHandle.js';

const debug = createDebug('warden:pool');

const noop = (): void => {};

export interface PoolEvents {
  workerSpawned(worker: PoolWorker): void;
  workerState(worker: PoolWorker, value: StateValue): void;
  workerExited(worker: PoolWorker, output: WorkerMachineOutput): void;
  degraded(kind: WorkerKind, recentFailures: number, lastFailure: string | undefined): void;
  recovered(kind: WorkerKind): void;
}

export interface PoolOptions {
  kind: WorkerKind;
  size: number;
  maxQueue: number;
  starvationLimit?: number;
  supervisor: Omit<SupervisorMachineInput, 'kind' | 'size'>;
  /**
   * Memory the pool's workers may hold while idle, bytes (Infinity: no budget): the pool keeps
   * at most floor(budget / measured RSS of a worker) of them, and never fewer than one.
   */
  spareMemoryBytes?: number;
  /** Spawns one sandboxed worker process (handshake done). */
  spawn(kind: WorkerKind, id: string): Promise<WorkerHandle>;
  events: PoolEvents;
  /** The host's XState inspector, for the supervisor and every worker actor. */
  inspect?: XStateInspector | undefined;
  /**
   * Time for every timer of the pool: running jobs' deadlines, the idle CPU check, and the
   * worker and supervisor machines' delays (hard timeouts, backoff). Default: the system clock.
   */
  clock?: Clock;
  /** When an idle worker is using too much CPU. Default {@link DEFAULT_IDLE_CPU_POLICY}. */
  idleCpu?: IdleCpuPolicy;
  /** @internal tests: reads a process's CPU time in ms. Default: `/proc/<pid>/stat`. */
  readCpuMs?: (pid: number) => number | undefined;
}

/** How many of the latest jobs decide whether priming pays (`Pool.#primingPays`). */
const PRIME_WINDOW = 8;

/**
 * One pool (prepare or execute): the queue in front, the supervisor keeping the pool at
 * its size, and the workers, each a machine. Jobs go to idle workers, oldest-first within
 * the queue's priority rule.
 */
export class Pool {
  readonly kind: WorkerKind;
  readonly queue: JobQueue<PoolJob>;
  readonly workers = new Map<string, PoolWorker>();
  readonly supervisor: Actor<ReturnType<typeof provideSupervisorActions>>;
  #idle = new Set<PoolWorker>();
  /** Tickets of waiting jobs (weak: a job that left the queue needs no entry). */
  #tickets = new WeakMap<PoolJob, QueueTicket<PoolJob>>();
  #running = new Map<PoolJob, { worker: PoolWorker; cleanup: () => void }>();
  #options: PoolOptions;
  #degraded: string | undefined;
  #stopped = false;
  #drained: (() => void)[] = [];
  /** Retiring one-job processes the supervisor already replaces: their exit is not reported again. */
  #replaced = new WeakSet<PoolWorker>();
  #budget: SpareBudget;
  /** The size the supervisor keeps the pool at: `size`, or less under the spares' memory budget. */
  #size: number;
  #clock: Clock;
  #idleCpu: IdleCpuWatch<PoolWorker>;
  /** Armed while a worker that has run a job is idle: one timer per pool, nothing per job. */
  #idleCpuTimer: TimerHandle | undefined;
  /** What its fresh spares are primed with: from the latest job that has one (execute). */
  #primer: Primer | undefined;
  #primeScheduled = false;
  /** The latest jobs' artifacts, most recent first, distinct, at most one per worker: what the spares would hold. */
  #recentArtifacts: string[] = [];
  /** For each of the latest jobs with a primer: whether its artifact was among `#recentArtifacts` (a spare would have held it). */
  #primeHits: boolean[] = [];

  constructor(options: PoolOptions) {
    this.#options = options;
    this.kind = options.kind;
    this.#clock = options.clock ?? systemClock;
    this.#idleCpu = new IdleCpuWatch(options.idleCpu ?? DEFAULT_IDLE_CPU_POLICY, () => this.#clock.now(), options.readCpuMs);
    this.queue = new JobQueue<PoolJob>({
      name: options.kind,
      maxQueue: options.maxQueue,
      clock: this.#clock,
      ...(options.starvationLimit === undefined ? {} : { starvationLimit: options.starvationLimit }),
    });
    const machine = provideSupervisorActions({
      spawnWorker: () => this.#spawn(),
      retireWorkers: ({ count }) => this.#retire(count),
      poolDegraded: ({ recentFailures, lastFailure }) => {
        this.#degraded = lastFailure ?? 'workers keep dying';
        options.events.degraded(this.kind, recentFailures, lastFailure);
        // Nothing will run them until the pool recovers: fail what waits instead of hanging.
        this.queue.drain(this.#degradedError());
        this.#checkDrained();
      },
      poolRecovered: () => {
        this.#degraded = undefined;
        options.events.recovered(this.kind);
      },
    });
    this.#budget = new SpareBudget(options.spareMemoryBytes ?? Infinity, options.size);
    this.#size = this.#budget.workers;
    this.supervisor = createActor(machine, {
      input: { ...options.supervisor, kind: options.kind, size: this.#size },
      inspect: options.inspect,
      clock: this.#clock,
    });
    this.supervisor.start();
  }

  /** Jobs waiting or running. */
  get load(): number {
    return this.queue.size + this.#running.size;
  }

  get degraded(): boolean {
    return this.#degraded !== undefined;
  }

  /** Raises a waiting job's priority (a higher-priority caller joined it). */
  raisePriority(job: PoolJob, priority: Priority): boolean {
    const ticket = this.#tickets.get(job);
    return ticket !== undefined && this.queue.raisePriority(ticket, priority);
  }

  /** Queues a job (throws E_QUEUE_FULL, E_ABORTED, E_DEADLINE, E_POOL_DEGRADED synchronously). */
  submit(job: PoolJob, onQueued?: () => void): void {
    if (this.#stopped) throw new HostClosedError('the host is closed');
    if (this.#degraded !== undefined) throw this.#degradedError();
    const ticket = this.queue.enqueue(job, {
      priority: job.priority,
      ...(job.signal ? { signal: job.signal } : {}),
      ...(job.deadline === undefined ? {} : { deadline: job.deadline }),
      onCancel: this.#onCancel,
    });
    this.#tickets.set(job, ticket);
    onQueued?.();
    this.#overtakePipelined(job);
    // With no idle worker the pump can only pipeline the head of the queue: a job queued behind
    // it changes nothing the pump could do now (a batch would run it once per job), and the next
    // job to end pumps again.
    if (this.#idle.size === 0 && this.queue.peek()?.item !== job) return;
    this.#pump();
  }

  /**
   * A job of a higher priority than a pipelined one that has not started would have gone first
   * had that one still waited: it is asked back to its place in the queue (it comes back only
   * if it has not started), so that pipelining does not change the order jobs start in.
   */
  #overtakePipelined(job: PoolJob): void {
    const rank = PRIORITIES.indexOf(job.priority);
    for (const worker of this.workers.values()) {
      const next = worker.returnableNext;
      if (next !== undefined && PRIORITIES.indexOf(next.priority) > rank) worker.cancelNext(next, false);
    }
  }

  /** A waiting job left the queue (aborted, past its deadline, drained): one function for all jobs. */
  #onCancel = (error: WardenError, ticket: QueueTicket<PoolJob>): void => {
    ticket.item.failed('cancelled', error, undefined);
    // A job that leaves the queue this way may be the last one a close() waits for.
    queueMicrotask(() => this.#checkDrained());
  };

  /** Resolves when no job waits or runs. */
  idle(): Promise<void> {
    if (this.load === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** Stops spawning, fails what waits, kills every worker (running jobs fail with `error`). */
  async stop(error: WardenError = new HostClosedError('the host is closed')): Promise<void> {
    this.#stopped = true;
    this.supervisor.send({ type: 'STOP' });
    if (this.#idleCpuTimer !== undefined) this.#clock.clearTimeout(this.#idleCpuTimer);
    this.#idleCpuTimer = undefined;
    this.queue.drain(error);
    this.#checkDrained();
    for (const [job, { worker }] of this.#running) {
      this.#finish(job);
      job.failed('cancelled', error, undefined);
      worker.kill('host closed');
    }
    const exits = [...this.workers.values()].map((worker) => {
      worker.kill('host closed');
      return worker.process?.exited;
    });
    await Promise.all(exits);
  }

  #degradedError(): PoolDegradedError {
    return new PoolDegradedError(`the ${this.kind} pool is degraded and not respawning workers: ${this.#degraded}`, {
      details: { kind: this.kind, lastFailure: this.#degraded },
    });
  }

  #spawn(): void {
    const id = `${this.kind}-${crypto.randomBytes(4).toString('hex')}`;
    const worker = new PoolWorker(id, this.kind, {
      idle: (w) => {
        this.#idle.add(w);
        // A worker that ran a job may have been left work by it: watched while idle.
        if (w.used) this.#watchIdleCpu();
        queueMicrotask(() => this.#pump());
      },
      state: (w, value) => this.#options.events.workerState(w, value),
      dead: (w, output) => this.#onDead(w, output),
      jobEnded: (_w, job) => this.#finish(job),
      retiring: (w) => {
        // Its replacement starts while it exits: the kill and the spawn overlap. From the next
        // turn: the reply that retired it has just settled its job, whose caller resumes first.
        this.#replaced.add(w);
        setImmediate(() => this.supervisor.send({ type: 'WORKER_DIED', id: w.id, reason: 'retired', expected: true }));
      },
      requeue: (_w, job) => this.#requeue(job),
      nextSlotFree: () => queueMicrotask(() => this.#pump()),
    }, { inspect: this.#options.inspect, clock: this.#clock });
    this.workers.set(id, worker);
    this.#options.spawn(this.kind, id).then(
      (process) => {
        if (this.#stopped) {
          void process.kill();
          worker.spawnFailed(new HostClosedError('the host closed during spawn'));
          return;
        }
        worker.attach(process);
        this.supervisor.send({ type: 'WORKER_SPAWNED', id });
        this.#options.events.workerSpawned(worker);
      },
      (error: Error) => {
        debug('%s spawn failed: %s', this.kind, error.message);
        worker.spawnFailed(error);
        this.supervisor.send({ type: 'SPAWN_FAILED', error });
      },
    );
  }

  #onDead(worker: PoolWorker, output: WorkerMachineOutput): void {
    this.workers.delete(worker.id);
    this.#idle.delete(worker);
    this.#idleCpu.forget(worker);
    for (const [job, entry] of this.#running) {
      if (entry.worker === worker) this.#finish(job);
    }
    this.#options.events.workerExited(worker, output);
    if (output.failure.reason === 'spawn-failed' || this.#replaced.has(worker)) {
      // Reported already: as SPAWN_FAILED, or as retired when it started to exit.
      this.#checkDrained();
      return;
    }
    // A death the host caused, or one a job caused (it died running untrusted code), is not
    // a sign that spawning is broken: counting it would let one tenant's code degrade the
    // pool for everyone. (A worker that took a job is never counted either: the supervisor
    // heard WORKER_SERVED.)
    const { reason } = output.failure;
    const expected = reason === 'killed' || reason === 'retired' || reason === 'hard-timeout' || reason === 'idle-cpu' || worker.diedInJob;
    this.supervisor.send({ type: 'WORKER_DIED', id: worker.id, reason, expected });
    this.#pump();
  }

  #retire(count: number): void {
    const idle = [...this.#idle].slice(0, count);
    for (const worker of idle) worker.kill('retired');
  }

  /** Hands waiting jobs to idle workers. */
  #pump(): void {
    for (const worker of this.#idle) {
      // One whose channel has closed is dying (or is being stopped for breaking it): a job sent
      // to it would be lost, and its exit, which ends it for the machine, is on its way.
      if (worker.state !== 'idle' || !worker.reachable) this.#idle.delete(worker);
    }
    while (this.#idle.size > 0 && this.queue.size > 0) {
      const next = this.queue.peek()!.item;
      const worker = this.#pick(next);
      if (!worker) {
        // The next job needs a process of its own and every idle worker has run a job:
        // recycle one into a fresh spare and wait for it (the queue order is kept).
        const used = [...this.#idle].find((w) => w.used);
        if (used) {
          this.#idle.delete(used);
          used.kill('recycled for a job that needs a fresh process');
        }
        break;
      }
      this.#idle.delete(worker);
      this.#start(this.queue.dequeue()!.item, worker);
    }
    if (this.queue.size > 0) this.#pipeline();
    else if (this.#idle.size > 0) {
      this.#withdrawPipelined();
      this.#primeSpares();
    }
    this.#checkDrained();
  }

  /**
   * Nothing waits: the idle spares that hold nothing are readied for the next job of the latest
   * artifact (`PoolWorker.prime`; a spare primed already, or being primed, is left as it is).
   * From the next turn of the event loop, so that jobs submitted together take the spares first.
   */
  #primeSpares(): void {
    if (this.#primer === undefined || this.#primeScheduled || !this.#primingPays()) return;
    this.#primeScheduled = true;
    setImmediate(() => {
      this.#primeScheduled = false;
      const primer = this.#primer;
      if (primer === undefined || this.#stopped || this.queue.size > 0) return;
      // (`prime` itself leaves alone a worker that is no longer idle.)
      for (const worker of this.#idle) if (!worker.used) worker.prime(primer);
    });
  }

  /**
   * Records a job's artifact for {@link #primingPays}: whether a spare would have held it (it is
   * one of the latest artifacts, one per worker, as spares primed with each latest one would
   * hold), whether or not spares were primed meanwhile.
   */
  #noteArtifact(key: string): void {
    const at = this.#recentArtifacts.indexOf(key);
    this.#primeHits.push(at >= 0);
    if (this.#primeHits.length > PRIME_WINDOW) this.#primeHits.shift();
    if (at >= 0) this.#recentArtifacts.splice(at, 1);
    this.#recentArtifacts.unshift(key);
    if (this.#recentArtifacts.length > Math.max(1, this.#size)) this.#recentArtifacts.pop();
  }

  /**
   * Priming pays while jobs come back to the artifacts the spares would hold: with more
   * artifacts in turn than workers, a primed copy is never the next job's and costs that job
   * a clear before its copy. Off once most of the latest {@link PRIME_WINDOW} jobs would have
   * missed; on again as soon as the latest two would both have hit.
   */
  #primingPays(): boolean {
    const hits = this.#primeHits;
    if (hits.length < PRIME_WINDOW || (hits.at(-1) === true && hits.at(-2) === true)) return true;
    return hits.filter(Boolean).length * 2 >= PRIME_WINDOW;
  }

  /**
   * Every worker busy: the head of the queue goes to a running worker as its next job, so that
   * the worker starts it without waiting for the host (pipelining). Only the head, in queue order.
   */
  #pipeline(): void {
    for (const worker of this.workers.values()) {
      if (this.#stopped || this.queue.size === 0) return;
      const job = this.queue.peek()!.item;
      if (!worker.canPipeline(job)) continue;
      this.queue.dequeue();
      if (worker.pipeline(job)) this.#running.set(job, { worker, cleanup: this.#watch(job, worker) });
      else if (!job.settled) this.#requeue(job);
    }
  }

  /**
   * A worker is idle with nothing queued while another holds a next job behind a running one:
   * that job is asked back (it comes back only if it has not started), so that it does not wait
   * for a job that may run long. At most one per idle worker.
   */
  #withdrawPipelined(): void {
    let free = this.#idle.size;
    for (const worker of this.workers.values()) if (worker.withdrawing) free--;
    for (const worker of this.workers.values()) {
      if (free <= 0) return;
      const next = worker.returnableNext;
      if (next === undefined) continue;
      worker.cancelNext(next, false);
      free--;
    }
  }

  /** A pipelined job that never started goes back to its place in the queue (or fails, past its deadline or aborted). */
  #requeue(job: PoolJob): void {
    const ticket = this.#tickets.get(job);
    let error: WardenError | undefined;
    if (this.#stopped) error = new HostClosedError('the host is closed');
    else {
      try {
        // Every job came in through submit(), which keeps its ticket.
        this.queue.restore(ticket!);
      } catch (caught) {
        error = caught as WardenError;
      }
    }
    // Back in the queue before it leaves `running`: a close never sees the pool idle in between.
    this.#finish(job);
    if (error) job.failed('cancelled', error, undefined);
    else queueMicrotask(() => this.#pump());
  }

  /** An idle worker for `job`: a fresh one if it needs its own process; else a used one first, keeping fresh spares. */
  #pick(job: PoolJob): PoolWorker | undefined {
    let fresh: PoolWorker | undefined;
    let used: PoolWorker | undefined;
    let holding: PoolWorker | undefined;
    // `#idle` is in the order the workers became idle: the last one seen is the one idle the
    // shortest time, whose caches, compiled module and kept memory are the warmest.
    let freshHolding: PoolWorker | undefined;
    let freshEmpty: PoolWorker | undefined;
    for (const worker of this.#idle) {
      if (!worker.used) {
        fresh ??= worker;
        // A spare primed with this job's artifact (Pool's priming) first; else one that holds
        // nothing (no other artifact's copy to clear first).
        if (freshHolding === undefined && worker.holdsWhatNeeds(job)) freshHolding = worker;
        if (freshEmpty === undefined && worker.heldArtifact === undefined) freshEmpty = worker;
      } else if (job.isolation === 'worker') {
        used = worker;
        if (worker.holdsWhatNeeds(job)) holding = worker;
      }
    }
    // A job of `worker` isolation takes a worker that has run jobs before a spare (spares stay
    // fresh for jobs that need one): first one whose dir holds its artifact (no copy), then the
    // one idle the shortest time. Among spares, one primed with its artifact first, then one
    // that holds nothing.
    return holding ?? used ?? freshHolding ?? freshEmpty ?? fresh;
  }

  #start(job: PoolJob, worker: PoolWorker): void {
    this.#running.set(job, { worker, cleanup: this.#watch(job, worker) });
    if (job.primer !== undefined) {
      this.#primer = job.primer(this.#primer);
      this.#noteArtifact(this.#primer.key);
    }
    const spare = !worker.used;
    // The request first: the supervisor's bookkeeping and the measurement are not the job's.
    worker.assign(job);
    if (spare) {
      // It has started: whatever ends it from now on is no sign that spawning fails (its death
      // reaches the supervisor later, from its exit event: never before this).
      this.supervisor.send({ type: 'WORKER_SERVED', id: worker.id });
      this.#measure(worker);
    }
  }

  /** Arms the pool's idle CPU check if it is not armed. */
  #watchIdleCpu(): void {
    if (this.#idleCpuTimer !== undefined || this.#stopped) return;
    this.#idleCpuTimer = this.#clock.setTimeout(() => this.#checkIdleCpu(), this.#idleCpu.policy.periodMs);
    // The check must not keep a process alive on its own.
    (this.#idleCpuTimer as { unref?: () => void } | undefined)?.unref?.();
  }

  /**
   * Samples the CPU time of every idle worker that has run a job (src/actors/idleCpu.ts) and
   * kills those past their budget (`idle-cpu`). Re-arms while any such worker is idle.
   */
  #checkIdleCpu(): void {
    this.#idleCpuTimer = undefined;
    const watched: IdleWorkerSample<PoolWorker>[] = [];
    for (const worker of this.#idle) {
      const pid = worker.process?.sandboxPid;
      if (worker.used && pid !== undefined && worker.state === 'idle') watched.push({ key: worker, pid, epoch: worker.jobsAssigned });
    }
    for (const { key: worker, cpuMs, idleMs } of this.#idleCpu.sample(watched)) {
      debug('%s: worker %s used %d ms of CPU in %d ms while idle: killed', this.kind, worker.id, cpuMs, idleMs);
      this.#idle.delete(worker);
      worker.idleCpu(cpuMs, idleMs);
    }
    if (watched.length > 0) this.#watchIdleCpu();
  }

  /**
   * From here the pool watches the job's signal and deadline: a running job is stopped by
   * killing its worker (the only way to stop code that does not cooperate). Returns what
   * stops the watch; a job with neither needs nothing.
   */
  #watch(job: PoolJob, worker: PoolWorker): () => void {
    if (!job.signal && job.deadline === undefined) return noop;
    const stop = (error: WardenError): void => {
      if (job.settled) return;
      this.#finish(job);
      job.failed('cancelled', error, undefined);
      // A pipelined job that has not started is stopped on the worker, which carries on.
      if (worker.next === job) worker.cancelNext(job, true);
      else worker.kill(error.code);
    };
    const onAbort = (): void => stop(new AbortedError(`job ${job.id} was aborted while running`, { cause: job.signal?.reason }));
    job.signal?.addEventListener('abort', onAbort, { once: true });
    const cancelDeadline =
      job.deadline === undefined ? undefined : atDeadline(job.deadline, () => stop(new DeadlineError(`job ${job.id} passed its deadline while running`)), this.#clock);
    return (): void => {
      job.signal?.removeEventListener('abort', onAbort);
      cancelDeadline?.();
    };
  }

  /**
   * Keeps the pool within its spares' memory budget. A spare is measured as it takes its first
   * job, when it has long finished warming up; the read runs beside the job, off its path.
   */
  #measure(worker: PoolWorker): void {
    const pid = worker.process?.sandboxPid;
    if (!this.#budget.limited || pid === undefined) return;
    void this.#budget.sample(pid).then((measured) => {
      const size = this.#budget.workers;
      if (!measured || this.#stopped || size === this.#size) return;
      debug('%s pool: %d workers fit the spares budget (%d MiB each)', this.kind, size, Math.round(this.#budget.estimateBytes / 2 ** 20));
      this.#size = size;
      this.supervisor.send({ type: 'RESIZE', size });
    });
  }

  #finish(job: PoolJob): void {
    const entry = this.#running.get(job);
    if (!entry) return;
    entry.cleanup();
    this.#running.delete(job);
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.load > 0) return;
    for (const resolve of this.#drained.splice(0)) resolve();
  }
}
