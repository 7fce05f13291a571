/**
 * The bounds a job runner applies, and how it words each one, for both runners of jobs: the job
 * thread's (`jobRunner.ts`) and an execute worker's main thread (`inlineRunner.ts`).
 */
import { jobFailure } from '../shared/jobError.js';
import type { JobOutcome } from './jobs/task.js';

/**
 * Monotonic wall-clock time in ms, for the runners' job timings. Not `performance.now()`: node
 * loads `perf_hooks` on the first read of the `performance` global, ~0.9 ms (`node -e`) that a
 * fresh worker paid in its warm-up or first job.
 */
export function wallNowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The compile's own bound, past which a compiling job is stopped: its message, or undefined within it. */
export function compileOverrun(processCpuMs: number, wallMs: number, limitMs: number, wallFactor: number): string | undefined {
  if (processCpuMs > limitMs) return `compiling the module used more than ${limitMs} ms of CPU time (compileTimeoutMs)`;
  if (wallMs > limitMs * wallFactor) return `compiling the module took more than ${limitMs * wallFactor} ms of wall-clock time`;
  return undefined;
}

/** A running job stopped for its CPU time. */
export function cpuStopMessage(limitMs: number): string {
  return `the job used more than ${limitMs} ms of CPU time`;
}

/** A running job stopped for its wall-clock time (`wallMs`: the CPU limit times the wall factor). */
export function wallStopMessage(wallMs: number): string {
  return `the job ran for more than ${wallMs} ms of wall-clock time`;
}

/** A job that ended over its CPU limit before any watch saw it has still exceeded it: E_TIMEOUT, whatever it answered. */
export function withinCpuLimit(result: RunResult, limitMs: number): RunResult {
  if (result.cpuTimeMs <= limitMs) return result;
  const failure = jobFailure('E_TIMEOUT', `the job used ${Math.round(result.cpuTimeMs)} ms of CPU time, more than ${limitMs} ms`);
  return { ok: false, failure, cpuTimeMs: result.cpuTimeMs, wallTimeMs: result.wallTimeMs, ...(result.returned === undefined ? {} : { returned: result.returned }) };
}

/** A job whose signal was aborted before it started. */
export const ABORTED_BEFORE_START = 'the job was aborted before it started';

export interface RunOptions {
  /**
   * CPU time the job may use, in ms; past it the job is stopped and the job fails with
   * E_TIMEOUT. A prepare job counts the whole process's CPU time; an execute job counts its own
   * thread's, from the moment its module is compiled (see `compileTimeLimitMs`).
   */
  cpuTimeLimitMs: number;
  /**
   * Execute jobs: CPU time (the whole process's: V8 compiles on background threads) that loading
   * and compiling the module may take before the job's own budget starts. Default: `cpuTimeLimitMs`.
   */
  compileTimeLimitMs?: number;
  /** Aborting fails the job with E_ABORTED (the thread is terminated if the job was running). */
  signal?: JobSignal;
}

/** What a runner watches to be stopped: an AbortSignal's shape (a test may pass a real one). */
export interface JobSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * A job's abort switch, one per job on the worker's line. Node's AbortController is an
 * EventTarget: making one, adding a listener and removing it costs ~7 µs per job and garbage the
 * worker's collector marks (`node -e` loop, 2026-12-06); this is a flag and a list. Listeners
 * run once, at the first `abort`; one added after it never runs (an aborted signal's event is
 * over), so a runner checks `aborted` before it starts.
 */
export class JobAbort implements JobSignal {
  #aborted = false;
  #listeners: (() => void)[] = [];

  get aborted(): boolean {
    return this.#aborted;
  }

  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (!this.#aborted) this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.#listeners.indexOf(listener);
    if (at >= 0) this.#listeners.splice(at, 1);
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener();
  }
}

/**
 * A job's outcome with the time it took (CPU time as `RunOptions.cpuTimeLimitMs` counts it), and
 * the pooled buffers the job thread is done with (the task's input), for the caller's pool.
 */
export type RunResult = JobOutcome & { cpuTimeMs: number; wallTimeMs: number; returned?: ArrayBuffer[] };
