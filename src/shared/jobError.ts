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
}

/** The codes a job produces, with their `deterministic` flag as `src/errors.ts` declares it. */
export const JOB_ERROR_CODES = {
  E_PREVALIDATION: true,
  E_DECOMPRESS: true,
  E_PREPARATION: true,
  E_TRAP: true,
  E_TIMEOUT: false,
  E_OUT_OF_MEMORY: true,
  E_OUTPUT_TOO_LARGE: true,
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

/** Thrown inside a job for a failure caused by the code, its input or its limits (never for bugs). */
export class JobError extends Error {
  override name = 'JobError';
  readonly deterministic: boolean;

  constructor(
    readonly code: JobErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.deterministic = JOB_ERROR_CODES[code];
  }

  toFailure(): JobFailure {
    return { code: this.code, message: this.message, deterministic: this.deterministic };
  }
}

/** A failure built without throwing (the job runner reports timeouts and aborts this way). */
export function jobFailure(code: JobErrorCode, message: string): JobFailure {
  return { code, message, deterministic: JOB_ERROR_CODES[code] };
}
