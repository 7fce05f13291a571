/**
 * Turns code into cached artifacts for the host: one shared prepare job per key however many
 * callers ask, the host's own check of what a worker made before it is installed, and the
 * repair of an artifact an execute found corrupted or missing. Knows nothing of pools or
 * events: the host hands it how to build, queue and announce a job (`PreparerLinks`).
 */
import fs from 'node:fs';
import createDebug from 'debug';
import { ArtifactCache } from '../actors/artifactCache.js';
import { ArtifactGenerations, PrepareJob, type ExecuteJob, type JobCommon } from '../actors/hostJobs.js';
import type { Priority } from '../actors/jobQueue.js';
import { ModuleChecker } from '../actors/moduleCheck.js';
import type { PoolJob } from '../actors/poolJob.js';
import { Artifact, artifactCode, exportsOfArtifactFile } from '../artifactHandle.js';
import { PrevalidationError, type CorruptedArtifactError, type WardenError } from '../errors.js';
import type { JobTiming } from '../jobOptions.js';
import { prepareLimitsOf, type ResolvedHostOptions } from '../options.js';
import { preparationParamsHash } from '../shared/derive.js';
import { codeTooLargeMessage } from '../shared/limits.js';
import { withSignal } from './withSignal.js';

const debug = createDebug('warden:host');

/** What the preparer needs of the host around it. */
export interface PreparerLinks {
  /** A job's common part: its id, the host's hooks, its hard timeout. */
  common(kind: 'prepare', timing: JobTiming): JobCommon;
  /** Queues a job on its pool; a job that cannot be queued fails (it never throws). */
  submit(job: PoolJob): void;
  /** Moves a queued job up to `priority` (a no-op when it is already as high, or running). */
  raisePriority(job: PoolJob, priority: Priority): void;
  /** An artifact was prepared and installed. */
  prepared(key: string, size: number): void;
}

export class Preparer {
  /** Which file the cache holds per key, for the artifact links worker dirs keep between jobs. */
  readonly generations: ArtifactGenerations;
  readonly #options: ResolvedHostOptions;
  readonly #cache: ArtifactCache;
  readonly #links: PreparerLinks;
  /** Checks each prepared artifact against the code, on threads of its own: closed with the preparer. */
  readonly #checker: ModuleChecker;
  readonly #preparing = new Map<string, { promise: Promise<Artifact>; job: PrepareJob }>();
  /** Export names of cached artifacts, read once per key (a cache hit must not re-read the file). */
  readonly #exportsByKey = new Map<string, string[]>();
  /** One artifact repair (delete, prepare again) per key at a time. */
  readonly #repairs = new Map<string, Promise<void>>();
  /** Jobs recovered once already: a second corruption fails the job. */
  readonly #recovered = new WeakSet<ExecuteJob>();
  /** Artifact recoveries under way (prepare again, then resubmit): a graceful close waits for them. */
  readonly #recovering = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: ResolvedHostOptions, cache: ArtifactCache, links: PreparerLinks, checker = new ModuleChecker()) {
    this.#options = options;
    this.#cache = cache;
    this.#links = links;
    this.#checker = checker;
    this.generations = new ArtifactGenerations(cache);
  }

  /** Recoveries under way. */
  get recovering(): ReadonlySet<Promise<void>> {
    return this.#recovering;
  }

  /**
   * Prepares checked code (`checkBytes`, shared) into an artifact: from the cache, or by a
   * prepare job shared with every concurrent caller of the same key; each caller waits with
   * its own signal and deadline.
   */
  prepare(bytes: Uint8Array, timing: JobTiming): Promise<Artifact> {
    if (bytes.byteLength > this.#options.limits.maxCodeBytes) {
      return Promise.reject(new PrevalidationError(codeTooLargeMessage(bytes.byteLength, this.#options.limits)));
    }
    // Said plainly, without a worker: "not a WebAssembly module" would send one looking for the wrong file.
    if (bytes.byteLength === 0) return Promise.reject(new PrevalidationError('the code is empty (0 bytes)'));
    return this.#prepareShared(bytes, timing);
  }

  /** The cache, then a shared prepare job per key. Also used by recovery while a graceful close waits. */
  #prepareShared(bytes: Uint8Array, timing: JobTiming): Promise<Artifact> {
    const limits = prepareLimitsOf(this.#options.limits);
    const paramsHash = preparationParamsHash(limits);
    const key = ArtifactCache.keyFor(bytes, paramsHash);
    const entry = this.#cache.lookup(key);
    if (entry) {
      let exports = this.#exportsByKey.get(key);
      if (!exports) {
        exports = exportsOfArtifactFile(entry.path);
        this.#exportsByKey.set(key, exports);
      }
      return Promise.resolve(new Artifact(key, entry.size, exports, bytes, true));
    }
    const inFlight = this.#preparing.get(key);
    let shared = inFlight?.promise;
    if (inFlight) {
      // A caller with a higher priority must not wait at the first caller's.
      this.#links.raisePriority(inFlight.job, timing.priority);
    } else {
      // The shared job is not tied to the first caller's signal: each caller can give up on
      // its own without cancelling the others' preparation.
      const common = this.#links.common('prepare', { ...timing, signal: undefined, deadline: undefined });
      const job = new PrepareJob(common, key, paramsHash, bytes, limits, this.#cache, this.#checker);
      this.#links.submit(job);
      shared = job.promise.then(({ entry: installed, exports }) => {
        this.#exportsByKey.set(key, exports);
        this.#links.prepared(key, installed.size);
        return new Artifact(key, installed.size, exports, bytes, false);
      });
      this.#preparing.set(key, { promise: shared, job });
      const forget = (): void => {
        this.#preparing.delete(key);
      };
      shared.then(forget, forget);
    }
    return withSignal(shared!, timing.signal, timing.deadline);
  }

  /**
   * A corrupted or missing artifact under `job`: its cached file checked (sound: kept, copied
   * anew), else deleted and the code prepared again; then the job runs once more. False when the
   * job cannot be recovered (a second time, no code, stopped).
   */
  recover(job: ExecuteJob, artifact: Artifact, error: CorruptedArtifactError): boolean {
    const code = artifactCode(artifact);
    if (this.#recovered.has(job) || !code || this.#stopped) return false;
    this.#recovered.add(job);
    debug('recovering artifact %s for job %s: %s', artifact.key, job.id, error.message);
    const recovery = (async () => {
      try {
        await this.#repairArtifact(artifact.key, code, job.linkedIno, job.priority);
        this.#links.submit(job);
      } catch (prepareError) {
        job.fail(prepareError as WardenError);
      }
    })();
    this.#recovering.add(recovery);
    void recovery.finally(() => this.#recovering.delete(recovery));
    return true;
  }

  /** Whether the cache's file of `key` reads back whole and passes its checks (`verify`, which deletes a bad one). */
  async #soundInCache(key: string): Promise<boolean> {
    try {
      return await this.#cache.verify(key);
    } catch (error) {
      // It cannot be read (EIO, gone meanwhile): repaired as a bad one.
      debug('artifact %s: cannot verify the cached file: %s', key, (error as Error).message);
      return false;
    }
  }

  /**
   * Deletes a bad artifact and prepares it again (a sound cached file is kept, its copies made
   * anew), once per key however many jobs report it.
   * A job that ran against an older file than the one now cached (another job's repair
   * already replaced it) needs no repair: it just runs again.
   */
  #repairArtifact(key: string, code: Uint8Array, seenIno: number | undefined, priority: Priority): Promise<void> {
    const inFlight = this.#repairs.get(key);
    if (inFlight) return inFlight;
    let currentIno: number | undefined;
    try {
      currentIno = fs.statSync(this.#cache.pathOf(key)).ino;
    } catch {
      // missing: repair
    }
    if (currentIno !== undefined && seenIno !== undefined && currentIno !== seenIno && this.#cache.has(key)) return Promise.resolve();
    const repair = (async () => {
      // The job's copy failed its checks (or its worker says so): the cache's own file is read
      // and checked before anything is deleted. Sound, it stays, and only the copies made of it
      // are made again (a worker's word cannot empty the shared cache).
      if (currentIno !== undefined && (await this.#soundInCache(key))) {
        debug('artifact %s: the cached file is sound; its copies are made again', key);
        this.generations.renew(key);
        return;
      }
      this.#exportsByKey.delete(key);
      await this.#cache.delete(key, 'corrupted');
      await this.#prepareShared(code, {
        priority,
        isolation: this.#options.isolation,
        timeoutMs: this.#options.limits.prepareTimeoutMs,
        signal: undefined,
        deadline: undefined,
      });
    })();
    this.#repairs.set(key, repair);
    const forget = (): void => {
      this.#repairs.delete(key);
    };
    repair.then(forget, forget);
    return repair;
  }

  /** No recovery starts from now on (a forced close: the jobs are cancelled instead). */
  stop(): void {
    this.#stopped = true;
  }

  /** Stops, and closes the check threads. */
  close(): Promise<void> {
    this.stop();
    return this.#checker.close();
  }
}
