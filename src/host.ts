import fsp from 'node:fs/promises';
import createDebug from 'debug';
import type { Registry } from 'prom-client';
import { ArtifactCache } from './actors/artifactCache.js';
import { CacheLock } from './actors/cacheLock.js';
import type { Pool } from './actors/pool.js';
import type { WorkerProcess } from './actors/workerProcess.js';
import { ExecuteJob } from './actors/hostJobs.js';
import { Artifact } from './artifactHandle.js';
import { HostClosedError, type CorruptedArtifactError } from './errors.js';
import { abiFor, checkArtifactOrCode, checkBytes, checkInput, resolveExecuteOptions, resolveJobOptions } from './jobOptions.js';
import { executeLimitsOf, resolveHostOptions, type HostOptions, type ResolvedHostOptions } from './options.js';
import type { WorkerInfo, WorkerKind } from './protocol/messages.js';
import { checkSecurity, enforceSecurity, type SecurityStatus } from './sandbox/security.js';
import { purgeStaleWorkerDirs } from './sandbox/workerDir.js';
import type { HostCgroups } from './sandbox/cgroup.js';
import type { TestEntry, WorkerCgroup } from './sandbox/launcher.js';
import { eventStream, type EventsOptions, type HostEventRecord } from './events.js';
import { HostMetrics } from './metrics.js';
import { startInspector, type InspectOptions, type Inspector } from './inspector/server.js';
import { JobDispatcher } from './host/dispatcher.js';
import { HostEmitter } from './host/emitter.js';
import { createPools, poolSummaries, queueSizesOf, workerSummaries } from './host/pools.js';
import { EarlyWorker } from './host/earlyWorker.js';
import { Preparer } from './host/preparer.js';
import { WorkerSpawner, openHostCgroups } from './host/spawner.js';
import type { CloseOptions, ExecuteOptions, ExecuteResult, HostEvents, PoolSummary, PrepareOptions, QueueSizes, WorkerSummary } from './host/types.js';

export type { CloseOptions, ExecuteOptions, ExecuteResult, HostEvents, PrepareOptions } from './host/types.js';

const debug = createDebug('warden:host');

/**
 * A running warden host: the sandbox checked, the cache dir locked, two pools of workers. The
 * facade over its parts: the spawner (worker processes), the preparer (artifacts), the pools.
 */
export class Host extends HostEmitter {
  readonly securityStatus: SecurityStatus;
  readonly options: ResolvedHostOptions;
  readonly cache: ArtifactCache;
  #lock: CacheLock;
  #spawner: WorkerSpawner;
  #preparer: Preparer;
  #pools: Record<WorkerKind, Pool>;
  #jobs: JobDispatcher;
  #closing: Promise<void> | undefined;
  #forced = false;
  #onForced!: () => void;
  #forcedSignal = new Promise<void>((resolve) => {
    this.#onForced = resolve;
  });
  /** prepare/execute calls not settled yet: a graceful close lets them finish. */
  #calls = new Set<Promise<unknown>>();
  /** Aborted once `close` has finished: event iterators end. */
  #closed = new AbortController();
  #metrics: HostMetrics;
  /** Inspector servers of this host: closed with it. */
  #inspectors = new Set<Inspector>();

  /** @internal use `createHost` */
  constructor(options: ResolvedHostOptions, status: SecurityStatus, lock: CacheLock, cache: ArtifactCache, cgroups?: HostCgroups, early?: Promise<WorkerProcess | undefined>) {
    super();
    this.options = options;
    this.securityStatus = status;
    this.#lock = lock;
    this.cache = cache;
    this.#metrics = new HostMetrics(this);
    this.#spawner = new WorkerSpawner(options, status, cgroups);
    if (early) this.#spawner.adopt(early);
    this.#pools = createPools(options, (kind, id) => this.spawnWorker(kind, id), this);
    this.#jobs = new JobDispatcher(this.#pools, options, this);
    this.#preparer = new Preparer(options, cache, {
      common: (kind, timing) => this.#jobs.common(kind, timing),
      submit: (job) => this.#jobs.submit(job),
      raisePriority: (job, priority) => this.#pools.prepare.raisePriority(job, priority),
      prepared: (key, size) => this.emitSafely('artifact:prepared', { key, size }),
    });
    cache.on('artifact:deleted', (e) => this.emitSafely('artifact:deleted', { key: e.key, reason: e.reason }));
    cache.on('artifact:pruned', (e) => this.emitSafely('artifact:pruned', { key: e.key, size: e.size }));
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Jobs waiting per pool and priority. */
  queueSizes(): QueueSizes {
    return queueSizesOf(this.#pools);
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
  workers(): WorkerSummary[] {
    return workerSummaries(this.#pools);
  }

  /** Each pool's supervisor state (an XState state value) and whether the pool is degraded. */
  pools(): PoolSummary[] {
    return poolSummaries(this.#pools);
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
    return this.#preparer.prepare(bytes, resolveJobOptions('prepare', options, this.options));
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
    const inputBytes = checkInput(input, this.options.limits);
    const opts = resolveExecuteOptions(options, this.options);
    const target = checkArtifactOrCode(artifactOrCode);
    const artifact =
      target instanceof Artifact
        ? target
        : await this.#prepare(target, {
            priority: opts.priority,
            isolation: opts.isolation,
            ...(opts.signal ? { signal: opts.signal } : {}),
            ...(opts.deadline === undefined ? {} : { deadline: opts.deadline }),
          });
    const abi = abiFor(artifact, opts.abi);
    const limits = executeLimitsOf(this.options.limits);
    const recover = (j: ExecuteJob, error: CorruptedArtifactError): boolean => this.#preparer.recover(j, artifact, error);
    const job = new ExecuteJob(this.#jobs.common('execute', opts), artifact.key, abi, inputBytes, opts.config, limits, opts.fuel, this.cache, this.#preparer.generations, recover);
    this.#jobs.submit(job);
    const outcome = await job.promise;
    return { ...outcome, jobId: job.id, artifactKey: artifact.key, attempts: job.attempts };
  }

  /**
   * Spawns one sandboxed worker with its own worker dir and waits for its handshake. The
   * dir is removed when the worker dies. @internal (the pools own their workers; tests use it)
   */
  spawnWorker(kind: WorkerKind, id?: string): Promise<WorkerProcess> {
    return this.#spawner.spawn(kind, id);
  }

  /** @internal TEST ONLY: the entry file of the workers spawned from now on (`WorkerSpawner.entry`). */
  get workerEntry(): TestEntry | undefined {
    return this.#spawner.entry;
  }

  set workerEntry(entry: TestEntry | undefined) {
    this.#spawner.entry = entry;
  }

  /** @internal TEST ONLY: V8 flags forcing a compiler tier in the workers spawned from now on (`WorkerSpawner.tierFlags`). */
  get workerTierFlags(): readonly string[] {
    return this.#spawner.tierFlags;
  }

  set workerTierFlags(flags: readonly string[]) {
    this.#spawner.tierFlags = flags;
  }

  /** The cgroups of the worker whose dir is `hostDir` (named after it), when the host has cgroups. @internal */
  workerCgroup(hostDir: string): WorkerCgroup | undefined {
    return this.#spawner.cgroup(hostDir);
  }

  /** What a worker of this host is: its limits and the layers checked at startup. @internal */
  workerInfo(kind: WorkerKind, id: string, hostDir: string): WorkerInfo {
    return this.#spawner.info(kind, id, hostDir);
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
        const recovering = this.#preparer.recovering;
        if (recovering.size === 0 && this.#calls.size === 0) break;
        await Promise.all([...recovering, ...[...this.#calls].map((call) => call.catch(() => {}))]);
      }
      await this.#forceStop();
      try {
        await this.#spawner.close();
        await this.cache.flush();
      } finally {
        // Even when a step failed (the cache could not be flushed): the lock, the event
        // iterators and the inspector servers must not keep the process alive.
        this.#lock.release();
        debug('host closed');
        this.#closed.abort();
        await Promise.all([this.#preparer.close(), ...[...this.#inspectors].map((inspector) => inspector.close())]);
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
    this.#spawner.stop();
    this.#preparer.stop();
    const error = new HostClosedError('the host was closed');
    return Promise.all(Object.values(this.#pools).map((pool) => pool.stop(error))).then(() => {});
  }

  #assertOpen(): void {
    if (this.#closing) throw new HostClosedError('the host is closed');
  }
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
export async function createHost(options: HostOptions = {}): Promise<Host> {
  const resolved = resolveHostOptions(options);
  await fsp.mkdir(resolved.cacheDir, { recursive: true, mode: 0o700 });
  const lock = CacheLock.acquire(resolved.cacheDir);
  const purging = purgeStaleWorkerDirs(resolved.cacheDir);
  // The first execute worker boots beside the check; the host takes it if the check agrees.
  const starting = EarlyWorker.start(resolved, purging);
  try {
    const [status, purged, cache] = await Promise.all([
      checkSecurity(resolved.cacheDir, { cgroups: resolved.cgroups }),
      purging,
      ArtifactCache.open(resolved.cacheDir, { maxBytes: resolved.cacheMaxBytes, maxArtifactBytes: resolved.limits.maxArtifactBytes }),
    ]);
    if (purged.length > 0) debug('purged %d stale worker dirs', purged.length);
    // Refused first: a host that does not start must leave no cgroup behind.
    enforceSecurity(status, resolved.allowInsecure);
    const early = await (await starting)?.take(status);
    const cgroups = early ? early.cgroups : await openHostCgroups(status, resolved);
    const missing = status.features.filter((f) => !f.available);
    const host = new Host(resolved, status, lock, cache, cgroups, early?.worker);
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
    await (await starting)?.discard();
    lock.release();
    throw error;
  }
}
