import type { JobCommon, JobHooks } from '../actors/hostJobs.js';
import type { Pool } from '../actors/pool.js';
import type { PoolJob } from '../actors/poolJob.js';
import type { WardenError } from '../errors.js';
import { hardTimeoutMs, type JobTiming } from '../jobOptions.js';
import type { ResolvedHostOptions } from '../options.js';
import type { WorkerKind } from '../protocol/messages.js';
import type { EventSink } from './emitter.js';

/**
 * Gives each job its id, hard timeout and the host's hooks, and queues it on its pool; what a
 * job reports back (started, succeeded, failed, resubmit) becomes host events.
 */
export class JobDispatcher {
  readonly #pools: Record<WorkerKind, Pool>;
  readonly #options: ResolvedHostOptions;
  readonly #sink: EventSink;
  #jobCounter = 0;

  constructor(pools: Record<WorkerKind, Pool>, options: ResolvedHostOptions, sink: EventSink) {
    this.#pools = pools;
    this.#options = options;
    this.#sink = sink;
  }

  /** The common part of a new job of `kind`. */
  common(kind: WorkerKind, timing: JobTiming): JobCommon {
    return {
      id: `${kind}-job-${++this.#jobCounter}`,
      priority: timing.priority,
      isolation: timing.isolation,
      signal: timing.signal,
      deadline: timing.deadline,
      cpuTimeLimitMs: timing.timeoutMs,
      compileTimeoutMs: this.#options.limits.compileTimeoutMs,
      hardTimeoutMs: hardTimeoutMs(kind, timing.timeoutMs, this.#options.limits),
      hooks: this.#hooks,
    };
  }

  /** Queues a job on its pool; one the pool refuses (full, degraded, stopped) fails with the pool's error. */
  submit(job: PoolJob): void {
    const pool = this.#pools[job.kind];
    try {
      pool.submit(job, () => this.#sink.emitSafely('job:queued', { jobId: job.id, kind: job.kind, priority: job.priority }));
    } catch (error) {
      job.failed('cancelled', error as WardenError, undefined);
    }
  }

  /** How every job talks back to the host: one set of functions for all of them. */
  readonly #hooks: JobHooks = {
    started: (job, worker) => {
      if (this.#sink.listenerCount('job:started') > 0) {
        this.#sink.emitSafely('job:started', { jobId: job.id, kind: job.kind, workerId: worker.id, attempt: job.attempts });
      }
    },
    succeeded: (job, worker, times) => this.#sink.emitSafely('job:succeeded', { jobId: job.id, kind: job.kind, workerId: worker.id, ...times }),
    failed: (job, error) => {
      const fuel = typeof error.details.fuelUsed === 'number' ? { fuelUsed: error.details.fuelUsed } : {};
      this.#sink.emitSafely('job:failed', { jobId: job.id, kind: job.kind, code: error.code, deterministic: error.deterministic, message: error.message, ...fuel });
    },
    resubmit: (job) => this.submit(job),
  };
}
