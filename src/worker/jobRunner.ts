/**
 * The main-thread side of the job thread: runs each job on a one-thread piscina pool and watches
 * its CPU time, terminating the thread past the limit. The main thread stays free for the IPC
 * channel, and a fresh thread replaces one that was cut or died.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { jobFailure, type JobErrorCode } from './jobs/jobError.js';
import { wholeBuffer, type JobOutcome, type JobTask, type WarmUpTask } from './jobs/task.js';

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
}

export interface RunOptions {
  /** CPU time the job may use, in ms; past it the thread is terminated and the job fails with E_TIMEOUT. */
  cpuTimeLimitMs: number;
  /** Aborting fails the job with E_ABORTED (the thread is terminated if the job was running). */
  signal?: AbortSignal;
}

/** A job's outcome with the time it took (CPU time of the whole process while the job ran). */
export type RunResult = JobOutcome & { cpuTimeMs: number; wallTimeMs: number };

const DEFAULTS: Required<Omit<JobRunnerOptions, 'execArgv'>> = {
  maxOldGenerationSizeMb: 256,
  maxYoungGenerationSizeMb: 32,
  stackSizeMb: 4,
  wallTimeFactor: 4,
  pollIntervalMs: 10,
};

function checkPositive(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive number, got ${String(value)} (${typeof value})`);
  }
  return value;
}

/**
 * The compiled `jobThread.js` beside the compiled runner, or under tsx (tests) `jobThread.ts` beside
 * this file: the thread inherits `--import=tsx` through `execArgv`. Derived from this module's own
 * URL, so nothing is looked up on the filesystem.
 */
function jobThreadFile(): string {
  const self = fileURLToPath(import.meta.url);
  return path.join(path.dirname(self), `jobThread${path.extname(self)}`);
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
 * Moves the task's buffers to the job thread. A view spanning its whole ArrayBuffer is transferred
 * (the caller's view is then detached); any other view is copied once into a buffer of its own,
 * since cloning it would copy its whole backing store.
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
    const own = wholeBuffer(view) ? view : new Uint8Array(view);
    transferList.push(own.buffer as ArrayBuffer);
    return own;
  };
  const message: JobTask =
    task.kind === 'prepare' ? { ...task, code: move(task.code, 'code') } : { ...task, artifact: move(task.artifact, 'artifact'), input: move(task.input, 'input') };
  return { message, transferList };
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
  readonly #pool: Piscina;
  readonly #options: Required<Omit<JobRunnerOptions, 'execArgv'>>;
  /** Settles when the current thread has loaded the job module. */
  #warm: Promise<void>;
  /** Jobs run one after another: the CPU-time watch measures the whole process. */
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  constructor(options: JobRunnerOptions = {}) {
    const merged = { ...DEFAULTS, ...options };
    for (const name of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) checkPositive(merged[name], `options.${name}`);
    this.#options = merged;
    this.#pool = new Piscina({
      filename: jobThreadFile(),
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      // A job on a thread of its own: jobs must never interleave their CPU time.
      concurrentTasksPerWorker: 1,
      resourceLimits: {
        maxOldGenerationSizeMb: merged.maxOldGenerationSizeMb,
        maxYoungGenerationSizeMb: merged.maxYoungGenerationSizeMb,
        stackSizeMb: merged.stackSizeMb,
      },
      ...(options.execArgv ? { execArgv: options.execArgv } : {}),
    });
    this.#warm = this.#warmUp();
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
    return this.#warm;
  }

  /** Destroys the pool, terminating a running job. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#pool.destroy();
    return this.#closing;
  }

  /** Loads the job module in the current (possibly new) thread, so its start-up is nobody's CPU time. */
  #warmUp(): Promise<void> {
    const warmUp: WarmUpTask = { kind: 'warm-up' };
    // A thread that cannot start fails the next job with the real error; nothing to report here.
    return this.#pool.run(warmUp).then(
      () => {},
      () => {},
    );
  }

  async #runNow({ message, transferList }: ReturnType<typeof transferable>, { cpuTimeLimitMs, signal }: RunOptions): Promise<RunResult> {
    await this.#warm;
    const wallTimeLimitMs = cpuTimeLimitMs * this.#options.wallTimeFactor;
    const startCpu = process.cpuUsage();
    const startWall = performance.now();
    const cpuTimeMs = () => {
      const { user, system } = process.cpuUsage(startCpu);
      return (user + system) / 1000;
    };
    const wallTimeMs = () => performance.now() - startWall;
    const done = (outcome: JobOutcome): RunResult => ({ ...outcome, cpuTimeMs: cpuTimeMs(), wallTimeMs: wallTimeMs() });

    const controller = new AbortController();
    let stop: Stop | undefined;
    const abort = (reason: Stop) => {
      stop ??= reason;
      controller.abort();
    };
    const onAbort = () => abort({ code: 'E_ABORTED', message: 'the job was aborted' });
    if (signal?.aborted) return done({ ok: false, failure: jobFailure('E_ABORTED', 'the job was aborted before it started') });
    signal?.addEventListener('abort', onAbort, { once: true });
    const watch = setInterval(() => {
      if (cpuTimeMs() > cpuTimeLimitMs) abort({ code: 'E_TIMEOUT', message: `the job used more than ${cpuTimeLimitMs} ms of CPU time` });
      else if (wallTimeMs() > wallTimeLimitMs) abort({ code: 'E_TIMEOUT', message: `the job ran for more than ${wallTimeLimitMs} ms of wall-clock time` });
    }, this.#options.pollIntervalMs);

    try {
      const outcome = (await this.#pool.run(message, { transferList, signal: controller.signal })) as JobOutcome;
      const result = done(outcome);
      // A job that finished between two samples but over the limit has still exceeded it.
      if (result.cpuTimeMs <= cpuTimeLimitMs) return result;
      const failure = jobFailure('E_TIMEOUT', `the job used ${Math.round(result.cpuTimeMs)} ms of CPU time, more than ${cpuTimeLimitMs} ms`);
      return { ok: false, failure, cpuTimeMs: result.cpuTimeMs, wallTimeMs: result.wallTimeMs };
    } catch (error) {
      // The thread was terminated or died (or, for a bug, threw): the next job waits for a loaded thread.
      this.#warm = this.#warmUp();
      if (stop) return done({ ok: false, failure: jobFailure(stop.code, stop.message) });
      if ((error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        const message = `the job thread ran out of heap (limit ${this.#options.maxOldGenerationSizeMb} MiB old generation)`;
        return done({ ok: false, failure: jobFailure('E_OUT_OF_MEMORY', message) });
      }
      throw error;
    } finally {
      clearInterval(watch);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
