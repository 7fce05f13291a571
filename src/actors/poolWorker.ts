import { createActor, type Actor, type StateValue } from 'xstate';
import createDebug from 'debug';
import { provideWorkerActions, type WorkerMachineOutput } from '../machines/index.js';
import { EncodedHeader, type Frame } from '../protocol/frame.js';
import { MessageType, type WorkerKind } from '../protocol/messages.js';
import { ProtocolError, TimeoutError, WorkerDiedError, WorkerDirError, type WardenError } from '../errors.js';
import { clearWorkerDir } from '../sandbox/workerDir.js';
import type { Clock } from './clock.js';
import type { WorkerHandle } from './workerHandle.js';
import type { JobWorker, PoolJob, Primer } from './poolJob.js';
import type { XStateInspector } from '../options.js';

const debug = createDebug('warden:pool');

export interface PoolWorkerHooks {
  /** The worker can take a job. */
  idle(worker: PoolWorker): void;
  /** The worker machine reached `dead`. */
  dead(worker: PoolWorker, output: WorkerMachineOutput): void;
  /** The machine moved to another state (for events and the inspector; `workerStateName` names it). */
  state(worker: PoolWorker, value: StateValue): void;
  /** The worker is done with its job (collected, or failed without a result). */
  jobEnded(worker: PoolWorker, job: PoolJob): void;
  /** A one-job process is being killed after its job: it will take no job, its replacement can start. */
  retiring(worker: PoolWorker): void;
  /** A pipelined job it never started came back (its death, or a withdrawal): it runs elsewhere. */
  requeue(worker: PoolWorker, job: PoolJob): void;
  /** It can take a next job again (its pipelined job started, or came back cancelled). */
  nextSlotFree(worker: PoolWorker): void;
}

/** A worker machine state as events and `host.workers()` name it: `idle`, `running.awaiting`, … */
export function workerStateName(value: StateValue): string {
  return typeof value === 'string' ? value : `running.${Object.values(value)[0]}`;
}

/**
 * Whether a worker machine state is `running.awaiting`: what `snapshot.matches({ running:
 * 'awaiting' })` says, without the state value it builds from the object each time (checked on
 * every reply and every pipelining attempt).
 */
function isAwaiting(value: StateValue): boolean {
  return typeof value === 'object' && value.running === 'awaiting';
}

/**
 * Whether a worker's process cannot write its dir, so that nothing a job does can be left there
 * for the next one: an execute worker under the read-only `/worker` bind (new root) or Landlock
 * (read-only on `/worker`, independently of the mounts). A prepare worker writes `tmp-artifact`.
 */
export function dirReadOnly(kind: WorkerKind, process: WorkerHandle): boolean {
  const { layers } = process.info;
  return kind === 'execute' && (layers.pivotRoot || layers.landlock);
}

function asWardenError(error: unknown): WardenError {
  if (error && typeof error === 'object' && 'code' in error && 'deterministic' in error) return error as WardenError;
  return new ProtocolError((error as Error)?.message ?? String(error), { cause: error });
}

/**
 * One worker of a pool: its process and its state machine, wired together. The machine
 * decides; this class does the I/O each action asks for and reports back with events.
 */
export class PoolWorker {
  readonly id: string;
  readonly kind: WorkerKind;
  readonly actor: Actor<ReturnType<typeof provideWorkerActions>>;
  process: WorkerHandle | undefined;
  job: PoolJob | undefined;
  /** The job sent while `job` runs (pipelining); the worker starts it as soon as `job` ends. */
  next: PoolJob | undefined;
  /** The request id of `next`, for Cancel. */
  #nextRequestId: number | undefined;
  /** Jobs the pool asked it to give back or stop before they started: only those may come back `withdrawn`. */
  #cancelAsked = new WeakSet<PoolJob>();
  /** Next jobs that became the running one while being asked back: not reported started yet. */
  #startUnconfirmed = new WeakSet<PoolJob>();
  /** The job's populate, when it had I/O to wait for (`running.populating` waits for it). */
  #populating: Promise<void> | undefined;
  /** Its dir being primed while it is idle (`prime`): a job given to it meanwhile populates after it. */
  #priming: Promise<void> | undefined;
  /** The job's collect, when it had I/O to wait for (`running.collecting` waits for it). */
  #collecting: Promise<void> | undefined;
  /** A one-job process's RESULT, collected at once and due on this turn's check phase (`#onReply`). */
  #resultDue: NodeJS.Immediate | undefined;
  #hooks: PoolWorkerHooks;
  /** The worker as its jobs see it; set once the process is attached. */
  #view: JobWorker | undefined;
  /** The worker died while running a job (the job, not the pool, is the likely cause). */
  diedInJob = false;
  #jobError: WardenError | undefined;
  /** Why the pool asked it to stop, for the log. */
  #stopReason: string | undefined;

  constructor(id: string, kind: WorkerKind, hooks: PoolWorkerHooks, options: { inspect?: XStateInspector | undefined; clock?: Clock | undefined } = {}) {
    this.id = id;
    this.kind = kind;
    this.#hooks = hooks;
    const machine = provideWorkerActions({
      populateDir: () => {
        const pending = this.#populating ?? Promise.resolve();
        this.#populating = undefined;
        pending.then(
          () => this.actor.send({ type: 'POPULATED' }),
          (error: Error) => {
            this.#jobError = asWardenError(error);
            this.actor.send({ type: 'POPULATE_FAILED', error });
          },
        );
      },
      sendJob: () => this.#send(this.job!),
      sendNext: () =>
        this.#send(this.next!, (id) => {
          this.#nextRequestId = id;
        }),
      nextStarted: () => {
        const job = this.next!;
        this.next = undefined;
        this.#nextRequestId = undefined;
        this.job = job;
        // Asked back and not answered yet: the worker may not have run it (an execute worker reads
        // a Cancel only once its running job ends), so it counts as started only if its reply is
        // a result, not a withdrawal.
        if (this.#cancelAsked.has(job)) this.#startUnconfirmed.add(job);
        else job.started(this.#view!);
        hooks.nextSlotFree(this);
      },
      nextReturned: () => {
        const job = this.next;
        this.next = undefined;
        this.#nextRequestId = undefined;
        // A job cancelled while it waited here has been let go by the pool already.
        if (job && !job.settled) hooks.requeue(this, job);
        else if (this.actor.getSnapshot().status === 'active') hooks.nextSlotFree(this);
      },
      collectResult: () => {
        const job = this.job!;
        const pending = this.#collecting!;
        this.#collecting = undefined;
        pending.then(
          () => {
            hooks.jobEnded(this, job);
            this.actor.send({ type: 'COLLECTED' });
          },
          (error: Error) => {
            this.#jobError = asWardenError(error);
            this.actor.send({ type: 'COLLECT_FAILED', error });
            // A reply that breaks the protocol means the worker cannot be trusted again.
            if (error instanceof ProtocolError) this.kill('protocol violation');
          },
        );
      },
      clearDir: () => {
        this.job = undefined;
        const view = this.#view!;
        // An execute dir keeps its artifact link for the next job, if it is still the host's.
        clearWorkerDir(view.hostDir, this.kind, view.linked?.ino).then(
          (kept) => {
            if (!kept) view.linked = undefined;
            this.actor.send({ type: 'CLEARED' });
          },
          (error: Error) => {
            view.linked = undefined;
            this.actor.send({ type: 'CLEAR_FAILED', error });
          },
        );
      },
      // One job per process: its dir goes with it (removed on exit), the supervisor starts a fresh spare.
      retireProcess: () => {
        this.job = undefined;
        debug('worker %s: retired after its one job', this.id);
        void this.process?.kill();
        hooks.retiring(this);
      },
      killProcess: ({ reason, message }) => {
        // A stop the pool asked for (host closed, retired, recycled) is routine, an exit was
        // logged by the process, the rest are failures that end the worker.
        if (reason === 'killed') debug('worker %s: stopping (%s)', this.id, this.#stopReason ?? 'asked');
        else if (reason !== 'exited' && reason !== 'retired') debug('worker %s: killing it: %s', this.id, message);
        void this.process?.kill();
      },
      jobFailed: ({ reason, message }) => {
        const job = this.job;
        if (!job) return;
        const error =
          reason === 'hard-timeout'
            ? new TimeoutError(`job ${job.id} passed its hard timeout of ${job.hardTimeoutMs} ms; worker ${this.id} was killed`, {
                details: { jobId: job.id, workerId: this.id },
              })
            : reason === 'lost'
              ? (this.process?.exitInfo?.error ?? new WorkerDiedError(`worker ${this.id} died running job ${job.id}: ${message}`))
              : (this.#jobError ?? new WorkerDirError(message));
        this.#jobError = undefined;
        if (reason === 'lost' || reason === 'hard-timeout') this.diedInJob = true;
        // failed() first: a retry re-enters the pool before this run leaves it, so a graceful
        // close never sees the pool idle in between.
        job.failed(reason, error, this.#view);
        hooks.jobEnded(this, job);
      },
      becameIdle: () => {
        // Straight from `collecting` when the dir needed no clear: the job is over here.
        this.job = undefined;
        hooks.idle(this);
      },
    });
    // The hard timeout is an XState delay: it runs on the pool's clock.
    this.actor = createActor(machine, { input: { id, kind }, inspect: options.inspect, ...(options.clock ? { clock: options.clock } : {}) });
    this.actor.subscribe({
      next: (snapshot) => {
        hooks.state(this, snapshot.value);
        if (snapshot.status === 'done') hooks.dead(this, snapshot.output as WorkerMachineOutput);
      },
    });
    this.actor.start();
  }

  /** Binds the spawned process: its exit becomes the machine's EXITED. */
  attach(process: WorkerHandle): void {
    this.process = process;
    this.#view = { id: this.id, hostDir: process.hostDir, linked: undefined };
    process.once('exit', (exit) => this.actor.send({ type: 'EXITED', code: exit.code, signal: exit.signal, reason: exit.error.code }));
    this.actor.send({ type: 'SPAWNED', dirReadOnly: dirReadOnly(this.kind, process) });
  }

  spawnFailed(error: Error): void {
    this.actor.send({ type: 'SPAWN_FAILED', error });
  }

  /**
   * Gives it a job. The populate starts here: a dir that already holds what the job needs costs
   * no I/O and no `populating` state (ASSIGN with `populated`).
   */
  assign(job: PoolJob): void {
    this.job = job;
    const view = this.#view!;
    job.started(view);
    let pending: Promise<void> | undefined;
    if (this.#priming !== undefined) {
      // The dir is being primed: the job's populate sees what that left (often what it needs).
      pending = this.#priming.then(() => job.populate(view));
    } else {
      try {
        pending = job.populate(view);
      } catch (error) {
        pending = Promise.reject(error as Error);
      }
    }
    // Handled by `populateDir`; caught here so that a rejection is never unhandled meanwhile.
    pending?.catch(() => {});
    this.#populating = pending;
    const populated = pending === undefined;
    // A ready dir: the request goes out first, and the machine takes the job (its transition,
    // the events and the bookkeeping it drives) while the worker runs it. Only from `idle`, where
    // ASSIGN is always taken: a request the machine did not take would have no one to collect it.
    const sent = populated && this.state === 'idle';
    if (sent) this.#send(job);
    this.actor.send({ type: 'ASSIGN', jobId: job.id, hardTimeoutMs: job.hardTimeoutMs, isolation: job.isolation, populated, sent });
  }

  /** Sends a one-job process's RESULT now if it is still due (`#resultDue`). */
  #flushResult(): void {
    if (this.#resultDue === undefined) return;
    clearImmediate(this.#resultDue);
    this.#resultDue = undefined;
    this.actor.send({ type: 'RESULT', collected: true });
  }

  /** Sends the job's request (`onId`: its request id, for a pipelined job's Cancel); its reply is collected by `#onReply`. */
  #send(job: PoolJob, onId?: (id: number) => void): void {
    // The header carries the job's isolation: a one-job process locks itself down further
    // once the job's files are read.
    const { type, header, headerJson, body, replyType, maxReplyBody, hold } = job.request;
    this.process!.request(type, headerJson ? new EncodedHeader(headerJson()) : header, body, { expect: replyType, maxBody: maxReplyBody ?? 0, onId, onWritten: hold?.() }).then(
      (reply) => this.#onReply(job, reply),
      // The process died or broke the protocol: its exit arrives as EXITED.
      (error: Error) => debug('worker %s: request for job %s failed: %s', this.id, job.id, error.message),
    );
  }

  /**
   * The worker answered: the job collects the reply at once when it can (an execute's outcome
   * needs no I/O), so the machine takes one RESULT and the job is over; a collect with I/O to
   * wait for (a prepare's install) or one that failed goes through `running.collecting`.
   */
  #onReply(job: PoolJob, reply: Frame): void {
    const withdrawn = (reply.header as { withdrawn?: unknown } | null)?.withdrawn === true;
    if (job === this.next) {
      // Only a withdrawn job is answered before the one ahead of it, and only when asked.
      if (withdrawn && this.#cancelAsked.has(job)) this.actor.send({ type: 'NEXT_GONE' });
      else this.kill('protocol violation: a reply for a job that has not started');
      return;
    }
    // A reply for a job this worker no longer runs (killed meanwhile) is not collected.
    if (this.job !== job || !isAwaiting(this.actor.getSnapshot().value)) return;
    if (withdrawn && !this.#cancelAsked.has(job)) {
      this.kill('protocol violation: a job withdrawn that the host did not withdraw');
      return;
    }
    const unconfirmed = this.#startUnconfirmed.delete(job);
    if (unconfirmed && !withdrawn && !job.settled) job.started(this.#view!);
    if (withdrawn || job.settled) {
      // It never ran here (withdrawn as it started: it runs elsewhere), or it was cancelled
      // while it waited here (its reply is not the caller's any more).
      if (withdrawn && !job.settled) {
        if (!unconfirmed) job.withdrawn?.();
        this.#hooks.requeue(this, job);
      }
      else this.#hooks.jobEnded(this, job);
      this.actor.send({ type: 'RESULT', collected: true });
      return;
    }
    let pending: Promise<void> | undefined;
    try {
      pending = job.collect(this.#view!, reply);
    } catch (error) {
      pending = Promise.reject(error as Error);
    }
    if (pending === undefined) {
      this.#hooks.jobEnded(this, job);
      if (job.isolation === 'job') {
        // A one-job process, settled and done with in the pool: its caller resumes first (its
        // promise's reactions run once this turn's code ends), then the machine's RESULT and the
        // retirement it drives, in the same turn of the event loop, before any timer or further
        // I/O (the hard timeout cannot pass, no reply can come meanwhile); a kill meanwhile, from
        // the caller's own code, takes the RESULT first. Not a reused
        // worker: it would not be idle when its caller's next job comes, which would go to another.
        this.#resultDue = setImmediate(() => this.#flushResult());
        return;
      }
      this.actor.send({ type: 'RESULT', collected: true });
      return;
    }
    // Handled by `collectResult`; caught here so that a rejection is never unhandled meanwhile.
    pending.catch(() => {});
    this.#collecting = pending;
    this.actor.send({ type: 'RESULT' });
  }

  /**
   * Readies an idle spare for a job of `primer`'s artifact before one comes: its empty dir gets
   * the copy, and its process is asked to load it (Prime), so that such a job pays neither. Once
   * per spare; nothing for a worker that has taken a job or holds an artifact. A failure costs
   * nothing but the gain: the job populates as it would have.
   */
  prime(primer: Primer): void {
    const view = this.#view;
    if (this.kind !== 'execute' || this.#priming !== undefined || view === undefined || view.linked !== undefined || this.used || this.state !== 'idle') return;
    const priming = primer.prime(view).then(
      (request) => {
        // Sent only while it is still idle: a job given to it meanwhile loads the module itself.
        if (request !== undefined && this.state === 'idle' && !this.used) this.process?.send(MessageType.Prime, 0, request);
      },
      (error: Error) => debug('worker %s: priming failed: %s', this.id, error.message),
    );
    this.#priming = priming;
    void priming.finally(() => {
      if (this.#priming === priming) this.#priming = undefined;
    });
  }

  /** The artifact a copy of which its dir holds (its last job's, or its priming's), if any. */
  get heldArtifact(): string | undefined {
    return this.#view?.linked?.key;
  }

  /** Whether this worker's dir already holds what `job` needs (its populate would do no I/O). */
  holdsWhatNeeds(job: PoolJob): boolean {
    return this.#view !== undefined && job.ready?.(this.#view) === true;
  }

  /**
   * Whether `job` can be sent now as this worker's next job (pipelining): it runs a job on a
   * ready dir its process cannot write, with none waiting behind it, and both keep `worker`
   * isolation; `job` needs nothing put in the dir. Pipelining then keeps jobs as far apart as
   * running them one by one does.
   */
  canPipeline(job: PoolJob): boolean {
    if (this.next !== undefined || job.isolation !== 'worker' || !job.ready) return false;
    const snapshot = this.actor.getSnapshot();
    const { context } = snapshot;
    if (context.next !== undefined || !context.dirReadOnly || context.job?.populated !== true || context.job.isolation !== 'worker') return false;
    return isAwaiting(snapshot.value) && job.ready(this.#view!);
  }

  /**
   * Sends `job` as the next job (the caller checked {@link canPipeline}); its hard timeout starts
   * when it starts. Returns false when it was not sent: its populate failed (the job is failed
   * with it, as in `populating`) or the machine refused it (the job is untouched).
   */
  pipeline(job: PoolJob): boolean {
    const view = this.#view!;
    let pending: Promise<void> | undefined;
    try {
      pending = job.populate(view);
    } catch (error) {
      job.failed('populate-failed', asWardenError(error), view);
      return false;
    }
    if (pending !== undefined) {
      // `ready` said the dir needs nothing: a populate with I/O here would change the dir under the running job.
      pending.catch(() => {});
      job.failed('populate-failed', new WorkerDirError(`job ${job.id} was ready for worker ${this.id}, then its populate needed I/O`), view);
      return false;
    }
    this.next = job;
    this.actor.send({ type: 'PIPELINE', jobId: job.id, hardTimeoutMs: job.hardTimeoutMs, isolation: job.isolation });
    if (this.actor.getSnapshot().context.next?.jobId === job.id) return true;
    this.next = undefined;
    return false;
  }

  /**
   * Asks the worker to give back its next job if it has not started it, or, with `abort`, to stop
   * it even if it has (the job was cancelled). The job's reply says which (NEXT_GONE, or RESULT).
   */
  cancelNext(job: PoolJob, abort: boolean): void {
    if (this.next !== job || this.#nextRequestId === undefined) return;
    this.#cancelAsked.add(job);
    this.process?.cancel(this.#nextRequestId, abort);
  }

  /** Its next job is being asked back. */
  get withdrawing(): boolean {
    return this.next !== undefined && this.#cancelAsked.has(this.next);
  }

  /** Its next job, when it is still the caller's and not already being asked back: one the pool may ask back. */
  get returnableNext(): PoolJob | undefined {
    return this.next !== undefined && !this.next.settled && !this.withdrawing ? this.next : undefined;
  }

  kill(reason: string): void {
    this.#stopReason ??= reason;
    // A job already collected is over: the worker dies after it, not in it.
    this.#flushResult();
    this.actor.send({ type: 'KILL', reason });
  }

  /** The host measured CPU use while it was idle, past the budget: it is killed if still idle. */
  idleCpu(cpuMs: number, idleMs: number): void {
    this.actor.send({ type: 'IDLE_CPU', cpuMs, idleMs });
  }

  /** It has been given a job: it is no longer a spare, fresh for a job that needs its own process. */
  get used(): boolean {
    return this.jobsAssigned > 0;
  }

  /** Jobs it has been given. */
  get jobsAssigned(): number {
    return this.actor.getSnapshot().context.jobsAssigned;
  }

  get state(): string {
    return workerStateName(this.actor.getSnapshot().value);
  }

  /** Whether a request sent now can reach its process (`WorkerHandle.reachable`): false before it is attached. */
  get reachable(): boolean {
    return this.process?.reachable ?? false;
  }
}
