import type { Registry } from 'prom-client';
import type { ArtifactCache } from './actors/artifactCache.js';
import type { Pool } from './actors/pool.js';
import type { WorkerProcess } from './actors/workerProcess.js';
import { ExecuteJob } from './actors/hostJobs.js';
import { Artifact } from './artifactHandle.js';
import { HostClosedError, type CorruptedArtifactError } from './errors.js';
import { NO_OPTIONS, abiFor, checkArtifactOrCode, checkBytes, checkInput, resolveExecuteOptions, resolveJobOptions } from './jobOptions.js';
import type { ExecuteLimits } from './shared/limits.js';
import { executeLimitsOf, resolveHostOptions, type HostOptions, type ResolvedHostOptions } from './options.js';
import type { WorkerInfo, WorkerKind } from './protocol/messages.js';
import type { SecurityStatus } from './sandbox/security.js';
import type { TestEntry, WorkerCgroup } from './sandbox/launcher.js';
import { eventStream, type EventsOptions, type HostEventRecord } from './events.js';
import { HostMetrics } from './metrics.js';
import type { InspectOptions, Inspector } from './inspector/server.js';
import { JobDispatcher } from './host/dispatcher.js';
import { HostEmitter } from './host/emitter.js';
import { HostInspectors } from './host/inspectors.js';
import { createPools, poolSummaries, queueSizesOf, workerSummaries } from './host/pools.js';
import { Preparer } from './host/preparer.js';
import { InputBuffers } from './host/inputBuffers.js';
import { HostShutdown } from './host/shutdown.js';
import { WorkerSpawner } from './host/spawner.js';
import { startHost, type HostParts } from './host/startup.js';
import type { CloseOptions, ExecuteOptions, ExecuteResult, HostEvents, PoolSummary, PrepareOptions, QueueSizes, WorkerSummary } from './host/types.js';

export type { CloseOptions, ExecuteOptions, ExecuteResult, HostEvents, PrepareOptions } from './host/types.js';

/**
 * A running warden host: the sandbox checked, the cache dir locked, two pools of workers. The
 * facade over its parts: the spawner (worker processes), the preparer (artifacts), the pools.
 */
export class Host extends HostEmitter {
  readonly securityStatus: SecurityStatus;
  readonly options: ResolvedHostOptions;
  readonly cache: ArtifactCache;
  #spawner: WorkerSpawner;
  #preparer: Preparer;
  #pools: Record<WorkerKind, Pool>;
  #jobs: JobDispatcher;
  #shutdown: HostShutdown;
  #metrics: HostMetrics;
  /** The limits every execute request carries: one object, so that its JSON is encoded once (`ExecuteJob`). */
  readonly #executeLimits: ExecuteLimits;
  /** Inspector servers of this host: closed with it. */
  #inspectors = new HostInspectors();
  /** Execute inputs' copies: a big one in memory kept from job to job. */
  #inputs = new InputBuffers();

  /** @internal use `createHost` */
  constructor(options: ResolvedHostOptions, { status, lock, cache, cgroups, early }: HostParts) {
    super();
    this.options = options;
    this.#executeLimits = Object.freeze(executeLimitsOf(options.limits));
    this.securityStatus = status;
    this.cache = cache;
    this.#metrics = new HostMetrics(this);
    this.#spawner = new WorkerSpawner(options, status, cgroups);
    if (early) this.#spawner.adopt(early);
    this.#pools = createPools(options, (kind, id) => this.spawnWorker(kind, id), this);
    this.#jobs = new JobDispatcher(this.#pools, options, this);
    this.#preparer = new Preparer(options, cache, {
      common: (kind, timing) => this.#jobs.common(kind, timing),
      submit: (job) => {
        // A prepare cannot wait for the early execute worker's boot (WorkerSpawner.release).
        this.#spawner.release();
        return this.#jobs.submit(job);
      },
      raisePriority: (job, priority) => this.#pools.prepare.raisePriority(job, priority),
      prepared: (key, size) => this.emitSafely('artifact:prepared', { key, size }),
    });
    cache.on('artifact:deleted', (e) => this.emitSafely('artifact:deleted', { key: e.key, reason: e.reason }));
    cache.on('artifact:pruned', (e) => this.emitSafely('artifact:pruned', { key: e.key, size: e.size }));
    this.#shutdown = new HostShutdown({ pools: this.#pools, spawner: this.#spawner, preparer: this.#preparer, cache, lock, inspectors: this.#inspectors });
  }

  get closed(): boolean {
    return this.#shutdown.closing;
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
    return eventStream(this, options, this.#shutdown.closedSignal);
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
    return this.#inspectors.start(this, options);
  }

  /**
   * Prepares code (raw, gzip or brotli WebAssembly) into a cached artifact. Identical
   * concurrent requests share one prepare job; a cached artifact returns at once.
   *
   * @example
   * const artifact = await host.prepare(fs.readFileSync('module.wasm'));
   */
  prepare(code: Uint8Array, options: PrepareOptions = {}): Promise<Artifact> {
    return this.#shutdown.track(this.#prepare(code, options));
  }

  async #prepare(code: Uint8Array, options: PrepareOptions): Promise<Artifact> {
    this.#assertOpen();
    const bytes = checkBytes('code', code);
    return this.#preparer.prepare(bytes, resolveJobOptions('prepare', options, this.options));
  }

  /**
   * Executes an artifact (or code, prepared first) with an input.
   *
   * @example
   * const { output } = await host.execute(artifact, Buffer.from('world'));
   */
  execute(artifactOrCode: Artifact | Uint8Array, input: Uint8Array, options: ExecuteOptions = NO_OPTIONS): Promise<ExecuteResult> {
    return this.#shutdown.track(this.#execute(artifactOrCode, input, options));
  }

  async #execute(artifactOrCode: Artifact | Uint8Array, input: Uint8Array, options: ExecuteOptions): Promise<ExecuteResult> {
    this.#assertOpen();
    checkInput(input, this.options.limits);
    const opts = resolveExecuteOptions(options, this.options);
    const target = checkArtifactOrCode(artifactOrCode);
    const copy = this.#inputs.copy(input);
    let job: ExecuteJob;
    try {
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
      const recover = (j: ExecuteJob, error: CorruptedArtifactError): boolean => this.#preparer.recover(j, artifact, error);
      job = new ExecuteJob(this.#jobs.common('execute', opts), artifact.key, abi, copy, opts.config, this.#executeLimits, opts.fuel, this.cache, this.#preparer.generations, recover);
    } catch (error) {
      copy.release();
      throw error;
    }
    this.#jobs.submit(job);
    const outcome = await job.promise;
    return { ...outcome, jobId: job.id, artifactKey: job.artifactKey, attempts: job.attempts };
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
    const closing = this.#shutdown.close(options);
    // Idle input memory goes now; a running job's copy is let go with its job (the idle timer).
    this.#inputs.clear();
    return closing;
  }

  #assertOpen(): void {
    if (this.#shutdown.closing) throw new HostClosedError('the host is closed');
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
  return startHost(resolved, (parts) => new Host(resolved, parts));
}
