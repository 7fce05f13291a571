/**
 * The messages between the worker's main thread (`jobRunner.ts`) and its job thread
 * (`jobThread.ts`): one task in, one outcome out. Buffers in both are transferred, not copied.
 */
import type { JobFailure } from '../../shared/jobError.js';
import type { ExecuteLimits, PrepareLimits } from '../../shared/limits.js';
import type { Abi } from '../../shared/prevalidate.js';

export interface PrepareTask {
  kind: 'prepare';
  code: Uint8Array;
  limits: PrepareLimits;
  /** Hex sha256 of the preparation parameters, written into the artifact. */
  paramsHash: string;
  /** CPU time compiling the module may take (each execute compiles it again under the same bound). Default: no bound but the job's. */
  compileTimeoutMs?: number;
}

export interface ExecuteTask {
  kind: 'execute';
  artifact: Uint8Array;
  /** The input, followed (from `inputBytes` on) by the argv, environment and files section (`shared/jobFiles.ts`). */
  input: Uint8Array;
  /** Where the input ends; undefined when `input` is all input (no section: default argv, no files). */
  inputBytes?: number;
  abi: Abi;
  limits: ExecuteLimits;
  /** The job's fuel; `limits.maxFuel` when absent. */
  fuel?: number;
  /** A buffer of the worker's pool for the output sink to start in (moved, comes back with the output). */
  outputStore?: ArrayBuffer;
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

/** What an execute job ends with, whether it succeeded or failed while running. */
export interface ExecuteEnd {
  output: Uint8Array;
  log: Uint8Array;
  logTruncated: boolean;
  /** The files the job created or changed, encoded (`encodeFileList`); empty when there are none. */
  files: Uint8Array;
  memoryPages: number | undefined;
  maxMemoryPages: number | undefined;
}

export interface ExecuteSuccess extends ExecuteEnd {
  ok: true;
  kind: 'execute';
  fuelUsed: number;
}

export interface JobFailed {
  ok: false;
  failure: JobFailure;
  /** An execute job that failed while running: what it had produced. */
  partial?: ExecuteEnd;
}

export type JobOutcome = PrepareSuccess | ExecuteSuccess | JobFailed;

/** What the job thread answers a task with: the outcome (null for a warm-up), or the bug that stopped it. */
export type ThreadReply = { ok: true; outcome: JobOutcome | null; returned?: ArrayBuffer[] } | { ok: false; message: string };

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
