/**
 * The failures that exist only once jobs travel through a queue: what a node reads from Redis is
 * input like any other, and each way it can be wrong has its own code.
 */
import { WardenError } from '../errors.js';

/** The job's data is not a warden job (wrong shape, bad base64, a code hash that does not match the code). */
export class JobDataError extends WardenError {
  readonly code = 'E_JOB_DATA';
  readonly deterministic = true;
}

/**
 * The job names code by a hash that Redis does not hold (it expired, was evicted, or was never
 * stored). Not about the code itself, so not deterministic; still not retried: a retry finds
 * no more code than this attempt did.
 */
export class CodeNotFoundError extends WardenError {
  readonly code = 'E_CODE_NOT_FOUND';
  readonly deterministic = false;
}

/**
 * A job failed with a reason that is not a warden failure: BullMQ's own (a job stalled more
 * often than `maxStalledCount`, a lost lock) or one written by other code on the queue.
 */
export class RemoteJobError extends WardenError {
  readonly code = 'E_JOB_FAILED';
  readonly deterministic = false;
}
