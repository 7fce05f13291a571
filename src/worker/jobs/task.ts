/**
 * The messages between the worker's main thread (`jobRunner.ts`) and its job thread
 * (`jobThread.ts`): one task in, one outcome out. Buffers in both are transferred, not copied.
 */
import type { JobFailure } from '../../shared/jobError.js';
import type { ExecuteLimits, PrepareLimits } from '../../shared/limits.js';
import type { Abi } from './validate.js';

export interface PrepareTask {
  kind: 'prepare';
  code: Uint8Array;
  limits: PrepareLimits;
  /** Hex sha256 of the preparation parameters, written into the artifact. */
  paramsHash: string;
}

export interface ExecuteTask {
  kind: 'execute';
  artifact: Uint8Array;
  input: Uint8Array;
  abi: Abi;
  limits: ExecuteLimits;
  /** The job's fuel; `limits.maxFuel` when absent. */
  fuel?: number;
}

/** Loads the job thread without running a job, so a fresh thread's start-up is not billed to a job. @internal */
export interface WarmUpTask {
  kind: 'warm-up';
}

export type JobTask = PrepareTask | ExecuteTask;

export interface PrepareSuccess {
  ok: true;
  kind: 'prepare';
  artifact: Uint8Array;
  moduleBytes: number;
  exports: string[];
}

export interface ExecuteSuccess {
  ok: true;
  kind: 'execute';
  output: Uint8Array;
  log: Uint8Array;
  logTruncated: boolean;
  fuelUsed: number;
}

export interface JobFailed {
  ok: false;
  failure: JobFailure;
}

export type JobOutcome = PrepareSuccess | ExecuteSuccess | JobFailed;

/** What the job thread answers a task with: the outcome (null for a warm-up), or the bug that stopped it. */
export type ThreadReply = { ok: true; outcome: JobOutcome | null } | { ok: false; message: string };

/**
 * The ArrayBuffer behind `view` if moving it loses nothing: the view must span all of it (a
 * Buffer from Node's pool shares its ArrayBuffer with unrelated Buffers), and a SharedArrayBuffer
 * is shared anyway.
 */
export function wholeBuffer(view: Uint8Array): ArrayBuffer | undefined {
  const { buffer } = view;
  if (!(buffer instanceof ArrayBuffer)) return undefined;
  return view.byteOffset === 0 && view.byteLength === buffer.byteLength ? buffer : undefined;
}
