import type { Frame, FrameBody } from '../protocol/frame.js';
import type { PrimeRequest, WorkerKind } from '../protocol/messages.js';
import type { JobFailureReason } from '../machines/index.js';
import type { WardenError } from '../errors.js';
import type { Priority } from './jobQueue.js';

/** How far jobs are kept apart: a reused worker process, or a process of its own. */
export type Isolation = 'worker' | 'job';

/** The artifact copy an execute worker's dir keeps between jobs (see `ExecuteJob.populate`). */
export interface LinkedArtifact {
  key: string;
  /** Inode of the copy: the clear step keeps it only while `artifact` is still this file. */
  ino: number;
  /** Inode of the cache file it was copied from: a recovery deletes only that file. */
  cacheIno: number;
  /** The cache's generation of `key` when it was copied (see `ArtifactGenerations`). */
  generation: number;
  /** This copy's number, never given to another copy by this process (`ExecuteRequest.artifactCopy`). */
  copy: number;
}

/** The worker a job runs on, as the job sees it: one object per worker, for its whole life. */
export interface JobWorker {
  readonly id: string;
  /** The worker dir on the host side. */
  readonly hostDir: string;
  /** What its dir links as `artifact` between jobs; undefined when the clear step left it empty. */
  linked: LinkedArtifact | undefined;
}

/**
 * What readies a fresh spare for the next job of an artifact before that job comes: the pool
 * keeps one, from its latest execute job, and primes its spares with it while they are idle.
 */
export interface Primer {
  readonly key: string;
  /**
   * Puts what such a job needs in the empty dir of a spare and returns the Prime to send it
   * (`MessageType.Prime`), or undefined when there is nothing to prime with (the dir holds an
   * artifact already, the cache lost the key, an artifact too large). Rejects if the copy fails.
   */
  prime(worker: JobWorker): Promise<PrimeRequest | undefined>;
}

/**
 * One unit of work for a pool. The pool runs it through a worker machine; the job knows how
 * to fill the worker dir, what to send and how to turn the reply into its outcome. It
 * settles itself (exactly once) through `collect` or `failed`.
 */
export interface PoolJob {
  readonly id: string;
  readonly kind: WorkerKind;
  readonly priority: Priority;
  /**
   * `worker`: any idle worker (reuse). `job`: a process that never ran another job, killed
   * once this one is done, so nothing a job leaves behind can see the next one.
   */
  readonly isolation: Isolation;
  readonly signal: AbortSignal | undefined;
  /** Epoch ms; past it the job fails with E_DEADLINE, waiting or running. */
  readonly deadline: number | undefined;
  /** The wall-clock bound after which the worker is killed. */
  readonly hardTimeoutMs: number;
  /**
   * The frame to send once the dir is ready; its reply may carry at most `maxReplyBody` bytes of
   * body (default 0). `hold`, where the body is memory reused after the job: called as each write
   * of it begins, it returns what to call once that write has ended (written or not).
   * `headerJson`, when there: the header's JSON, which the job builds faster than
   * `JSON.stringify(header)` would (parts of it encoded once); what it says is `header`.
   */
  readonly request: { type: number; header: unknown; headerJson?: () => string; body?: FrameBody; replyType: number; maxReplyBody?: number; hold?: () => () => void };
  /** True once the job has its outcome (result or error). */
  readonly settled: boolean;
  /**
   * Fill the worker dir (execute: copy the artifact in). Returns undefined when the dir already
   * holds what the job needs (no I/O: the worker skips `populating`). A throw or rejection fails
   * the populate step.
   */
  populate(worker: JobWorker): Promise<void> | undefined;
  /**
   * Whether the dir already holds what the job needs, so that `populate` would do no I/O: only
   * such a job is sent to a worker while it runs another (pipelining). Absent: never.
   */
  ready?(worker: JobWorker): boolean;
  /**
   * What primes a spare for a next job like this one (`current` when it does already); absent
   * for jobs that need nothing but their request (prepare).
   */
  primer?(current: Primer | undefined): Primer;
  /**
   * Turn the reply into the outcome and settle. Returns undefined when that took no I/O (the
   * worker skips `collecting`). A throw or rejection fails the collect step (the job settles with it).
   */
  collect(worker: JobWorker, reply: Frame): Promise<void> | undefined;
  /** The job ended without a result: decide (retry, recover or reject) and settle. */
  failed(reason: JobFailureReason | 'cancelled', error: WardenError, worker: JobWorker | undefined): void;
  /** Called when the job is handed to a worker. */
  started(worker: JobWorker): void;
  /** The worker gave it back unstarted after the host counted it started (a withdrawal that crossed its start): that start does not count. */
  withdrawn?(): void;
}
