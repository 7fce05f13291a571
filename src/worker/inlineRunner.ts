/**
 * An execute worker's jobs, run on its own main thread (the PVF host's way): no thread hop per
 * job, no second isolate per worker. What stops a job that does not cooperate is the addon's
 * watchdog (`runGuarded`: V8 TerminateExecution past this thread's CPU limit or the wall-clock
 * bound); the worker answers E_TIMEOUT and takes the next job. A job the host aborts while it
 * runs is stopped by killing the worker (the pool does), as before; the worker's own abort (a
 * Cancel) reaches a job only while its module compiles, when this thread is free to read it.
 *
 * The module's compile, when it is asynchronous (on V8's background threads: a module above
 * 64 KiB, execute.ts), is bounded by `compileTimeLimitMs` of process CPU time, watched from this
 * thread while it waits; a smaller module is validated at once and its size bounds that.
 */
import { JobError, jobFailure, type JobFailure } from '../shared/jobError.js';
import { loadAddon, type NativeAddon } from '../shared/addon.js';
import type { ExecuteResult } from './jobs/execute.js';
import { runExecute } from './jobs/jobTask.js';
import type { ExecuteTask } from './jobs/task.js';
import type { RunOptions, RunResult } from './jobRunner.js';
import { ABORTED_BEFORE_START, compileOverrun, wallNowMs, cpuStopMessage, wallStopMessage, withinCpuLimit } from './jobBounds.js';
import { threadClock } from './threadClock.js';

export interface InlineRunnerOptions {
  /**
   * The V8 stack of the jobs, in MiB (bounds wasm recursion, as a job thread's stack does): this
   * thread's stack limit is set that far below the constructor's caller, less node's buffer.
   * Default 4.
   */
  stackSizeMb?: number;
  /** The wall-clock bound of a job as a multiple of its CPU-time limit (PVF uses 4). Default 4. */
  wallTimeFactor?: number;
  /** How often a compile's CPU time is sampled, in ms. Default 10. */
  pollIntervalMs?: number;
  /** How long a stopped job may take to unwind before the process ends, ms. Default 2000. */
  terminateGraceMs?: number;
}

const NS_PER_MS = 1e6;
/** What node keeps free below a worker thread's V8 stack limit (its kStackBufferSize). */
const STACK_BUFFER_BYTES = 192 * 1024;

/**
 * Runs execute jobs one at a time on the calling (main) thread.
 *
 * @example
 * const runner = new InlineRunner();
 * const result = await runner.run(task, { cpuTimeLimitMs: 2000 });
 */
export class InlineRunner {
  readonly #addon: NativeAddon = loadAddon();
  readonly #clock = threadClock(undefined);
  readonly #factor: number;
  readonly #pollMs: number;
  readonly #graceMs: number;

  constructor(options: InlineRunnerOptions = {}) {
    this.#factor = options.wallTimeFactor ?? 4;
    this.#pollMs = options.pollIntervalMs ?? 10;
    this.#graceMs = options.terminateGraceMs ?? 2000;
    // The thread's stack must be able to grow that far: the launcher's RLIMIT_STACK (workerStackBytes).
    this.#addon.setStackLimit((options.stackSizeMb ?? 4) * 2 ** 20 - STACK_BUFFER_BYTES);
  }

  /** Runs a job; resolves with its outcome (job failures included) and rejects only for warden bugs. */
  async run(task: ExecuteTask, options: RunOptions): Promise<RunResult> {
    const { cpuTimeLimitMs, signal } = options;
    const compileLimitMs = options.compileTimeLimitMs ?? cpuTimeLimitMs;
    const startWall = wallNowMs();
    if (signal?.aborted) return { ok: false, failure: jobFailure('E_ABORTED', ABORTED_BEFORE_START), cpuTimeMs: 0, wallTimeMs: 0 };

    let runStart: { cpuNs: bigint; wall: number } | undefined;
    /** Why the job was answered while its module compiled (it must not run after all). */
    let compileStop: JobFailure | undefined;
    let stopCompile: (failure: JobFailure) => void = () => {};
    const stopped = new Promise<JobFailure>((resolve) => {
      stopCompile = resolve;
    });
    const stop = (failure: JobFailure): void => {
      compileStop = failure;
      stopCompile(failure);
    };
    // Only a compile on V8's background threads waits here: its watch starts with it (a module
    // compiled before, or a small one compiled at once, takes no timer and no sample).
    let watch: ReturnType<typeof setInterval> | undefined;
    const compiling = (): void => {
      const startCpu = process.cpuUsage();
      const compileWall = wallNowMs();
      watch = setInterval(() => {
        const { user, system } = process.cpuUsage(startCpu);
        const overrun = compileOverrun((user + system) / 1000, wallNowMs() - compileWall, compileLimitMs, this.#factor);
        if (overrun !== undefined) stop(jobFailure('E_TIMEOUT', overrun));
      }, this.#pollMs);
    };
    // An abort reaches this thread only while it waits, so only while the module compiles.
    const onAbort = (): void => {
      if (runStart === undefined && compileStop === undefined) stop(jobFailure('E_ABORTED', 'the job was aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    const started = (): bigint => {
      clearInterval(watch);
      // A compile that passed its bound, or was aborted: the job was answered, it does not run after all.
      if (compileStop !== undefined) throw new JobError(compileStop.code, 'the job was answered while its module compiled');
      const cpuNs = this.#clock.markStart();
      runStart = { cpuNs, wall: wallNowMs() };
      return cpuNs;
    };
    const guard = (run: () => ExecuteResult): ExecuteResult => this.#guarded(run, cpuTimeLimitMs);
    try {
      const ran = runExecute(task, { markStart: started, ownNs: () => this.#clock.ownNs() }, { guard, compiling });
      const first = await Promise.race([ran, stopped]);
      if (!('outcome' in first)) return { ok: false, failure: first, cpuTimeMs: 0, wallTimeMs: wallNowMs() - startWall };
      if (first.outcome === null) throw new Error('an execute task ended with no outcome');
      const cpuTimeMs = runStart === undefined ? 0 : Number(this.#clock.ownNs() - runStart.cpuNs) / NS_PER_MS;
      const wallTimeMs = wallNowMs() - (runStart?.wall ?? startWall);
      const result: RunResult = { ...first.outcome, cpuTimeMs, wallTimeMs };
      if (first.returned !== undefined) result.returned = first.returned;
      // A job that finished over its limit before the watchdog looked has still exceeded it (a
      // failure stands as it is: one the watchdog stopped already says why).
      return result.ok ? withinCpuLimit(result, cpuTimeLimitMs) : result;
    } finally {
      clearInterval(watch);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** `run()` under the watchdog; a stop is the job's E_TIMEOUT (what it wrote is lost, as with a killed thread). */
  #guarded(run: () => ExecuteResult, cpuTimeLimitMs: number): ExecuteResult {
    let value: ExecuteResult | undefined;
    let thrown: { error: unknown } | undefined;
    const wallLimitMs = cpuTimeLimitMs * this.#factor;
    const reason = this.#addon.runGuarded(
      () => {
        try {
          value = run();
        } catch (error) {
          thrown = { error };
        }
      },
      cpuTimeLimitMs * NS_PER_MS,
      wallLimitMs * NS_PER_MS,
      this.#graceMs * NS_PER_MS,
    );
    if (reason === 1) throw new JobError('E_TIMEOUT', cpuStopMessage(cpuTimeLimitMs));
    if (reason === 2) throw new JobError('E_TIMEOUT', wallStopMessage(wallLimitMs));
    if (thrown !== undefined) throw thrown.error;
    return value!;
  }
}
