/**
 * The failure of a job as the job thread reports it. Job threads cannot share classes with the
 * host across the IPC channel, so a failure travels as `JobFailure` (plain data) and the host turns
 * its `code` back into the matching `WardenError` subclass of `src/errors.ts`.
 */

/** A job failure as plain data, safe to clone across threads and to encode on the IPC channel. */
export interface JobFailure {
  /** One of the `code`s of `src/errors.ts`. */
  code: JobErrorCode;
  message: string;
  /** `true` when the outcome depends only on the code and input (see `WardenError`). */
  deterministic: boolean;
  /** E_EXIT: the code the module passed to `proc_exit` (never 0). */
  exitCode?: number;
  /** Fuel the job used before it failed, when it ran any code (execute jobs). */
  fuelUsed?: number;
}

/** The codes a job produces, with their `deterministic` flag as `src/errors.ts` declares it. */
export const JOB_ERROR_CODES = {
  E_PREVALIDATION: true,
  E_DECOMPRESS: true,
  E_PREPARATION: true,
  E_TRAP: true,
  E_EXIT: true,
  E_TIMEOUT: false,
  E_OUT_OF_MEMORY: true,
  E_OUTPUT_TOO_LARGE: true,
  E_OUT_OF_FUEL: true,
  E_STACK_OVERFLOW: true,
  E_NATIVE_STACK_OVERFLOW: false,
  E_CORRUPTED_ARTIFACT: false,
  E_ABORTED: false,
  /** The prepare worker could not write `tmp-artifact` (disk full, file size limit). */
  E_CACHE_IO: false,
} as const;

export type JobErrorCode = keyof typeof JOB_ERROR_CODES;

/**
 * Whether `code` is one a job may end with: the only codes the host accepts from a worker (own
 * keys only: `toString` or `__proto__` are not codes).
 */
export function isJobErrorCode(code: string): code is JobErrorCode {
  return Object.hasOwn(JOB_ERROR_CODES, code);
}

/** What an execute job had produced when it failed: kept so the caller sees what the program said. */
export interface JobPartial {
  output: Uint8Array;
  log: Uint8Array;
  logTruncated: boolean;
  /** Files the job created or changed in its directory. */
  files: [string, Uint8Array][];
  /** Size of the module's memory when it ended, in 64 KiB pages (its peak: memory never shrinks). */
  memoryPages: number | undefined;
  /** The largest size its memory could reach, in pages. */
  maxMemoryPages: number | undefined;
}

/** Thrown inside a job for a failure caused by the code, its input or its limits (never for bugs). */
export class JobError extends Error {
  override name = 'JobError';
  readonly deterministic: boolean;
  /** E_EXIT: the module's exit code. */
  readonly exitCode: number | undefined;
  /** What the job had produced, when it failed while running (set by `execute`). */
  partial: JobPartial | undefined;
  /** Fuel used up to the failure; set by the execute job that saw it. */
  fuelUsed: number | undefined;

  constructor(
    readonly code: JobErrorCode,
    message: string,
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.deterministic = JOB_ERROR_CODES[code];
    this.exitCode = options?.exitCode;
  }

  toFailure(): JobFailure {
    const failure: JobFailure = { code: this.code, message: this.message, deterministic: this.deterministic };
    if (this.exitCode !== undefined) failure.exitCode = this.exitCode;
    if (this.fuelUsed !== undefined) failure.fuelUsed = this.fuelUsed;
    return failure;
  }
}

/** A failure built without throwing (the job runner reports timeouts and aborts this way). */
export function jobFailure(code: JobErrorCode, message: string): JobFailure {
  return { code, message, deterministic: JOB_ERROR_CODES[code] };
}
