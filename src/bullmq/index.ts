/**
 * warden/bullmq: warden nodes on a BullMQ queue. A node (`createWardenWorker`) consumes the
 * queue with its own local host; a producer (`WardenQueue`, `submit`) adds jobs whose code
 * travels by its sha256. See docs/api.md ("warden/bullmq") and docs/scaling.md.
 */
export { createWardenWorker, WardenWorker, type WardenWorkerOptions } from './wardenWorker.js';
export { submit, WardenQueue, type SubmitOptions, type WardenJob, type WardenJobResult, type WardenQueueOptions } from './wardenQueue.js';
export { CodeNotFoundError, JobDataError, RemoteJobError } from './errors.js';
export {
  BULLMQ_PRIORITY,
  FAILURE_BYTES,
  JOB_FORMAT,
  codeHashOf,
  errorOfFailure,
  parseFailedReason,
  type JobOutcome,
  type WardenJobData,
  type WardenJobFailure,
  type WardenJobReturn,
} from './jobData.js';
export type { QueueCounts } from './nodeMetrics.js';
export type { RedisConnection } from './connection.js';
