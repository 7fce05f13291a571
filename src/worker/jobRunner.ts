/**
 * The main-thread side of a prepare worker's job thread (an execute worker runs its jobs on its
 * main thread instead: inlineRunner.ts): runs each job on one bare `worker_threads` Worker and
 * watches its CPU time, terminating the thread past the limit. The main thread stays free for the
 * IPC channel, and a fresh thread replaces one that was cut or died. (A bare Worker rather than a
 * one-thread pool library: the same hop, ~8 MB less resident memory per worker, nothing to load.)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { nodeWorkerThreads } from '../shared/builtins.js';
import { jobFailure, type JobErrorCode } from '../shared/jobError.js';
import { wholeBuffer, type JobOutcome, type JobTask, type ThreadReply, type WarmUpTask } from './jobs/task.js';
import { JobClock } from './threadClock.js';
import { isPooled } from './bufferPool.js';
import { ABORTED_BEFORE_START, compileOverrun, wallNowMs, cpuStopMessage, wallStopMessage, withinCpuLimit, type RunOptions, type RunResult } from './jobBounds.js';

export interface JobRunnerOptions {
  /** V8 old-generation heap of the job thread, in MiB. Default 256. */
  maxOldGenerationSizeMb?: number;
  /** V8 young-generation heap of the job thread, in MiB. Default 32. */
  maxYoungGenerationSizeMb?: number;
  /** Stack of the job thread, in MiB (bounds wasm recursion). Default 4. */
  stackSizeMb?: number;
  /** The wall-clock bound of a job as a multiple of its CPU-time limit (PVF uses 4). Default 4. */
  wallTimeFactor?: number;
  /** How often CPU time is sampled, in ms. Default 10. */
  pollIntervalMs?: number;
  /** Node flags of the job thread. Default: the process's own (`process.execArgv`). */
  execArgv?: string[];
  /** How long a terminated thread may take to end before the job ends without it, ms. Default 2000. */
  terminateGraceMs?: number;
}

// The options and result of a run, shared with the main-thread runner (inlineRunner.ts).
export type { RunOptions, RunResult } from './jobBounds.js';

const DEFAULTS: Required<Omit<JobRunnerOptions, 'execArgv'>> = {
  maxOldGenerationSizeMb: 256,
  maxYoungGenerationSizeMb: 32,
  stackSizeMb: 4,
  wallTimeFactor: 4,
  pollIntervalMs: 10,
  terminateGraceMs: 2000,
};

function checkPositive(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive number, got ${String(value)} (${typeof value})`);
  }
  return value;
}

/**
 * The job thread's entry, `jobThread.cjs` (scripts/bundle.mjs: a loader that compiles the bundle
 * `jobThread.body.cjs` with the build's V8 code cache, or from source without it), beside the
 * compiled runner (the worker's bundle `main.cjs` or `jobRunner.js`), or under tsx (tests)
 * `jobThread.ts` beside this file.
 * Derived from this module's own URL, so nothing is looked up on the filesystem.
 */
function jobThreadFile(): string {
  const self = fileURLToPath(import.meta.url);
  return path.join(path.dirname(self), self.endsWith('.ts') ? 'jobThread.ts' : 'jobThread.cjs');
}

/**
 * How to start the thread: the bundle as the Worker's entry; under tsx (the tests run the sources)
 * a one-line script that loads it through tsx's require hook, since a Worker's TypeScript entry
 * gets no loader hook from the parent's `--import=tsx`.
 */
function threadEntry(): { entry: string; eval: boolean } {
  const file = jobThreadFile();
  return file.endsWith('.ts') ? { entry: `require('tsx/cjs'); require(${JSON.stringify(file)});`, eval: true } : { entry: file, eval: false };
}

type Stop = { code: JobErrorCode; message: string };

/** A detached ArrayBuffer (one already transferred) cannot back a new view. */
function isDetached(buffer: ArrayBuffer): boolean {
  try {
    new Uint8Array(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * Moves the task's buffers to the job thread. A view spanning its whole ArrayBuffer, or any view of
 * a pooled one (`bufferPool.ts`: nobody else views it), is transferred (the caller's view is then
 * detached); any other view is copied once into a buffer of its own, since cloning it would copy
 * its whole backing store.
 */
function transferable(task: JobTask): { message: JobTask; transferList: ArrayBuffer[] } {
  const transferList: ArrayBuffer[] = [];
  const move = (view: Uint8Array, name: string): Uint8Array => {
    if (!(view.buffer instanceof ArrayBuffer)) return view;
    if (view.byteLength === 0) {
      if (isDetached(view.buffer)) throw new TypeError(`task.${name} was already transferred to a job (its buffer is detached)`);
      return new Uint8Array(0);
    }
    // `new Uint8Array(view)` copies; `Buffer#slice` would not.
    const own = wholeBuffer(view) || isPooled(view.buffer) ? view : new Uint8Array(view);
    transferList.push(own.buffer as ArrayBuffer);
    return own;
  };
  const message: JobTask =
    task.kind === 'prepare' ? { ...task, code: move(task.code, 'code') } : { ...task, artifact: move(task.artifact, 'artifact'), input: move(task.input, 'input') };
  if (message.kind === 'execute' && message.outputStore !== undefined && !transferList.includes(message.outputStore)) transferList.push(message.outputStore);
  return { message, transferList };
}

type Pending = { resolve: (reply: ThreadReply) => void; reject: (error: Error) => void };

/**
 * One job thread and the job it is running. The thread answers each task with one message; its
 * death (terminated, out of heap, crashed) fails the task in flight with the reason.
 */
class JobThread {
  readonly worker: Worker;
  /** The thread's own CPU clock, shared with it. */
  readonly clock = new JobClock();
  /** Settles once the thread has loaded the job module and run the warm-up job. */
  readonly warm: Promise<void>;
  #pending: Pending | undefined;
  #death: Error | undefined;

  constructor(options: Required<Omit<JobRunnerOptions, 'execArgv'>>, execArgv: string[] | undefined) {
    const { entry, eval: isScript } = threadEntry();
    this.worker = new (nodeWorkerThreads().Worker)(entry, {
      eval: isScript,
      resourceLimits: {
        maxOldGenerationSizeMb: options.maxOldGenerationSizeMb,
        maxYoungGenerationSizeMb: options.maxYoungGenerationSizeMb,
        stackSizeMb: options.stackSizeMb,
      },
      ...(execArgv ? { execArgv } : {}),
      workerData: { clock: this.clock.shared },
    });
    // An idle thread never keeps the process alive; a task in flight does (see `exchange`).
    this.worker.unref();
    this.worker.on('message', (reply: ThreadReply) => this.#settle((p) => p.resolve(reply)));
    // 'error' (an uncaught throw, ERR_WORKER_OUT_OF_MEMORY) comes before 'exit': the first cause wins.
    this.worker.on('error', (error: Error) => this.#die(error));
    this.worker.on('exit', (code) => this.#die(new Error(`the job thread exited with code ${code}`)));
    const warmUp: WarmUpTask = { kind: 'warm-up' };
    // A thread that cannot start fails the next job with the real error; nothing to report here.
    this.warm = this.exchange(warmUp, []).then(
      () => {},
      () => {},
    );
  }

  /** Sends one task; resolves with the thread's reply, rejects if the thread dies first. */
  exchange(task: JobTask | WarmUpTask, transferList: ArrayBuffer[]): Promise<ThreadReply> {
    if (this.#death) return Promise.reject(this.#death);
    return new Promise<ThreadReply>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.worker.ref();
      this.worker.postMessage(task, transferList);
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  #die(error: Error): void {
    this.#death ??= error;
    this.#settle((p) => p.reject(this.#death!));
  }

  #settle(how: (pending: Pending) => void): void {
    const pending = this.#pending;
    this.#pending = undefined;
    this.worker.unref();
    if (pending) how(pending);
  }
}

/**
 * Runs prepare and execute jobs one at a time on a dedicated thread.
 *
 * @example
 * const runner = new JobRunner({ maxOldGenerationSizeMb: 128 });
 * const result = await runner.run({ kind: 'prepare', code, limits, paramsHash }, { cpuTimeLimitMs: 2000 });
 * await runner.close();
 */
export class JobRunner {
  readonly #options: Required<Omit<JobRunnerOptions, 'execArgv'>>;
  readonly #execArgv: string[] | undefined;
  #thread: JobThread;
  /** Jobs run one after another: a prepare job's CPU-time watch measures the whole process. */
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  constructor(options: JobRunnerOptions = {}) {
    const merged = { ...DEFAULTS, ...options };
    for (const name of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) checkPositive(merged[name], `options.${name}`);
    const { execArgv, ...limits } = merged;
    this.#options = limits;
    this.#execArgv = execArgv;
    this.#thread = new JobThread(this.#options, this.#execArgv);
  }

  /**
   * Runs a job; resolves with its outcome (job failures included) and rejects only for warden bugs.
   * The task's buffers move to the job thread: a view spanning its whole ArrayBuffer is detached by
   * this call (do not reuse it), any other view is copied.
   */
  run(task: JobTask, options: RunOptions): Promise<RunResult> {
    checkPositive(options?.cpuTimeLimitMs, 'options.cpuTimeLimitMs');
    if (this.#closing) return Promise.reject(new Error('JobRunner is closed'));
    const moved = transferable(task);
    const run = this.#queue.then(() => this.#runNow(moved, options));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Settles once the job thread has loaded the job code (a one-job process locks itself down only then). */
  ready(): Promise<void> {
    return this.#thread.warm;
  }

  /** Terminates the thread, failing a running job. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#thread.terminate().then(() => {});
    return this.#closing;
  }

  async #runNow({ message, transferList }: ReturnType<typeof transferable>, options: RunOptions): Promise<RunResult> {
    const { cpuTimeLimitMs, signal } = options;
    const thread = this.#thread;
    await thread.warm;
    if (this.#closing) throw new Error('JobRunner is closed');
    const factor = this.#options.wallTimeFactor;
    const compileLimitMs = options.compileTimeLimitMs ?? cpuTimeLimitMs;
    const phased = message.kind === 'execute';
    thread.clock.reset();
    const startCpu = process.cpuUsage();
    const startWall = wallNowMs();
    let runStartWall: number | undefined;
    const processCpuMs = () => {
      const { user, system } = process.cpuUsage(startCpu);
      return (user + system) / 1000;
    };
    /** An execute job counts its own execution only; a prepare job, the process since it started. */
    const cpuTimeMs = () => (phased ? thread.clock.executionMs() : processCpuMs());
    const wallTimeMs = () => wallNowMs() - (runStartWall ?? startWall);
    const done = (outcome: JobOutcome): RunResult => ({ ...outcome, cpuTimeMs: cpuTimeMs(), wallTimeMs: wallTimeMs() });

    let stop: Stop | undefined;
    let giveUp: () => void = () => {};
    const stuck = new Promise<never>((_, reject) => {
      giveUp = () => reject(new Error('the job thread did not end when terminated'));
    });
    stuck.catch(() => {});
    let graceTimer: NodeJS.Timeout | undefined;
    // The only way to stop code that does not cooperate: terminate its thread. V8 does not act on
    // the termination while wasm keeps growing its memory (each grow past 64 MiB runs a GC, which
    // swallows the request): past a grace the job ends anyway and the thread is left to die.
    const abort = (reason: Stop) => {
      if (stop) return;
      stop = reason;
      void thread.terminate();
      graceTimer = setTimeout(giveUp, this.#options.terminateGraceMs);
      graceTimer.unref();
    };
    const onAbort = () => abort({ code: 'E_ABORTED', message: 'the job was aborted' });
    if (signal?.aborted) return done({ ok: false, failure: jobFailure('E_ABORTED', ABORTED_BEFORE_START) });
    signal?.addEventListener('abort', onAbort, { once: true });
    const watch = setInterval(() => {
      if (phased && !thread.clock.started) {
        // Loading and compiling the module: its own bound, which prepare checked the module meets.
        const overrun = compileOverrun(processCpuMs(), wallNowMs() - startWall, compileLimitMs, factor);
        if (overrun !== undefined) abort({ code: 'E_TIMEOUT', message: overrun });
        return;
      }
      if (phased) runStartWall ??= wallNowMs();
      if (cpuTimeMs() > cpuTimeLimitMs) abort({ code: 'E_TIMEOUT', message: cpuStopMessage(cpuTimeLimitMs) });
      else if (wallTimeMs() > cpuTimeLimitMs * factor) abort({ code: 'E_TIMEOUT', message: wallStopMessage(cpuTimeLimitMs * factor) });
    }, this.#options.pollIntervalMs);

    try {
      const reply = await Promise.race([thread.exchange(message, transferList), stuck]);
      if (!reply.ok) throw new Error(`job thread failed: ${reply.message}`);
      if (!reply.outcome) throw new Error('job thread answered a job with no outcome');
      const result: RunResult = done(reply.outcome);
      if (reply.returned !== undefined) result.returned = reply.returned;
      // A job that finished between two samples but over the limit has still exceeded it.
      return withinCpuLimit(result, cpuTimeLimitMs);
    } catch (error) {
      // The thread was terminated or died (or, for a bug, threw): the next job gets a fresh, warmed thread.
      if (!this.#closing) this.#replace(thread);
      if (stop) return done({ ok: false, failure: jobFailure(stop.code, stop.message) });
      if ((error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        const message = `the job thread ran out of heap (limit ${this.#options.maxOldGenerationSizeMb} MiB old generation)`;
        return done({ ok: false, failure: jobFailure('E_OUT_OF_MEMORY', message) });
      }
      throw error;
    } finally {
      clearInterval(watch);
      clearTimeout(graceTimer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Replaces a thread that was cut or died (one that only threw is terminated first). */
  #replace(thread: JobThread): void {
    if (this.#thread !== thread) return;
    void thread.terminate();
    // A thread still dying must not keep the process alive.
    thread.worker.unref();
    this.#thread = new JobThread(this.#options, this.#execArgv);
  }
}
