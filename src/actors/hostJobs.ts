import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Frame } from '../protocol/frame.js';
import {
  MessageType,
  type ExecuteReply,
  type ExecuteRequest,
  type JobFailureHeader,
  type JobUsage,
  type PrepareReply,
  type PrepareRequest,
  type WorkerKind,
} from '../protocol/messages.js';
import { CorruptedArtifactError, ProtocolError, WorkerDiedError, errorFromFailure, type WardenError } from '../errors.js';
import type { JobFailureReason } from '../machines/index.js';
import { WorkerDirFile, clearWorkerDir, linkArtifact } from '../sandbox/workerDir.js';
import type { Abi } from '../artifactHandle.js';
import type { Priority } from './jobQueue.js';
import type { Isolation, JobWorker, PoolJob } from './poolJob.js';
import type { ArtifactCache, ArtifactEntry } from './artifactCache.js';

/** What every job reports when it settles. */
export interface JobReport {
  jobId: string;
  kind: WorkerKind;
  workerId: string | undefined;
  attempts: number;
}

/** What a job cost: its times and memory, and for an execute job its fuel. */
export type JobCost = JobUsage & { fuelUsed?: number };

/** How jobs talk back to the host (events, retries, recovery). */
export interface JobHooks {
  started(job: PoolJob & { attempts: number }, worker: JobWorker): void;
  succeeded(job: PoolJob, worker: JobWorker, usage: JobCost): void;
  failed(job: PoolJob, error: WardenError): void;
  /** Submit the job again (a retry after a lost worker). */
  resubmit(job: PoolJob): void;
}

export interface JobCommon {
  id: string;
  priority: Priority;
  isolation: Isolation;
  signal: AbortSignal | undefined;
  deadline: number | undefined;
  cpuTimeLimitMs: number;
  hardTimeoutMs: number;
  hooks: JobHooks;
}

/** Settle-once plumbing shared by both job kinds. */
abstract class BaseJob<T = unknown> implements PoolJob {
  abstract readonly kind: WorkerKind;
  abstract readonly request: PoolJob['request'];
  readonly id: string;
  readonly priority: Priority;
  readonly isolation: Isolation;
  readonly signal: AbortSignal | undefined;
  readonly deadline: number | undefined;
  readonly hardTimeoutMs: number;
  readonly promise: Promise<T>;
  attempts = 0;
  lastWorkerId: string | undefined;
  protected readonly common: JobCommon;
  #resolve!: (value: T) => void;
  #reject!: (error: WardenError) => void;
  #settled = false;

  constructor(common: JobCommon) {
    this.common = common;
    this.id = common.id;
    this.priority = common.priority;
    this.isolation = common.isolation;
    this.signal = common.signal;
    this.deadline = common.deadline;
    this.hardTimeoutMs = common.hardTimeoutMs;
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The caller may never await a job it abandoned; an unhandled rejection must not crash the host.
    this.promise.catch(() => {});
  }

  get settled(): boolean {
    return this.#settled;
  }

  started(worker: JobWorker): void {
    this.attempts++;
    this.lastWorkerId = worker.id;
    this.common.hooks.started(this, worker);
  }

  async populate(_worker: JobWorker): Promise<void> {}

  abstract collect(worker: JobWorker, reply: Frame): Promise<void>;

  failed(reason: JobFailureReason | 'cancelled', error: WardenError, _worker: JobWorker | undefined): void {
    if (this.#settled) return;
    // PVF's rule: a worker that died under a job may have died of the machine, not the code;
    // retry once on a fresh worker before reporting it.
    if (reason === 'lost' && this.attempts < 2 && error instanceof WorkerDiedError) {
      this.common.hooks.resubmit(this);
      return;
    }
    this.reject(error);
  }

  protected resolve(value: T, worker: JobWorker, usage: JobCost): void {
    if (this.#settled) return;
    this.#settled = true;
    this.common.hooks.succeeded(this, worker, usage);
    this.#resolve(value);
  }

  /** The usage figures of a reply, checked: the worker is untrusted, and they reach events and metrics. A bad one fails the job and the worker. */
  protected usageOf(header: JobUsage, worker: JobWorker): JobUsage {
    const { cpuTimeMs, wallTimeMs, peakRssBytes } = header;
    for (const value of [cpuTimeMs, wallTimeMs, peakRssBytes]) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        this.failReply(new ProtocolError(`worker ${worker.id} sent a reply with bad usage figures`, { details: { cpuTimeMs, wallTimeMs, peakRssBytes } }));
      }
    }
    return { cpuTimeMs, wallTimeMs, peakRssBytes };
  }

  /** The error a failure reply reports, its fields checked: they become the caller's error. */
  protected failureOf(header: { failure: unknown }, worker: JobWorker, times: JobUsage): WardenError {
    const failure = header.failure as Partial<JobFailureHeader> | null | undefined;
    if (typeof failure?.code !== 'string' || typeof failure.message !== 'string') {
      this.failReply(new ProtocolError(`worker ${worker.id} sent a failure reply without a code and message`));
    }
    const fuel = failure.fuelUsed === undefined ? {} : { fuelUsed: this.fuelUsedOf(failure.fuelUsed, worker) };
    return errorFromFailure({ code: failure.code, message: failure.message }, { jobId: this.id, workerId: worker.id, ...times, ...fuel });
  }

  /** A reply's fuel used, checked like the usage figures: a whole number no larger than the job's fuel. */
  protected fuelUsedOf(value: unknown, worker: JobWorker): number {
    const fuel = (this.request.header as { fuel?: unknown }).fuel;
    if (!Number.isSafeInteger(value) || (value as number) < 0 || typeof fuel !== 'number' || (value as number) > fuel) {
      this.failReply(new ProtocolError(`worker ${worker.id} sent a reply with a bad fuelUsed`, { details: { fuelUsed: value, fuel } }));
    }
    return value as number;
  }

  /** A reply that breaks the protocol: the job fails, and so does the collect step (the worker is killed). */
  protected failReply(error: ProtocolError): never {
    this.reject(error);
    throw error;
  }

  protected reject(error: WardenError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.common.hooks.failed(this, error);
    this.#reject(error);
  }

  report(): JobReport {
    return { jobId: this.id, kind: this.kind, workerId: this.lastWorkerId, attempts: this.attempts };
  }
}

export type { BaseJob };

/** A size field of a reply: a whole number of bytes a buffer can hold. */
function isByteCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** A prepare job: code in, a verified artifact installed in the cache out. */
export class PrepareJob extends BaseJob<{ entry: ArtifactEntry; exports: string[] }> {
  readonly kind = 'prepare' as const;
  readonly request: PoolJob['request'];

  constructor(
    common: JobCommon,
    readonly key: string,
    readonly paramsHash: string,
    code: Uint8Array,
    limits: PrepareRequest['limits'],
    private readonly cache: ArtifactCache,
  ) {
    super(common);
    const header: PrepareRequest = { limits, paramsHash, cpuTimeLimitMs: common.cpuTimeLimitMs, isolation: common.isolation };
    this.request = { type: MessageType.Prepare, header, body: code, replyType: MessageType.PrepareResult };
    this.maxArtifactBytes = limits.maxArtifactBytes;
  }

  private readonly maxArtifactBytes: number;

  async collect(worker: JobWorker, reply: Frame): Promise<void> {
    const header = reply.header as PrepareReply;
    const times = this.usageOf(header, worker);
    if (!header.ok) {
      this.reject(this.failureOf(header, worker, times));
      return;
    }
    const { exports } = header;
    if (!Array.isArray(exports) || !exports.every((name) => typeof name === 'string')) {
      this.failReply(new ProtocolError(`worker ${worker.id} sent a prepare reply whose exports are not a list of names`));
    }
    // The worker's file is untrusted: the cache opens it without following links or
    // blocking, checks it and copies it in. A bad one rejects this job (the collect step fails).
    try {
      const entry = await this.cache.installFrom(this.key, path.join(worker.hostDir, WorkerDirFile.tmpArtifact), {
        maxBytes: this.maxArtifactBytes,
        expectedParamsHash: this.paramsHash,
      });
      this.resolve({ entry, exports }, worker, times);
    } catch (error) {
      this.reject(error as WardenError);
      throw error;
    }
  }
}

/** Raised by populate when the cached artifact is gone; the host prepares it again. */
export class MissingArtifactError extends CorruptedArtifactError {}

export interface ExecuteOutcome {
  output: Uint8Array;
  log: Uint8Array;
  logTruncated: boolean;
  /** Fuel the job used: the same for the same module, input and limits, on any machine. */
  fuelUsed: number;
  cpuTimeMs: number;
  wallTimeMs: number;
  /** The worker process' peak resident memory after the job: the job's own with `isolation: 'job'`, an upper bound otherwise. */
  peakRssBytes: number;
}

/**
 * A number for the file the cache holds under each key, which changes whenever the cache
 * installs or deletes that key's file. A link that a worker dir kept from an earlier job is
 * the cache's current file only while the numbers match: an artifact deleted and prepared
 * again (a recovery) is a new file under the same key. 0 stands for a file found when the
 * cache opened.
 */
export class ArtifactGenerations {
  #byKey = new Map<string, number>();
  #last = 0;

  constructor(cache: ArtifactCache) {
    cache.on('artifact:installed', ({ key }) => this.#byKey.set(key, ++this.#last));
    cache.on('artifact:deleted', ({ key }) => this.#byKey.delete(key));
  }

  /**
   * The generation of the file cached under `key`; meaningful only while the cache holds it
   * (the caller has pinned it): the cache drops a key from its index before it deletes the
   * file, and installs a file before it announces it.
   */
  of(key: string): number {
    return this.#byKey.get(key) ?? 0;
  }
}

/** An execute job: the artifact hard-linked into the worker dir, input in, output out. */
export class ExecuteJob extends BaseJob<ExecuteOutcome & { workerId: string }> {
  readonly kind = 'execute' as const;
  readonly request: PoolJob['request'];
  #pinned = false;
  /** Inode of the artifact file this job ran against: a recovery must not delete a newer one. */
  linkedIno: number | undefined;

  constructor(
    common: JobCommon,
    readonly artifactKey: string,
    abi: Abi,
    input: Uint8Array,
    limits: ExecuteRequest['limits'],
    fuel: number,
    private readonly cache: ArtifactCache,
    private readonly generations: ArtifactGenerations,
    /** Called for a corrupted or missing artifact: delete it, prepare again, run once more. */
    private readonly recover: (job: ExecuteJob, error: CorruptedArtifactError) => boolean,
  ) {
    super(common);
    const header: ExecuteRequest = { abi, limits, cpuTimeLimitMs: common.cpuTimeLimitMs, isolation: common.isolation, fuel };
    this.request = { type: MessageType.Execute, header, body: input, replyType: MessageType.ExecuteResult };
  }

  override async populate(worker: JobWorker): Promise<void> {
    // Pinned while hard-linked into a worker dir: pruning never removes it under a job.
    if (!this.cache.pin(this.artifactKey)) {
      throw new MissingArtifactError(`artifact ${this.artifactKey} is no longer in the cache`, { details: { key: this.artifactKey } });
    }
    this.#pinned = true;
    const generation = this.generations.of(this.artifactKey);
    const kept = worker.linked;
    if (kept?.key === this.artifactKey && kept.generation === generation) {
      // The dir still links the file the cache holds for this key (the clear step after the
      // last job checked the link's inode): no link, unlink or stat for this job.
      this.linkedIno = kept.ino;
      return;
    }
    if (kept) {
      // Another artifact, or an older file of this one: the dir must not offer it to this job.
      worker.linked = undefined;
      await clearWorkerDir(worker.hostDir, 'execute');
    }
    try {
      await linkArtifact(worker.hostDir, this.cache.pathOf(this.artifactKey));
      const { ino } = await fsp.lstat(path.join(worker.hostDir, WorkerDirFile.artifact));
      this.linkedIno = ino;
      worker.linked = { key: this.artifactKey, ino, generation };
    } catch (cause) {
      this.#unpin();
      throw new MissingArtifactError(`cannot link artifact ${this.artifactKey}: ${(cause as Error).message}`, {
        cause,
        details: { key: this.artifactKey },
      });
    }
  }

  async collect(worker: JobWorker, reply: Frame): Promise<void> {
    this.#unpin();
    const header = reply.header as ExecuteReply;
    const times = this.usageOf(header, worker);
    if (!header.ok) {
      const error = this.failureOf(header, worker, times);
      if (error instanceof CorruptedArtifactError && this.recover(this, error)) return;
      this.reject(error);
      return;
    }
    const body = reply.body;
    const { outputBytes, logBytes, logTruncated } = header;
    if (!isByteCount(outputBytes) || !isByteCount(logBytes) || typeof logTruncated !== 'boolean') {
      this.failReply(new ProtocolError(`worker ${worker.id} sent a reply with bad body fields`, { details: { outputBytes, logBytes, logTruncated } }));
    }
    if (body.byteLength !== outputBytes + logBytes) {
      this.failReply(new ProtocolError(`worker ${worker.id} sent ${body.byteLength} bytes, announced ${outputBytes + logBytes}`));
    }
    const fuelUsed = this.fuelUsedOf(header.fuelUsed, worker);
    this.resolve(
      {
        output: body.subarray(0, outputBytes),
        log: body.subarray(outputBytes),
        logTruncated,
        fuelUsed,
        ...times,
        workerId: worker.id,
      },
      worker,
      { ...times, fuelUsed },
    );
  }

  override failed(reason: JobFailureReason | 'cancelled', error: WardenError, worker: JobWorker | undefined): void {
    this.#unpin();
    if (reason === 'populate-failed' && error instanceof MissingArtifactError && this.recover(this, error)) return;
    super.failed(reason, error, worker);
  }

  /** Rejects from outside (the recovery failed). */
  fail(error: WardenError): void {
    this.reject(error);
  }

  #unpin(): void {
    if (!this.#pinned) return;
    this.#pinned = false;
    this.cache.unpin(this.artifactKey);
  }
}
