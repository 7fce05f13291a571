/**
 * Worker handles and jobs for the pool's unit tests: they keep the contract of the real ones
 * (a request is answered once or rejected when the process dies, the exit is reported once,
 * after which nothing answers; a job settles once) without spawning a process. What the pool
 * does with them (order, deadlines, timeouts, deaths, spares) is then the pool's own logic,
 * on a simulated clock. The real-worker tests (test/host) check the same paths end to end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkerDiedError, type WardenError } from '../../src/errors.js';
import { Pool } from '../../src/actors/pool.js';
import { SimulatedClock } from '../../src/actors/clock.js';
import type { Frame, FrameBody } from '../../src/protocol/frame.js';
import type { SandboxLayers, WorkerKind } from '../../src/protocol/messages.js';
import type { WorkerHandle, WorkerHandleExit } from '../../src/actors/workerHandle.js';
import type { WorkerProcess } from '../../src/actors/workerProcess.js';
import type { Isolation, JobWorker, PoolJob, Primer } from '../../src/actors/poolJob.js';
import type { Priority } from '../../src/actors/jobQueue.js';
import type { JobFailureReason, WorkerMachineOutput } from '../../src/machines/index.js';
import type { PoolWorker } from '../../src/actors/poolWorker.js';

// The real process must keep satisfying the interface the pool depends on.
const _real: (process: WorkerProcess) => WorkerHandle = (process) => process;
void _real;

/** Pool events that record each worker's states (`id:state`) and exits, for a test to read. */
export function recordingPoolEvents(states: string[], exits: { id: string; output: WorkerMachineOutput }[]): ConstructorParameters<typeof Pool>[0]['events'] {
  return {
    workerSpawned: () => {},
    workerState: (worker: PoolWorker) => states.push(`${worker.id}:${worker.state}`),
    workerExited: (worker: PoolWorker, output: WorkerMachineOutput) => exits.push({ id: worker.id, output }),
    degraded: () => {},
    recovered: () => {},
  };
}

export const ALL_LAYERS: SandboxLayers = { userns: true, pivotRoot: true, netns: true, landlock: true, seccomp: true, cgroup: true };

interface PendingRequest {
  id: number;
  type: number;
  header: unknown;
  resolve: (frame: Frame) => void;
  reject: (error: WardenError) => void;
}

let nextPid = 1000;

/** One pretend worker process: requests wait until the test answers them, or the process dies. */
export class FakeWorkerHandle implements WorkerHandle {
  readonly hostDir: string;
  readonly info: { layers: SandboxLayers };
  readonly pid = ++nextPid;
  exitInfo: WorkerHandleExit | undefined;
  readonly exited: Promise<WorkerHandleExit>;
  readonly pending: PendingRequest[] = [];
  /** Every request's header, in the order they came. */
  readonly received: unknown[] = [];
  killed = 0;
  /** Every Cancel the host sent, in order. */
  readonly cancels: { id: number; abort: boolean }[] = [];
  /** Every frame sent without a reply (Prime), in order. */
  readonly sent: { type: number; header: unknown }[] = [];
  #nextId = 1;
  #channelClosed = false;
  #listeners: ((exit: WorkerHandleExit) => void)[] = [];
  #resolveExited!: (exit: WorkerHandleExit) => void;

  constructor(readonly id: string, hostDir: string, layers: SandboxLayers = ALL_LAYERS) {
    this.hostDir = hostDir;
    this.info = { layers };
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve));
  }

  get sandboxPid(): number | undefined {
    return this.exitInfo ? undefined : this.pid;
  }

  /** False once the worker's end of the channel has closed (`closeChannel`) or it has exited. */
  get reachable(): boolean {
    return !this.#channelClosed && this.exitInfo === undefined;
  }

  /** Its end of the channel closes (a killed process's, before its exit is known): nothing reaches it any more. */
  closeChannel(): void {
    this.#channelClosed = true;
  }

  request(type: number, header: unknown, _body: FrameBody | undefined, options: { expect: number; maxBody: number; onId?: (id: number) => void }): Promise<Frame> {
    if (this.exitInfo) return Promise.reject(this.exitInfo.error);
    this.received.push(header);
    const id = this.#nextId++;
    options.onId?.(id);
    return new Promise((resolve, reject) => this.pending.push({ id, type, header, resolve, reject }));
  }

  send(type: number, _id: number, header: unknown): void {
    if (!this.exitInfo) this.sent.push({ type, header });
  }

  /**
   * An execute worker runs its job on the thread that reads the channel: with this set, a Cancel
   * is read only once the running request is answered (and before the next one starts).
   */
  readsCancelsAfterItsJob = false;
  #unread: number[] = [];

  /** Like a worker's line (src/worker/jobLine.ts): a request that is not the oldest is withdrawn at once; the running one is left to the test. */
  cancel(id: number, abort: boolean): void {
    this.cancels.push({ id, abort });
    if (this.readsCancelsAfterItsJob) this.#unread.push(id);
    else this.#withdraw(id, 0);
  }

  /** Answers request `id` as withdrawn, unless it is at `running` or before (started). */
  #withdraw(id: number, running: number): void {
    const index = this.pending.findIndex((request) => request.id === id);
    if (index < 0 || index <= running) return;
    const [request] = this.pending.splice(index, 1);
    request!.resolve({ type: request!.type + 1, id, header: { ok: false, withdrawn: true, failure: { code: 'E_ABORTED', message: 'withdrawn' } }, body: new Uint8Array(0) } as Frame);
  }

  /** The worker answers its oldest request. */
  answer(header: unknown = { ok: true }): void {
    const request = this.pending.shift();
    if (!request) throw new Error(`${this.id} has no request to answer`);
    request.resolve({ type: request.type + 1, id: 1, header, body: new Uint8Array(0) } as Frame);
    // The Cancels that came meanwhile are read now, before the next request starts.
    for (const id of this.#unread.splice(0)) this.#withdraw(id, -1);
  }

  kill(): Promise<WorkerHandleExit> {
    this.killed++;
    this.die(null, 'SIGKILL');
    return this.exited;
  }

  /** The process ends (a crash when the host did not ask): pending requests fail, the exit is reported once. */
  die(code: number | null = 1, signal: NodeJS.Signals | null = null): void {
    if (this.exitInfo) return;
    const exit = { code, signal, error: new WorkerDiedError(`worker ${this.id} died: ${signal ?? `exit code ${code}`}`) };
    this.exitInfo = exit;
    // Like the real process: the exit arrives on a later turn of the event loop.
    setImmediate(() => {
      for (const request of this.pending.splice(0)) request.reject(exit.error);
      for (const listener of this.#listeners.splice(0)) listener(exit);
      this.#resolveExited(exit);
    });
  }

  once(_event: 'exit', listener: (exit: WorkerHandleExit) => void): this {
    this.#listeners.push(listener);
    return this;
  }
}

/** What a fake job ended with. */
export type FakeOutcome = { ok: true; workerId: string; reply: unknown } | { ok: false; reason: string; error: WardenError };

/**
 * A job that needs nothing in the dir and takes any reply as its result. Like the host's jobs,
 * a job whose worker was lost is submitted again once (`resubmit`), then fails.
 */
export class FakeJob implements PoolJob {
  readonly kind = 'execute' as const;
  readonly request: PoolJob['request'];
  readonly workers: string[] = [];
  outcome: FakeOutcome | undefined;
  readonly done: Promise<FakeOutcome>;
  #settle!: (outcome: FakeOutcome) => void;

  constructor(
    readonly id: string,
    readonly options: {
      priority?: Priority;
      isolation?: Isolation;
      deadline?: number;
      signal?: AbortSignal;
      hardTimeoutMs?: number;
      resubmit?: (job: FakeJob) => void;
      /** Populate and collect with I/O to wait for (a promise), as a prepare job does. Default: at once, as an execute job on a ready dir. */
      io?: boolean;
      /** Says its dir is ready (`PoolJob.ready`), so that it may be pipelined. Default: no `ready`, never pipelined. */
      ready?: boolean;
      /** What it primes spares with (`PoolJob.primer`). Default: none. */
      primer?: Primer;
    } = {},
  ) {
    this.request = { type: 10, header: { jobId: id }, replyType: 11 };
    this.done = new Promise((resolve) => (this.#settle = resolve));
    if (options.ready) this.ready = () => !this.options.io;
    const { primer } = options;
    if (primer) this.primer = () => primer;
  }

  ready?: (worker: JobWorker) => boolean;
  primer?: (current: Primer | undefined) => Primer;
  /** The workers its populate was called for, in order. */
  readonly populated: string[] = [];

  get priority(): Priority {
    return this.options.priority ?? 'normal';
  }
  get isolation(): Isolation {
    return this.options.isolation ?? 'worker';
  }
  get signal(): AbortSignal | undefined {
    return this.options.signal;
  }
  get deadline(): number | undefined {
    return this.options.deadline;
  }
  get hardTimeoutMs(): number {
    return this.options.hardTimeoutMs ?? 10_000;
  }
  get settled(): boolean {
    return this.outcome !== undefined;
  }

  started(worker: JobWorker): void {
    this.workers.push(worker.id);
  }

  populate(worker: JobWorker): Promise<void> | undefined {
    this.populated.push(worker.id);
    return this.options.io ? new Promise((resolve) => setImmediate(resolve)) : undefined;
  }

  collect(worker: JobWorker, reply: Frame): Promise<void> | undefined {
    if ((reply.header as { bad?: boolean }).bad) throw new Error(`job ${this.id}: a reply the job refuses`);
    if (!this.options.io) {
      this.#finish({ ok: true, workerId: worker.id, reply: reply.header });
      return undefined;
    }
    return new Promise((resolve) => setImmediate(resolve)).then(() => this.#finish({ ok: true, workerId: worker.id, reply: reply.header }));
  }

  failed(reason: JobFailureReason | 'cancelled', error: WardenError): void {
    if (this.settled) return;
    if (reason === 'lost' && this.workers.length < 2 && this.options.resubmit) {
      this.options.resubmit(this);
      return;
    }
    this.#finish({ ok: false, reason, error });
  }

  #finish(outcome: FakeOutcome): void {
    if (this.outcome) throw new Error(`job ${this.id} settled twice`);
    this.outcome = outcome;
    this.#settle(outcome);
  }
}

/**
 * An execute pool of `size` workers on fake handles in a temp dir (removed at teardown), on a
 * simulated clock: the handles in spawn order, the workers' states and exits as recorded.
 */
export function fakePool(t: { teardown(fn: () => unknown): void }, { size = 1, layers = ALL_LAYERS }: { size?: number; layers?: SandboxLayers } = {}) {
  const clock = new SimulatedClock(1_000_000);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-fake-pool-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const handles: FakeWorkerHandle[] = [];
  const exits: { id: string; output: WorkerMachineOutput }[] = [];
  const states: string[] = [];
  const pool = new Pool({
    kind: 'execute',
    size,
    maxQueue: 100,
    supervisor: { backoff: { initialMs: 100, maxMs: 1_000, factor: 2 }, crashLoop: { maxFailures: 5, windowMs: 10_000 }, cooldownMs: 10_000 },
    clock,
    readCpuMs: () => 0,
    spawn: async (_kind: WorkerKind, id: string) => {
      const dir = path.join(root, id);
      fs.mkdirSync(dir);
      const handle = new FakeWorkerHandle(id, dir, layers);
      handles.push(handle);
      return handle;
    },
    events: recordingPoolEvents(states, exits),
  });
  t.teardown(() => pool.stop());
  return { pool, clock, handles, exits, states };
}
