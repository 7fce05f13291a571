import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Frame, FrameBody } from '../protocol/frame.js';
import {
  MessageType,
  type ExecuteEndHeader,
  type ExecuteReply,
  type ExecuteRequest,
  type JobFailureHeader,
  type JobUsage,
  type PrepareReply,
  type PrepareRequest,
  type PrimeRequest,
  type WorkerKind,
} from '../protocol/messages.js';
import { CorruptedArtifactError, ProtocolError, WorkerDiedError, errorFromFailure, type WardenError } from '../errors.js';
import { isJobErrorCode } from '../shared/jobError.js';
import { SYNC_COMPILE_BYTES } from '../shared/limits.js';
import type { JobFailureReason } from '../machines/index.js';
import { WorkerDirFile, clearWorkerDir, copyArtifact } from '../sandbox/workerDir.js';
import type { Abi } from '../artifactHandle.js';
import type { Priority } from './jobQueue.js';
import type { Isolation, JobWorker, LinkedArtifact, PoolJob, Primer } from './poolJob.js';
import type { ArtifactCache, ArtifactEntry } from './artifactCache.js';
import type { InputCopy } from '../host/inputBuffers.js';
import { JobFilesFormatError, decodeFileList, encodeJobConfig, maxEncodedBytes, type JobConfig } from '../shared/jobFiles.js';
import { readWorkerFile, workerArtifactRefused } from './artifactCacheCheck.js';
import { cacheIoError, errnoOf } from './artifactCacheErrors.js';
import type { ModuleChecker } from './moduleCheck.js';

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
  /** CPU time compiling a module may take (checked at prepare, the bound of each execute's compile). */
  compileTimeoutMs?: number;
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

  /** It never ran: the retry it is owed after a lost worker stays owed. */
  withdrawn(): void {
    if (this.attempts > 0) this.attempts--;
  }

  /** Nothing to put in the dir by default (a prepare worker's `tmp-artifact` is made with the dir). */
  populate(_worker: JobWorker): Promise<void> | undefined {
    return undefined;
  }

  abstract collect(worker: JobWorker, reply: Frame): Promise<void> | undefined;

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

  /**
   * The error a failure reply reports, its fields checked: they become the caller's error. Only
   * a code a job can end with is taken (src/shared/jobError.ts); its class, and so whether it is
   * `deterministic`, is the host's, whatever the worker says. Any other code fails the job and
   * the worker with E_PROTOCOL: a worker cannot make its job fail as E_HOST_CLOSED or E_INVALID_OPTION.
   */
  protected failureOf(header: { failure: unknown }, worker: JobWorker, times: JobUsage, extra: Record<string, unknown> = {}): WardenError {
    const failure = header.failure as Partial<JobFailureHeader> | null | undefined;
    if (typeof failure?.code !== 'string' || typeof failure.message !== 'string') {
      this.failReply(new ProtocolError(`worker ${worker.id} sent a failure reply without a code and message`));
    }
    if (!isJobErrorCode(failure.code)) {
      this.failReply(
        new ProtocolError(`worker ${worker.id} reported ${JSON.stringify(failure.code.slice(0, 64))}, which is not a job error code`, {
          details: { jobId: this.id, workerId: worker.id, code: failure.code.slice(0, 64) },
        }),
      );
    }
    const details: Record<string, unknown> = { jobId: this.id, workerId: worker.id, ...times, ...extra };
    if (failure.code === 'E_EXIT') {
      // The exit code is the caller's to act on: a worker must send one a program can exit with.
      if (!Number.isInteger(failure.exitCode) || failure.exitCode! < 1 || failure.exitCode! > 0xffff_ffff) {
        this.failReply(new ProtocolError(`worker ${worker.id} sent E_EXIT without a valid exit code`, { details: { exitCode: failure.exitCode } }));
      }
      details.exitCode = failure.exitCode;
    }
    if (failure.fuelUsed !== undefined) details.fuelUsed = this.fuelUsedOf(failure.fuelUsed, worker);
    return errorFromFailure({ code: failure.code, message: failure.message }, details);
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

/**
 * A prepare job: code in, a verified artifact installed in the cache out.
 *
 * It always runs in a process of its own (`isolation: 'job'`, whatever the caller asked): work a
 * job leaves running after its reply dies with its process, so it can never write another
 * tenant's `tmp-artifact`. And the host installs nothing it has not checked: the artifact must be,
 * byte for byte, the one derived from this job's code (`ModuleChecker`, off the event loop).
 */
export class PrepareJob extends BaseJob<{ entry: ArtifactEntry; exports: string[] }> {
  readonly kind = 'prepare' as const;
  readonly request: PoolJob['request'];
  readonly #code: Uint8Array;
  readonly #limits: PrepareRequest['limits'];

  constructor(
    common: JobCommon,
    readonly key: string,
    readonly paramsHash: string,
    code: Uint8Array,
    limits: PrepareRequest['limits'],
    private readonly cache: ArtifactCache,
    private readonly checker: ModuleChecker,
  ) {
    // Always a one-job process, whatever the caller's isolation: work a prepare leaves running
    // never sees another tenant's code, tmp-artifact or result (issue 11, cache poisoning).
    super({ ...common, isolation: 'job' });
    const header: PrepareRequest = { limits, paramsHash, cpuTimeLimitMs: common.cpuTimeLimitMs, isolation: this.isolation };
    if (common.compileTimeoutMs !== undefined) header.compileTimeoutMs = common.compileTimeoutMs;
    this.request = { type: MessageType.Prepare, header, body: code, replyType: MessageType.PrepareResult };
    this.#code = code;
    this.#limits = limits;
  }

  async collect(worker: JobWorker, reply: Frame): Promise<void> {
    const header = reply.header as PrepareReply;
    const times = this.usageOf(header, worker);
    if (!header.ok) {
      this.reject(this.failureOf(header, worker, times));
      return;
    }
    // The exports are not in the reply: they come from the host's own derivation of the code.
    try {
      const entry = await this.#install(worker);
      this.resolve(entry, worker, times);
    } catch (error) {
      this.reject(error as WardenError);
      throw error;
    }
  }

  /**
   * The worker's file is untrusted: it is read without following links or blocking, bounded, and
   * checked against the host's own derivation of the code before its bytes are copied into the
   * cache. A refusal is E_PREPARATION (`details.reason`); the collect step fails with it.
   */
  async #install(worker: JobWorker): Promise<{ entry: ArtifactEntry; exports: string[] }> {
    const file = path.join(worker.hostDir, WorkerDirFile.tmpArtifact);
    const artifact = await readWorkerFile(this.key, file, this.#limits.maxArtifactBytes);
    const verdict = await this.checker.check({ code: this.#code, limits: this.#limits, paramsHash: this.paramsHash, artifact });
    if (!verdict.ok) throw workerArtifactRefused(this.key, file, verdict.reason, verdict.message, { details: { workerId: worker.id } });
    return { entry: await this.cache.installVerified(this.key, verdict.artifact), exports: verdict.exports };
  }
}

/** Raised by populate when the cached artifact is gone; the host prepares it again. */
export class MissingArtifactError extends CorruptedArtifactError {}

export interface ExecuteOutcome {
  output: Uint8Array;
  log: Uint8Array;
  logTruncated: boolean;
  /** Files the job created or changed in its directory, by path (a null-prototype record). */
  files: Record<string, Uint8Array>;
  /** The module's memory when it ended, in 64 KiB pages: its peak (memory never shrinks). Undefined when it exports none. */
  memoryPages: number | undefined;
  /** The most its memory could reach, in pages (its declared maximum within `limits.maxMemoryPages`). */
  maxMemoryPages: number | undefined;
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

  /**
   * A new generation for the file cached under `key`, the file unchanged: copies of it that
   * dirs hold are not reused (each is copied again). For a copy that went bad in a worker dir
   * while the cache's file is sound.
   */
  renew(key: string): void {
    if (this.#byKey.has(key)) this.#byKey.set(key, ++this.#last);
  }
}

/** Artifact copies this process has made into worker dirs: each copy's number (`LinkedArtifact.copy`). */
let artifactCopies = 0;

/**
 * Empties a worker dir of the artifact it holds (another artifact, or an older file of this one,
 * which the dir must not offer any more). Throws `WorkerDirError`.
 */
async function dropLinked(worker: JobWorker): Promise<void> {
  // (A read-only dir is cleared after the first job of each copy, not after every job: see
  // docs/security.md, "Worker dirs".)
  worker.linked = undefined;
  await clearWorkerDir(worker.hostDir, 'execute');
}

/**
 * Copies the cache's file of `key` into an empty worker dir as its `artifact`, and records the
 * copy as the dir's `linked`. The caller has pinned `key`; `cacheIno`, the cache file's inode,
 * when it has read it already.
 */
async function copyIntoDir(worker: JobWorker, key: string, cache: ArtifactCache, generation: number, cacheIno?: number): Promise<LinkedArtifact> {
  const source = cache.pathOf(key);
  const copy = path.join(worker.hostDir, WorkerDirFile.artifact);
  // Both settle before a failure is handled: a copy still under way could not then recreate
  // the file after its removal.
  const [sourceIno, ino] = await Promise.allSettled([
    cacheIno ?? fsp.stat(source).then((stats) => stats.ino),
    copyArtifact(worker.hostDir, source).then(async () => (await fsp.lstat(copy)).ino),
  ]);
  if (sourceIno.status === 'rejected' || ino.status === 'rejected') {
    // Nothing half-copied stays: the next populate of this dir (a job after a failed priming,
    // a retry once space is freed) starts from an empty dir.
    await fsp.rm(copy, { force: true }).catch(() => {});
    throw sourceIno.status === 'rejected' ? sourceIno.reason : (ino as PromiseRejectedResult).reason;
  }
  worker.linked = { key, ino: ino.value, cacheIno: sourceIno.value, generation, copy: ++artifactCopies };
  return worker.linked;
}

/**
 * The artifact of a pool's latest execute job, put in a fresh spare's dir before a job names it
 * (`Primer`): a next job of the same artifact finds the copy in place (no populate I/O) and, the
 * spare asked to load it (`MessageType.Prime`), its module compiled. Only an artifact the worker
 * compiles synchronously (at most SYNC_COMPILE_BYTES).
 */
class ArtifactPrimer implements Primer {
  constructor(
    readonly key: string,
    readonly maxMemoryPages: number,
    private readonly cache: ArtifactCache,
    private readonly generations: ArtifactGenerations,
  ) {}

  async prime(worker: JobWorker): Promise<PrimeRequest | undefined> {
    // Pinned while it is copied: pruning never removes it from under the copy.
    if (worker.linked !== undefined || !this.cache.pin(this.key)) return undefined;
    try {
      const generation = this.generations.of(this.key);
      const source = await fsp.stat(this.cache.pathOf(this.key));
      if (source.size > SYNC_COMPILE_BYTES) return undefined;
      const linked = await copyIntoDir(worker, this.key, this.cache, generation, source.ino);
      return { artifactCopy: linked.copy, maxMemoryPages: this.maxMemoryPages };
    } finally {
      this.cache.unpin(this.key);
    }
  }
}

/** The JSON of each limits object execute requests carry (one per host): encoded once, not at every job. */
const limitsJson = new WeakMap<ExecuteRequest['limits'], string>();

/** An execute request's header as JSON: its limits' text from {@link limitsJson}, the few other fields encoded here. */
export function executeHeaderJson(header: ExecuteRequest): string {
  const { limits, ...rest } = header;
  let encoded = limitsJson.get(limits);
  if (encoded === undefined) {
    encoded = JSON.stringify(limits);
    limitsJson.set(limits, encoded);
  }
  // `rest` always holds the ABI: its JSON is `{...}`, never `{}`.
  return `{"limits":${encoded},${JSON.stringify(rest).slice(1)}`;
}

/** An execute job: the artifact copied into the worker dir, input in, output out. */
export class ExecuteJob extends BaseJob<ExecuteOutcome & { workerId: string }> {
  readonly kind = 'execute' as const;
  readonly request: PoolJob['request'];
  /** The request's header: `populate` names the dir's copy of the artifact in it. */
  readonly #header: ExecuteRequest;
  #pinned = false;
  /** Inode of the cache file this job's artifact came from: a recovery must not delete a newer one. */
  linkedIno: number | undefined;

  constructor(
    common: JobCommon,
    readonly artifactKey: string,
    abi: Abi,
    input: InputCopy,
    config: JobConfig | undefined,
    private readonly limits: ExecuteRequest['limits'],
    fuel: number,
    private readonly cache: ArtifactCache,
    private readonly generations: ArtifactGenerations,
    /** Called for a corrupted or missing artifact: delete it, prepare again, run once more. */
    private readonly recover: (job: ExecuteJob, error: CorruptedArtifactError) => boolean,
  ) {
    super(common);
    const header: ExecuteRequest = { abi, limits, cpuTimeLimitMs: common.cpuTimeLimitMs, isolation: common.isolation, fuel };
    if (common.compileTimeoutMs !== undefined) header.compileTimeoutMs = common.compileTimeoutMs;
    this.#header = header;
    let body: FrameBody = input.bytes;
    if (config !== undefined) {
      // argv, environment and files travel after the input, as raw bytes: written part by part, not copied together.
      header.inputBytes = input.bytes.byteLength;
      body = [input.bytes, encodeJobConfig(config)];
    }
    // The reply's body is the output, the log, then the files section, each bounded by its limit:
    // a longer one is refused at its head.
    const maxReplyBody = limits.maxOutputBytes + limits.maxLogBytes + maxEncodedBytes(limits).reply;
    this.request = {
      type: MessageType.Execute,
      header,
      headerJson: () => executeHeaderJson(header),
      body,
      replyType: MessageType.ExecuteResult,
      maxReplyBody,
      hold: () => input.hold(),
    };
    // The input's memory goes back once the job is settled and no write of it is under way.
    const release = (): void => input.release();
    this.promise.then(release, release);
  }

  /** What readies a fresh spare for a next job of this artifact: `current` when it already does. */
  primer(current: Primer | undefined): Primer {
    const maxPages = this.limits.maxMemoryPages;
    if (current instanceof ArtifactPrimer && current.key === this.artifactKey && current.maxMemoryPages === maxPages) return current;
    return new ArtifactPrimer(this.artifactKey, maxPages, this.cache, this.generations);
  }

  /** The dir holds this key's current copy and the cache still has it: `populate` would do no I/O. */
  ready(worker: JobWorker): boolean {
    const kept = worker.linked;
    return kept?.key === this.artifactKey && kept.generation === this.generations.of(this.artifactKey) && this.cache.has(this.artifactKey);
  }

  /** Puts the artifact in the dir: no I/O at all (undefined) when the dir already holds this key's current copy. */
  override populate(worker: JobWorker): Promise<void> | undefined {
    // Pinned while the job runs: pruning never removes it from under the copy or a recovery.
    // (A pipelined job its worker gave back keeps its pin while it waits again.)
    if (!this.#pinned && !this.cache.pin(this.artifactKey)) {
      throw new MissingArtifactError(`artifact ${this.artifactKey} is no longer in the cache`, { details: { key: this.artifactKey } });
    }
    this.#pinned = true;
    const generation = this.generations.of(this.artifactKey);
    const kept = worker.linked;
    if (kept?.key === this.artifactKey && kept.generation === generation) {
      // The dir still holds a copy of the file the cache holds for this key: its process could
      // not change it (a read-only dir), or the clear step after the last job checked the
      // copy's inode. No copy, unlink or stat for this job.
      this.linkedIno = kept.cacheIno;
      this.#header.artifactCopy = kept.copy;
      return undefined;
    }
    return this.#copyIn(worker, kept, generation);
  }

  async #copyIn(worker: JobWorker, kept: JobWorker['linked'], generation: number): Promise<void> {
    if (kept) await dropLinked(worker);
    try {
      const linked = await copyIntoDir(worker, this.artifactKey, this.cache, generation);
      this.linkedIno = linked.cacheIno;
      this.#header.artifactCopy = linked.copy;
    } catch (cause) {
      this.#unpin();
      throw await this.#copyError(worker, cause);
    }
  }

  /**
   * Why a copy failed: the cache's file gone is a missing artifact (prepared again, the job run
   * once more); anything else (a full disk, EIO) is the host's I/O, E_CACHE_IO, and the cached
   * artifact, which may be fine, is kept.
   */
  async #copyError(worker: JobWorker, cause: unknown): Promise<WardenError> {
    const missing = await fsp.stat(this.cache.pathOf(this.artifactKey)).then(
      () => false,
      (error: unknown) => errnoOf(error) === 'ENOENT',
    );
    if (missing) {
      return new MissingArtifactError(`cannot copy artifact ${this.artifactKey} into worker ${worker.id}'s dir: ${(cause as Error)?.message ?? String(cause)}`, {
        cause,
        details: { key: this.artifactKey },
      });
    }
    return cacheIoError('copy into worker dir', path.join(worker.hostDir, WorkerDirFile.artifact), cause, { key: this.artifactKey, workerId: worker.id });
  }

  /** Turns the reply into the outcome at once: nothing to wait for (undefined). A bad reply throws. */
  collect(worker: JobWorker, reply: Frame): undefined {
    this.#unpin();
    const header = reply.header as ExecuteReply;
    const times = this.usageOf(header, worker);
    if (!header.ok) {
      // A job that failed while running sends what it had produced: it goes to the error's details.
      const ended = header.outputBytes === undefined && reply.body.byteLength === 0 ? undefined : this.#endOf(header, reply.body, worker);
      const error = this.failureOf(header, worker, times, ended ?? {});
      if (error instanceof CorruptedArtifactError && this.recover(this, error)) return;
      this.reject(error);
      return;
    }
    const fuelUsed = this.fuelUsedOf(header.fuelUsed, worker);
    this.resolve({ ...this.#endOf(header, reply.body, worker), fuelUsed, ...times, workerId: worker.id }, worker, { ...times, fuelUsed });
  }

  /**
   * What an execute job ended with, from an untrusted reply: every size a whole number within its
   * limit, the sizes adding up to the body, the files section well formed with names that stay in
   * the job's directory. Anything else fails the job and kills the worker (E_PROTOCOL).
   */
  #endOf(header: Partial<ExecuteEndHeader>, body: Uint8Array, worker: JobWorker): Omit<ExecuteOutcome, 'cpuTimeMs' | 'wallTimeMs' | 'peakRssBytes' | 'fuelUsed'> {
    const { outputBytes, logBytes, logTruncated, memoryPages, maxMemoryPages } = header;
    // No files section is the same as an empty one.
    const filesBytes = header.filesBytes ?? 0;
    const bad = (what: string): never =>
      this.failReply(new ProtocolError(`worker ${worker.id} sent a reply with ${what}`, { details: { outputBytes, logBytes, logTruncated, filesBytes, memoryPages, maxMemoryPages } }));
    if (!isByteCount(outputBytes) || !isByteCount(logBytes) || !isByteCount(filesBytes) || typeof logTruncated !== 'boolean') bad('bad body fields');
    if (outputBytes! > this.limits.maxOutputBytes || logBytes! > this.limits.maxLogBytes) bad('more output or log than its limits');
    for (const pages of [memoryPages, maxMemoryPages]) {
      if (pages !== undefined && (!Number.isSafeInteger(pages) || pages < 0 || pages > 65_536)) bad('a bad memory size');
    }
    if (body.byteLength !== outputBytes! + logBytes! + filesBytes!) bad(`${body.byteLength} body bytes, announced ${outputBytes! + logBytes! + filesBytes!}`);
    let files: [string, Uint8Array][] = [];
    if (filesBytes! > 0) {
      try {
        files = decodeFileList(body.subarray(outputBytes! + logBytes!), this.limits);
      } catch (error) {
        if (!(error instanceof JobFilesFormatError)) throw error;
        bad(`a bad files section: ${error.message}`);
      }
    }
    const byName: Record<string, Uint8Array> = Object.create(null);
    for (const [name, data] of files) byName[name] = data;
    return {
      output: body.subarray(0, outputBytes),
      log: body.subarray(outputBytes!, outputBytes! + logBytes!),
      logTruncated: logTruncated!,
      files: byName,
      memoryPages,
      maxMemoryPages,
    };
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
