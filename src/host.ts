import fs from 'node:fs';
import fsp from 'node:fs/promises';
import crypto from 'node:crypto';
import path from 'node:path';
import { EventEmitter } from 'eventemitter3';
import createDebug from 'debug';
import type { Registry } from 'prom-client';
import type { InspectionEvent, StateValue } from 'xstate';
import { ArtifactCache } from './actors/artifactCache.js';
import { CacheLock } from './actors/cacheLock.js';
import { Pool } from './actors/pool.js';
import { workerStateName } from './actors/poolWorker.js';
import { WorkerProcess } from './actors/workerProcess.js';
import { ArtifactGenerations, ExecuteJob, PrepareJob, type ExecuteOutcome, type JobCommon, type JobHooks } from './actors/hostJobs.js';
import { ModuleChecker } from './actors/moduleCheck.js';
import type { Isolation, PoolJob } from './actors/poolJob.js';
import { PRIORITIES, type Priority } from './actors/jobQueue.js';
import { atDeadline } from './actors/timers.js';
import { Artifact, artifactCode, exportsOfArtifactFile, missingAbiExports, type Abi } from './artifactHandle.js';
import {
  AbortedError,
  CorruptedArtifactError,
  DeadlineError,
  HostClosedError,
  InvalidOptionError,
  PrevalidationError,
  type WardenError,
} from './errors.js';
import {
  MAX_JOB_TIMEOUT_MS,
  describe,
  isolationOption,
  executeLimitsOf,
  jobConfigOption,
  positiveInteger,
  prepareLimitsOf,
  resolveHostOptions,
  workerLimits,
  type HostOptions,
  type ResolvedHostOptions,
  type XStateInspector,
} from './options.js';
import type { WorkerInfo, WorkerKind } from './protocol/messages.js';
import { SANDBOX_WORKER_DIR } from './sandbox/paths.js';
import { checkSecurity, enforceSecurity, type FeatureStatus, type SecurityStatus } from './sandbox/security.js';
import { createWorkerDir, purgeStaleWorkerDirs, removeWorkerDir } from './sandbox/workerDir.js';
import { HostCgroups, hostCgroupName } from './sandbox/cgroup.js';
import type { TestEntry, WorkerCgroup } from './sandbox/launcher.js';
import { preparationParamsHash } from './shared/derive.js';
import { codeTooLargeMessage } from './shared/limits.js';
import { eventStream, type EventsOptions, type HostEventRecord } from './events.js';
import { HostMetrics } from './metrics.js';
import { startInspector, type InspectOptions, type Inspector } from './inspector/server.js';

const debug = createDebug('warden:host');

/** Options of one `prepare` call. */
export interface PrepareOptions {
  priority?: Priority;
  /** `job`: run in a process of its own, killed afterwards. Default: the host's `isolation`. */
  isolation?: Isolation;
  /** CPU time the preparation may use, ms. Default: `limits.prepareTimeoutMs`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Epoch ms by which the artifact must be ready. */
  deadline?: number;
}

/** Options of one `execute` call. */
export interface ExecuteOptions extends Omit<PrepareOptions, 'timeoutMs'> {
  /** `run` or `wasi`. Default: what the module's exports imply. */
  abi?: Abi;
  /** CPU time the execution may use, ms: the job thread's own, once the module is compiled. Default: `limits.executeTimeoutMs`. */
  timeoutMs?: number;
  /** The module's argv, argv[0] included (as node:wasi's `args`). Default `['main']`. */
  args?: string[];
  /** The module's environment. Default: empty. */
  env?: Record<string, string>;
  /** Files the job's directory (preopened as `/`) starts with: relative path → contents (a string is UTF-8). */
  files?: Record<string, Uint8Array | string> | Map<string, Uint8Array | string>;
  /** Fuel the execution may use (about one unit per instruction), at most `limits.maxFuel`. Default: `limits.maxFuel`. */
  fuel?: number;
}

/** What `execute` resolves with. */
export interface ExecuteResult extends ExecuteOutcome {
  /** The worker that ran it. */
  workerId: string;
  jobId: string;
  artifactKey: string;
  /** 2 when the first worker died under the job and it ran again. */
  attempts: number;
}

/** The host's typed events. */
export type HostEvents = {
  /** Once per host, just after `createHost` resolved: the sandbox check's result (as `host.securityStatus`). */
  'security:status': [SecurityStatus];
  /** Once per missing sandbox layer per host, when started with `allowInsecure`. */
  'security:warning': [FeatureStatus];
  'worker:spawned': [{ id: string; kind: WorkerKind; pid: number | undefined }];
  'worker:state': [{ id: string; kind: WorkerKind; state: string }];
  'worker:exited': [{ id: string; kind: WorkerKind; reason: string; message: string; jobsCompleted: number }];
  'job:queued': [{ jobId: string; kind: WorkerKind; priority: Priority }];
  'job:started': [{ jobId: string; kind: WorkerKind; workerId: string; attempt: number }];
  /** `fuelUsed` for execute jobs. */
  'job:succeeded': [{ jobId: string; kind: WorkerKind; workerId: string; cpuTimeMs: number; wallTimeMs: number; peakRssBytes: number; fuelUsed?: number }];
  /** `fuelUsed` for an execute job whose module ran. */
  'job:failed': [{ jobId: string; kind: WorkerKind; code: string; deterministic: boolean; message: string; fuelUsed?: number }];
  'artifact:prepared': [{ key: string; size: number }];
  'artifact:deleted': [{ key: string; reason: string }];
  'artifact:pruned': [{ key: string; size: number }];
  'pool:degraded': [{ kind: WorkerKind; recentFailures: number; lastFailure: string | undefined }];
  'pool:recovered': [{ kind: WorkerKind }];
};

export interface CloseOptions {
  /** Cancel waiting and running jobs (E_HOST_CLOSED) instead of letting them finish. */
  force?: boolean;
}

/** A running warden host: the sandbox checked, the cache dir locked, two pools of workers. */
export class Host extends EventEmitter<HostEvents> {
  readonly securityStatus: SecurityStatus;
  readonly options: ResolvedHostOptions;
  readonly cache: ArtifactCache;
  #lock: CacheLock;
  #pools: Record<WorkerKind, Pool>;
  #preparing = new Map<string, { promise: Promise<Artifact>; job: PrepareJob }>();
  #recovered = new WeakSet<ExecuteJob>();
  #jobCounter = 0;
  #closing: Promise<void> | undefined;
  #forced = false;
  #onForced!: () => void;
  #forcedSignal = new Promise<void>((resolve) => {
    this.#onForced = resolve;
  });
  /** Artifact recoveries under way (prepare again, then resubmit): a graceful close waits for them. */
  #recovering = new Set<Promise<void>>();
  /** One artifact repair (delete, prepare again) per key at a time. */
  #repairs = new Map<string, Promise<void>>();
  /** prepare/execute calls not settled yet: a graceful close lets them finish. */
  #calls = new Set<Promise<unknown>>();
  /** Export names of cached artifacts, read once per key (a cache hit must not re-read the file). */
  #exportsByKey = new Map<string, string[]>();
  #spawned = new Set<WorkerProcess>();
  #spawning = new Set<Promise<unknown>>();
  /**
   * @internal TEST ONLY: the entry file of the workers spawned from now on (the adversarial
   * suite's attacker worker); the real worker when undefined. Not an option: no caller of the
   * public API can choose what runs in the sandbox.
   */
  workerEntry: TestEntry | undefined;
  /**
   * @internal TEST ONLY: V8 flags forcing a compiler tier in the workers spawned from now on
   * (one of `TEST_TIER_FLAGS`, src/sandbox/launcher.ts, which refuses any other). Not an option.
   */
  workerTierFlags: readonly string[] = [];
  /** Aborted once `close` has finished: event iterators end. */
  #closed = new AbortController();
  #metrics: HostMetrics;
  /** Which file the cache holds per key, for the artifact links worker dirs keep between jobs. */
  #generations: ArtifactGenerations;
  /** Inspector servers of this host: closed with it. */
  #inspectors = new Set<Inspector>();
  /** The cgroup every worker's own goes under, when the host has the cgroup layer. */
  #cgroups: HostCgroups | undefined;
  /** Checks each prepared artifact against the code, on threads of its own: closed with the host. */
  #checker = new ModuleChecker();

  /** @internal use `createHost` */
  constructor(options: ResolvedHostOptions, status: SecurityStatus, lock: CacheLock, cache: ArtifactCache, cgroups?: HostCgroups) {
    super();
    this.options = options;
    this.securityStatus = status;
    this.#lock = lock;
    this.cache = cache;
    this.#cgroups = cgroups;
    this.#metrics = new HostMetrics(this);
    this.#generations = new ArtifactGenerations(cache);
    cache.on('artifact:deleted', (e) => this.#emit('artifact:deleted', { key: e.key, reason: e.reason }));
    cache.on('artifact:pruned', (e) => this.#emit('artifact:pruned', { key: e.key, size: e.size }));
    const supervisor = {
      backoff: { initialMs: 100, maxMs: 5_000, factor: 2 },
      crashLoop: { maxFailures: 5, windowMs: 10_000 },
      cooldownMs: 10_000,
    };
    const events = (kind: WorkerKind) => ({
      workerSpawned: (w: { id: string; process: { sandboxPid: number | undefined } | undefined }) =>
        this.#emit('worker:spawned', { id: w.id, kind, pid: w.process?.sandboxPid }),
      // Five per job: named and emitted only when someone listens.
      workerState: (w: { id: string }, value: StateValue) => {
        if (this.listenerCount('worker:state') > 0) this.#emit('worker:state', { id: w.id, kind, state: workerStateName(value) });
      },
      workerExited: (w: { id: string }, output: { failure: { reason: string; message: string }; jobsCompleted: number }) =>
        this.#emit('worker:exited', { id: w.id, kind, reason: output.failure.reason, message: output.failure.message, jobsCompleted: output.jobsCompleted }),
      degraded: (k: WorkerKind, recentFailures: number, lastFailure: string | undefined) =>
        this.#emit('pool:degraded', { kind: k, recentFailures, lastFailure }),
      recovered: (k: WorkerKind) => this.#emit('pool:recovered', { kind: k }),
    });
    const inspect = guardedInspector(options.inspect);
    const pool = (kind: WorkerKind, size: number): Pool =>
      new Pool({
        kind,
        size,
        maxQueue: options.maxQueue,
        spareMemoryBytes: options.spareMemoryMb * 1024 * 1024,
        supervisor,
        spawn: (k, id) => this.spawnWorker(k, id),
        events: events(kind),
        inspect,
      });
    this.#pools = { prepare: pool('prepare', options.prepareWorkers), execute: pool('execute', options.executeWorkers) };
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Jobs waiting per pool and priority. */
  queueSizes(): Record<WorkerKind, Record<Priority, number>> {
    return { prepare: this.#pools.prepare.queue.sizes(), execute: this.#pools.execute.queue.sizes() };
  }

  /**
   * The host's events as an async iterator of `{ type, data, time }`, buffered up to
   * `bufferSize` (default 1024) for a consumer that falls behind; events past that are counted
   * and reported by one `events:overflow` record in their place. Ends when the host has
   * closed; `break` unsubscribes.
   *
   * @example
   * for await (const event of host.events({ types: ['job:failed'] })) console.log(event.data.code);
   */
  events(options: EventsOptions = {}): AsyncIterableIterator<HostEventRecord> {
    return eventStream(this, options, this.#closed.signal);
  }

  /** The host's metrics in Prometheus' text format (`metricsContentType`), from a registry of its own. */
  metrics(): Promise<string> {
    return this.#metrics.text();
  }

  /** The prom-client registry behind `metrics()`, for more metrics or default labels (warden/bullmq adds node and queue). */
  get metricsRegistry(): Registry {
    return this.#metrics.registry;
  }

  /** The HTTP `Content-Type` of `metrics()`. */
  get metricsContentType(): string {
    return this.#metrics.registry.contentType;
  }

  /** The workers of both pools and the state each is in. */
  workers(): { id: string; kind: WorkerKind; state: string; pid: number | undefined; jobId: string | undefined; jobsCompleted: number }[] {
    return Object.values(this.#pools).flatMap((pool) =>
      [...pool.workers.values()].map((w) => ({
        id: w.id,
        kind: w.kind,
        state: w.state,
        pid: w.process?.sandboxPid,
        jobId: w.job?.id,
        jobsCompleted: w.actor.getSnapshot().context.jobsCompleted,
      })),
    );
  }

  /** Each pool's supervisor state (an XState state value) and whether the pool is degraded. */
  pools(): { kind: WorkerKind; state: StateValue; degraded: boolean }[] {
    return Object.values(this.#pools).map((pool) => ({ kind: pool.kind, state: pool.supervisor.getSnapshot().value, degraded: pool.degraded }));
  }

  /**
   * Serves the inspector, a local web page of the host's state charts, workers, queues and
   * events (see docs/api.md), on a loopback address. It closes with the host.
   *
   * @example
   * const { url } = await host.inspect({ port: 7070 });
   */
  async inspect(options: InspectOptions = {}): Promise<Inspector> {
    this.#assertOpen();
    const inspector = await startInspector(this, options);
    if (this.#closing) {
      // close() began while the server started: it would not see this one.
      await inspector.close();
      throw new HostClosedError('the host closed while the inspector was starting');
    }
    this.#inspectors.add(inspector);
    return {
      url: inspector.url,
      close: () => {
        this.#inspectors.delete(inspector);
        return inspector.close();
      },
    };
  }

  /**
   * Prepares code (raw, gzip or brotli WebAssembly) into a cached artifact. Identical
   * concurrent requests share one prepare job; a cached artifact returns at once.
   *
   * @example
   * const artifact = await host.prepare(fs.readFileSync('module.wasm'));
   */
  prepare(code: Uint8Array, options: PrepareOptions = {}): Promise<Artifact> {
    return this.#track(this.#prepare(code, options));
  }

  async #prepare(code: Uint8Array, options: PrepareOptions): Promise<Artifact> {
    this.#assertOpen();
    const bytes = checkBytes('code', code, true);
    const opts = this.#jobOptions('prepare', options);
    if (bytes.byteLength > this.options.limits.maxCodeBytes) {
      throw new PrevalidationError(codeTooLargeMessage(bytes.byteLength, this.options.limits));
    }
    // Said plainly, without a worker: "not a WebAssembly module" would send one looking for the wrong file.
    if (bytes.byteLength === 0) throw new PrevalidationError('the code is empty (0 bytes)');
    return this.#prepareShared(bytes, opts);
  }

  /** The cache, then a shared prepare job per key. Also used by recovery while a graceful close waits. */
  #prepareShared(
    bytes: Uint8Array,
    opts: { priority: Priority; isolation: Isolation; timeoutMs: number; signal: AbortSignal | undefined; deadline: number | undefined },
  ): Promise<Artifact> {
    const limits = prepareLimitsOf(this.options.limits);
    const paramsHash = preparationParamsHash(limits);
    const key = ArtifactCache.keyFor(bytes, paramsHash);
    const entry = this.cache.lookup(key);
    if (entry) {
      let exports = this.#exportsByKey.get(key);
      if (!exports) {
        exports = exportsOfArtifactFile(entry.path);
        this.#exportsByKey.set(key, exports);
      }
      return Promise.resolve(new Artifact(key, entry.size, exports, bytes, true));
    }
    let shared = this.#preparing.get(key)?.promise;
    if (shared) {
      // A caller with a higher priority must not wait at the first caller's.
      this.#pools.prepare.raisePriority(this.#preparing.get(key)!.job, opts.priority);
    } else {
      // The shared job is not tied to the first caller's signal: each caller can give up on
      // its own without cancelling the others' preparation.
      const job = new PrepareJob(this.#common('prepare', { ...opts, signal: undefined, deadline: undefined }), key, paramsHash, bytes, limits, this.cache, this.#checker);
      this.#submit(job);
      shared = job.promise.then(({ entry: installed, exports }) => {
        this.#exportsByKey.set(key, exports);
        this.#emit('artifact:prepared', { key, size: installed.size });
        return new Artifact(key, installed.size, exports, bytes, false);
      });
      this.#preparing.set(key, { promise: shared, job });
      const forget = (): void => {
        this.#preparing.delete(key);
      };
      shared.then(forget, forget);
    }
    return withSignal(shared, opts.signal, opts.deadline);
  }

  /**
   * Executes an artifact (or code, prepared first) with an input.
   *
   * @example
   * const { output } = await host.execute(artifact, Buffer.from('world'));
   */
  execute(artifactOrCode: Artifact | Uint8Array, input: Uint8Array, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    return this.#track(this.#execute(artifactOrCode, input, options));
  }

  async #execute(artifactOrCode: Artifact | Uint8Array, input: Uint8Array, options: ExecuteOptions): Promise<ExecuteResult> {
    this.#assertOpen();
    const inputBytes = checkBytes('input', input);
    if (inputBytes.byteLength > this.options.limits.maxInputBytes) {
      throw new InvalidOptionError(`input of ${inputBytes.byteLength} bytes exceeds maxInputBytes (${this.options.limits.maxInputBytes})`, {
        details: { option: 'input' },
      });
    }
    const opts = this.#jobOptions('execute', options);
    const config = jobConfigOption(options, this.options.limits);
    const fuel = positiveInteger('fuel', options.fuel, this.options.limits.maxFuel);
    if (fuel > this.options.limits.maxFuel) {
      throw new InvalidOptionError(`Expected the \`fuel\` option to be at most limits.maxFuel (${this.options.limits.maxFuel}), got ${fuel}`, {
        details: { option: 'fuel' },
      });
    }
    if (options.abi !== undefined && options.abi !== 'run' && options.abi !== 'wasi') {
      throw new InvalidOptionError(`Expected the \`abi\` option to be 'run' or 'wasi', got ${describe(options.abi)}`, { details: { option: 'abi' } });
    }
    if (!(artifactOrCode instanceof Artifact) && !(artifactOrCode instanceof Uint8Array)) {
      throw new InvalidOptionError(`Expected \`artifactOrCode\` to be an Artifact or a Uint8Array, got ${describe(artifactOrCode)}`, {
        details: { option: 'artifactOrCode' },
      });
    }
    const artifact =
      artifactOrCode instanceof Artifact
        ? artifactOrCode
        : await this.#prepare(artifactOrCode, {
            priority: opts.priority,
            isolation: opts.isolation,
            ...(opts.signal ? { signal: opts.signal } : {}),
            ...(opts.deadline === undefined ? {} : { deadline: opts.deadline }),
          });
    const abi: Abi = options.abi ?? artifact.abi ?? 'run';
    // The caller's mistake, said before a worker runs it (there it would be a trap of the module's).
    // No exports known (an unreadable cached file) decides nothing: the worker still checks.
    const missing = artifact.exports.length === 0 ? [] : missingAbiExports(abi, artifact.exports);
    if (missing.length > 0) {
      const needs = missing.map((name) => `\`${name}\``).join(' and ');
      throw new InvalidOptionError(`Expected the \`abi\` option to be an ABI the module exports for: '${abi}' runs through ${needs}, which it does not export (its exports: ${artifact.exports.join(', ')})`, {
        details: { option: 'abi', abi, exports: artifact.exports },
      });
    }
    const job = new ExecuteJob(
      this.#common('execute', opts),
      artifact.key,
      abi,
      inputBytes,
      config,
      executeLimitsOf(this.options.limits),
      fuel,
      this.cache,
      this.#generations,
      (j, error) => this.#recover(j, artifact, error),
    );
    this.#submit(job);
    const outcome = await job.promise;
    return { ...outcome, jobId: job.id, artifactKey: artifact.key, attempts: job.attempts };
  }

  /**
   * Spawns one sandboxed worker with its own worker dir and waits for its handshake. The
   * dir is removed when the worker dies. @internal (the pools own their workers; tests use it)
   */
  spawnWorker(kind: WorkerKind, id = `${kind}-${crypto.randomBytes(4).toString('hex')}`): Promise<WorkerProcess> {
    // A graceful close still replaces a worker that died under a job it lets finish.
    if (this.#forced) return Promise.reject(new HostClosedError('the host is closed'));
    // close() waits for spawns in flight (dir creation and cleanup included), so no worker
    // and no worker dir appears after it returned.
    const spawning = this.#spawnWorker(kind, id);
    const tracked = spawning.then(
      () => {},
      () => {},
    );
    this.#spawning.add(tracked);
    void tracked.then(() => this.#spawning.delete(tracked));
    return spawning;
  }

  async #spawnWorker(kind: WorkerKind, id: string): Promise<WorkerProcess> {
    const hostDir = await createWorkerDir(this.options.cacheDir, kind);
    const info = this.workerInfo(kind, id, hostDir);
    let worker: WorkerProcess;
    try {
      const cgroup = this.workerCgroup(hostDir);
      worker = await WorkerProcess.spawn({
        info,
        hostDir,
        cwd: this.options.cacheDir,
        handshakeTimeoutMs: this.options.handshakeTimeoutMs,
        ...(this.workerEntry ? { entry: this.workerEntry } : {}),
        ...(cgroup ? { cgroup } : {}),
        ...(this.workerTierFlags.length > 0 ? { tierFlags: this.workerTierFlags } : {}),
      });
    } catch (error) {
      await removeWorkerDir(hostDir);
      throw error;
    }
    if (this.#forced) {
      // The host closed during the handshake: this worker is not wanted.
      await worker.kill();
      await removeWorkerDir(hostDir);
      throw new HostClosedError('the host closed while the worker was starting');
    }
    this.#spawned.add(worker);
    void worker.exited.then(async () => {
      const error = await removeWorkerDir(hostDir);
      if (error) debug('cannot remove worker dir %s (purged at the next startup): %s', hostDir, error.message);
      this.#spawned.delete(worker);
    });
    return worker;
  }

  /** The cgroups of the worker whose dir is `hostDir` (named after it), when the host has cgroups. @internal */
  workerCgroup(hostDir: string): WorkerCgroup | undefined {
    return this.#cgroups ? { dirs: this.#cgroups.workerDirs(path.basename(hostDir)) } : undefined;
  }

  /** What a worker of this host is: its limits and the layers checked at startup. @internal */
  workerInfo(kind: WorkerKind, id: string, hostDir: string): WorkerInfo {
    return {
      kind,
      id,
      // Without a new root the worker sees its dir at the host path (Landlock still confines it).
      dir: this.securityStatus.layers.pivotRoot ? SANDBOX_WORKER_DIR : hostDir,
      limits: workerLimits(this.options.limits),
      layers: this.securityStatus.layers,
    };
  }

  /**
   * Stops the host: by default waits for waiting and running jobs to finish, then stops the
   * workers, removes their dirs and releases the cache dir. `{ force: true }` cancels jobs
   * with E_HOST_CLOSED instead. Every pending promise settles. Idempotent.
   */
  close(options: CloseOptions = {}): Promise<void> {
    // A forced close after a graceful one escalates it: waiting jobs are cancelled now.
    if (options.force && this.#closing && !this.#forced) void this.#forceStop();
    this.#closing ??= (async () => {
      if (options.force) await this.#forceStop();
      // Graceful: until nothing waits, runs or is being recovered (a recovery resubmits).
      while (!this.#forced) {
        // A later close({ force: true }) ends the wait.
        await Promise.race([Promise.all(Object.values(this.#pools).map((pool) => pool.idle())), this.#forcedSignal]);
        if (this.#forced) break;
        if (this.#recovering.size === 0 && this.#calls.size === 0) break;
        await Promise.all([...this.#recovering, ...[...this.#calls].map((call) => call.catch(() => {}))]);
      }
      await this.#forceStop();
      try {
        await Promise.all([...this.#spawning]);
        await Promise.all([...this.#spawned].map(async (worker) => {
          await worker.kill();
          await removeWorkerDir(worker.hostDir);
        }));
        // Dirs whose removal failed when their worker died (left for the next startup otherwise).
        await purgeStaleWorkerDirs(this.options.cacheDir).catch((error: Error) => debug('purge on close failed: %s', error.message));
        await this.#cgroups?.close();
        await this.cache.flush();
      } finally {
        // Even when a step failed (the cache could not be flushed): the lock, the event
        // iterators and the inspector servers must not keep the process alive.
        this.#lock.release();
        debug('host closed');
        this.#closed.abort();
        await Promise.all([this.#checker.close(), ...[...this.#inspectors].map((inspector) => inspector.close())]);
      }
    })();
    return this.#closing;
  }

  #track<T>(call: Promise<T>): Promise<T> {
    this.#calls.add(call);
    const forget = (): void => {
      this.#calls.delete(call);
    };
    call.then(forget, forget);
    return call;
  }

  #forceStop(): Promise<void> {
    this.#forced = true;
    this.#onForced();
    const error = new HostClosedError('the host was closed');
    return Promise.all(Object.values(this.#pools).map((pool) => pool.stop(error))).then(() => {});
  }

  #assertOpen(): void {
    if (this.#closing) throw new HostClosedError('the host is closed');
  }

  /** @internal */
  emitSafely<K extends keyof HostEvents>(event: K, ...args: HostEvents[K]): void {
    this.#emit(event, ...args);
  }

  #emit<K extends keyof HostEvents>(event: K, ...args: HostEvents[K]): void {
    if (this.listenerCount(event) === 0) return;
    // Each listener on its own: one that throws must neither break the host nor keep the
    // listeners after it (metrics, event iterators, other code) from the event.
    for (const listener of this.listeners(event)) {
      // A `once` listener goes before it runs, as in eventemitter3's emit (no-op for the others).
      this.removeListener(event, listener as never, undefined, true);
      try {
        (listener as (...a: HostEvents[K]) => void)(...args);
      } catch (error) {
        debug('listener for %s threw: %o', event, error);
      }
    }
  }

  #jobOptions(kind: WorkerKind, options: PrepareOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidOptionError(`Expected the options to be an object, got ${describe(options)}`);
    }
    const priority = options.priority ?? 'normal';
    if (!PRIORITIES.includes(priority)) {
      throw new InvalidOptionError(`Expected the \`priority\` option to be one of ${PRIORITIES.join(', ')}, got ${describe(priority)}`, {
        details: { option: 'priority' },
      });
    }
    const fallback = kind === 'prepare' ? this.options.limits.prepareTimeoutMs : this.options.limits.executeTimeoutMs;
    const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, fallback);
    if (timeoutMs > MAX_JOB_TIMEOUT_MS) {
      throw new InvalidOptionError(`Expected the \`timeoutMs\` option to be at most ${MAX_JOB_TIMEOUT_MS} ms (a day), got ${timeoutMs}`, {
        details: { option: 'timeoutMs' },
      });
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidOptionError(`Expected the \`signal\` option to be an AbortSignal, got ${describe(options.signal)}`, { details: { option: 'signal' } });
    }
    if (options.deadline !== undefined && (typeof options.deadline !== 'number' || Number.isNaN(options.deadline))) {
      throw new InvalidOptionError(`Expected the \`deadline\` option to be epoch milliseconds, got ${describe(options.deadline)}`, {
        details: { option: 'deadline' },
      });
    }
    if (options.signal?.aborted) throw new AbortedError('the signal was aborted before the job was submitted', { cause: options.signal.reason });
    if (options.deadline !== undefined && options.deadline <= Date.now()) throw new DeadlineError('the deadline passed before the job was submitted');
    const isolation = isolationOption('isolation', options.isolation, this.options.isolation);
    return { priority, isolation, timeoutMs, signal: options.signal, deadline: options.deadline };
  }

  #common(
    kind: WorkerKind,
    opts: { priority: Priority; isolation: Isolation; timeoutMs: number; signal: AbortSignal | undefined; deadline: number | undefined },
  ): JobCommon {
    return {
      id: `${kind}-job-${++this.#jobCounter}`,
      priority: opts.priority,
      isolation: opts.isolation,
      signal: opts.signal,
      deadline: opts.deadline,
      cpuTimeLimitMs: opts.timeoutMs,
      compileTimeoutMs: this.options.limits.compileTimeoutMs,
      // The wall-clock bound on top of the worker's CPU-time limits (an execute also compiles its module first), plus a second for startup.
      // Within setTimeout's range: past 2^31-1 ms Node fires a timer at once.
      hardTimeoutMs: Math.min(Math.ceil((opts.timeoutMs + (kind === 'execute' ? this.options.limits.compileTimeoutMs : 0)) * this.options.limits.hardTimeoutFactor) + 1_000, 2_147_483_647),
      hooks: this.#jobHooks,
    };
  }

  /** How every job talks back to the host: one set of functions for all of them. */
  #jobHooks: JobHooks = {
    started: (job, worker) => {
      if (this.listenerCount('job:started') > 0) this.#emit('job:started', { jobId: job.id, kind: job.kind, workerId: worker.id, attempt: job.attempts });
    },
    succeeded: (job, worker, times) => this.#emit('job:succeeded', { jobId: job.id, kind: job.kind, workerId: worker.id, ...times }),
    failed: (job, error) => {
      const fuel = typeof error.details.fuelUsed === 'number' ? { fuelUsed: error.details.fuelUsed } : {};
      this.#emit('job:failed', { jobId: job.id, kind: job.kind, code: error.code, deterministic: error.deterministic, message: error.message, ...fuel });
    },
    resubmit: (job) => this.#submit(job),
  };

  #submit(job: PoolJob): void {
    const pool = this.#pools[job.kind];
    try {
      pool.submit(job, () => this.#emit('job:queued', { jobId: job.id, kind: job.kind, priority: job.priority }));
    } catch (error) {
      job.failed('cancelled', error as WardenError, undefined);
    }
  }

  /**
   * Deletes a bad artifact and prepares it again, once per key however many jobs report it.
   * A job that ran against an older file than the one now cached (another job's repair
   * already replaced it) needs no repair: it just runs again.
   */
  #repairArtifact(key: string, code: Uint8Array, seenIno: number | undefined, priority: Priority): Promise<void> {
    const inFlight = this.#repairs.get(key);
    if (inFlight) return inFlight;
    let currentIno: number | undefined;
    try {
      currentIno = fs.statSync(this.cache.pathOf(key)).ino;
    } catch {
      // missing: repair
    }
    if (currentIno !== undefined && seenIno !== undefined && currentIno !== seenIno && this.cache.has(key)) return Promise.resolve();
    const repair = (async () => {
      this.#exportsByKey.delete(key);
      await this.cache.delete(key, 'corrupted');
      await this.#prepareShared(code, {
        priority,
        isolation: this.options.isolation,
        timeoutMs: this.options.limits.prepareTimeoutMs,
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

  /** A corrupted or missing artifact: delete it, prepare the code again, run the job once more. */
  #recover(job: ExecuteJob, artifact: Artifact, error: CorruptedArtifactError): boolean {
    const code = artifactCode(artifact);
    if (this.#recovered.has(job) || !code || this.#forced) return false;
    this.#recovered.add(job);
    debug('recovering artifact %s for job %s: %s', artifact.key, job.id, error.message);
    const recovery = (async () => {
      try {
        await this.#repairArtifact(artifact.key, code, job.linkedIno, job.priority);
        this.#submit(job);
      } catch (prepareError) {
        job.fail(prepareError as WardenError);
      }
    })();
    this.#recovering.add(recovery);
    void recovery.finally(() => this.#recovering.delete(recovery));
    return true;
  }
}

/**
 * The `inspect` option as the machine actors get it: XState calls an inspector inside
 * `createActor` and `send`, so one that throws would break createHost or a worker; like a
 * throwing event listener, it is logged and ignored.
 */
function guardedInspector(inspector: XStateInspector | undefined): XStateInspector | undefined {
  if (inspector === undefined) return undefined;
  const next = typeof inspector === 'function' ? inspector : (event: InspectionEvent) => inspector.next?.(event);
  return (event) => {
    try {
      next(event);
    } catch (error) {
      debug('the inspect option threw: %o', error);
    }
  };
}

/**
 * Checks a byte argument and takes a copy: the caller may reuse its buffer as soon as the
 * call returns, while the job reads the bytes later (and the cache key is their hash now).
 * `shared`: the copy is in a SharedArrayBuffer, which the host's check thread reads without
 * another copy (nothing writes it after this).
 */
function checkBytes(name: string, value: unknown, shared = false): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidOptionError(`Expected \`${name}\` to be a Uint8Array, got ${describe(value)}`, { details: { option: name } });
  }
  if (!shared) return new Uint8Array(value);
  const copy = new Uint8Array(new SharedArrayBuffer(value.byteLength));
  copy.set(value);
  return copy;
}

/** Lets one caller give up on a shared promise (its signal or deadline) without affecting others. */
function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined, deadline: number | undefined): Promise<T> {
  if (!signal && deadline === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cleanup();
      reject(new AbortedError('the caller aborted while the code was being prepared', { cause: signal?.reason }));
    };
    const cancelDeadline =
      deadline === undefined
        ? undefined
        : atDeadline(deadline, () => {
            cleanup();
            reject(new DeadlineError('the deadline passed while the code was being prepared'));
          });
    const cleanup = (): void => {
      signal?.removeEventListener('abort', onAbort);
      cancelDeadline?.();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}

/**
 * Starts a host: validates the options, locks the cache dir, purges stale worker dirs,
 * opens the artifact cache and checks the sandbox once (all checks in parallel, from inside
 * the cache dir), then starts the worker pools.
 * Throws `E_SANDBOX_UNAVAILABLE` when a layer is missing, unless `allowInsecure` is set.
 *
 * @example
 * const host = await createHost({ cacheDir: '/var/cache/my-app/warden' });
 * const { output } = await host.execute(fs.readFileSync('hello.wasm'), Buffer.from('world'));
 * await host.close();
 */
/**
 * The host's own cgroup over its workers' (named after the cache dir, which the host has
 * locked), when the check found the layer. Should making it fail after a good check, the
 * layer is reported off rather than the host refused: workers keep every other layer.
 */
async function openHostCgroups(status: SecurityStatus, options: ResolvedHostOptions): Promise<HostCgroups | undefined> {
  if (!status.layers.cgroup || !status.cgroups) return undefined;
  const name = hostCgroupName(options.cacheDir);
  try {
    return await HostCgroups.open(status.cgroups, name, options.limits.workersMemoryBytes);
  } catch (error) {
    const feature = status.features.find((f) => f.feature === 'cgroup')!;
    feature.available = false;
    feature.detail = `cannot create ${name}: ${(error as Error).message}`;
    feature.fix ??= 'see the cgroup check';
    status.layers.cgroup = false;
    delete status.cgroups;
    return undefined;
  }
}

export async function createHost(options: HostOptions = {}): Promise<Host> {
  const resolved = resolveHostOptions(options);
  await fsp.mkdir(resolved.cacheDir, { recursive: true, mode: 0o700 });
  const lock = CacheLock.acquire(resolved.cacheDir);
  try {
    const [status, purged, cache] = await Promise.all([
      checkSecurity(resolved.cacheDir, { cgroups: resolved.cgroups }),
      purgeStaleWorkerDirs(resolved.cacheDir),
      ArtifactCache.open(resolved.cacheDir, { maxBytes: resolved.cacheMaxBytes, maxArtifactBytes: resolved.limits.maxArtifactBytes }),
    ]);
    if (purged.length > 0) debug('purged %d stale worker dirs', purged.length);
    // Refused first: a host that does not start must leave no cgroup behind.
    enforceSecurity(status, resolved.allowInsecure);
    const cgroups = await openHostCgroups(status, resolved);
    const missing = status.features.filter((f) => !f.available);
    const host = new Host(resolved, status, lock, cache, cgroups);
    // After the caller has had the chance to subscribe.
    setImmediate(() => host.emitSafely('security:status', status));
    for (const feature of missing) {
      // Once per missing feature per host: on the emitter and as a process warning.
      process.emitWarning(`warden: sandbox layer "${feature.feature}" is unavailable (${feature.detail}); fix: ${feature.fix}`, {
        code: feature.required ? 'WARDEN_INSECURE' : 'WARDEN_DEGRADED',
      });
      setImmediate(() => host.emitSafely('security:warning', feature));
    }
    void cache.prune().catch((error: Error) => debug('prune failed: %s', error.message));
    return host;
  } catch (error) {
    lock.release();
    throw error;
  }
}
