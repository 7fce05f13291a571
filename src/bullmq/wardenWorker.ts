import os from 'node:os';
import { Queue, UnrecoverableError, WaitingError, Worker, type Job, type KeepJobs } from 'bullmq';
import type { Redis } from 'ioredis';
import createDebug from 'debug';
import { AbortedError, DeadlineError, HostClosedError, InvalidOptionError, WardenError } from '../errors.js';
import { createHost, type Host } from '../host.js';
import type { HostOptions } from '../options.js';
import { addInspectorPanel } from '../inspector/panels.js';
import { describe, positiveInteger } from '../options.js';
import { keepJobs, nonEmptyString, nonNegativeInteger } from './optionChecks.js';
import { CodeStore } from './codeStore.js';
import { bullConnection, closeRedis, connectionOption, createRedis, type RedisConnection } from './connection.js';
import { CodeNotFoundError, RemoteJobError } from './errors.js';
import { JOB_FORMAT, failureOf, parseJobData, type WardenJobData, type WardenJobReturn } from './jobData.js';
import { registerNodeMetrics, type NodeOutcome, type QueueCounts } from './nodeMetrics.js';
import { PreparedCode } from './preparedCode.js';
import { cancelChannel } from './cancel.js';

const debug = createDebug('warden:bullmq');

/** Options of `createWardenWorker`. */
export interface WardenWorkerOptions {
  /** Where Redis is: a URL or ioredis options. */
  connection: RedisConnection;
  /** Options of the node's own host (`createHost`): cache dir, pools, limits. */
  host?: HostOptions;
  /** This node's name: in results, failures, metrics labels and BullMQ's `processedBy`. Default `<hostname>-<pid>`. */
  node?: string;
  /** Jobs the node takes from the queue at once. Default: the host's execute workers. */
  concurrency?: number;
  /** BullMQ's key prefix. Default `bull`. */
  prefix?: string;
  /** How long a job's lock lasts without renewal, ms (renewed every half). A node silent this long loses its jobs to the others. Default 30 000. */
  lockDurationMs?: number;
  /** How often the node looks for jobs whose lock expired (stalled), ms. Default 30 000. */
  stalledIntervalMs?: number;
  /** Stalls a job may suffer before BullMQ fails it. Default 1. */
  maxStalledCount?: number;
  /** How long `close()` lets running jobs finish before it hands them back to the queue, ms. Default 30 000. */
  shutdownGraceMs?: number;
  /** Code held in memory for prepared modules, bytes (least recently used out). Default 64 MiB. */
  codeMemoryBytes?: number;
  /** Completed jobs BullMQ keeps. Default `{ age: 3600, count: 10000 }`. */
  removeOnComplete?: KeepJobs;
  /** Failed jobs BullMQ keeps. Default `{ age: 604800, count: 100000 }`. */
  removeOnFail?: KeepJobs;
}

const OPTION_NAMES = new Set([
  'connection',
  'host',
  'node',
  'concurrency',
  'prefix',
  'lockDurationMs',
  'stalledIntervalMs',
  'maxStalledCount',
  'shutdownGraceMs',
  'codeMemoryBytes',
  'removeOnComplete',
  'removeOnFail',
]);

/** Scrapes and the inspector ask for queue counts at most this often (one Redis call each). */
const COUNTS_TTL_MS = 1000;
/** A scrape must not hang on a Redis that does not answer. */
const COUNTS_TIMEOUT_MS = 2000;

/** How long past its grace a closing node waits for Redis before it drops the connections. */
const CLOSE_MARGIN_MS = 5000;

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** `promise`, or a rejection after `ms` (the promise runs on). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A warden node: a BullMQ `Worker` on one queue that runs each job in its own local host, with
 * its own sandboxed workers and artifact cache. Deterministic failures fail the job for good;
 * the others are left to BullMQ's attempts and backoff. Use `createWardenWorker`.
 */
export class WardenWorker {
  readonly host: Host;
  readonly worker: Worker<WardenJobData, WardenJobReturn>;
  readonly queueName: string;
  readonly node: string;
  #queue: Queue;
  #redis: Redis;
  #subscriber: Redis;
  #code: PreparedCode;
  #graceMs: number;
  /** Jobs their producer cancelled: failed for good, not retried. */
  #cancelled = new Set<string>();
  /** True once close() hands running jobs back to the queue. */
  #returning = false;
  #closing: Promise<void> | undefined;
  #metrics: ReturnType<typeof registerNodeMetrics>;
  #counts: { at: number; value: Promise<QueueCounts> } | undefined;
  #removePanel: () => void;

  /** @internal use `createWardenWorker` */
  constructor(queueName: string, options: ResolvedNodeOptions, host: Host) {
    const { prefix } = options;
    const connection = bullConnection(options.connection);
    this.host = host;
    this.queueName = queueName;
    this.node = options.node;
    this.#graceMs = options.shutdownGraceMs;
    this.#redis = createRedis(options.connection);
    this.#subscriber = createRedis(options.connection);
    // A node only reads code: the expiry is the producers' business.
    const store = new CodeStore(this.#redis, { prefix, ttlSeconds: 1, maxCodeBytes: host.options.limits.maxCodeBytes });
    this.#code = new PreparedCode(host, store, options.codeMemoryBytes);
    this.#queue = new Queue(queueName, { connection, prefix });
    this.#queue.on('error', (error: Error) => debug('%s: queue: %s', this.node, error.message));
    this.#metrics = registerNodeMetrics(host.metricsRegistry, { node: this.node, queue: queueName }, () => this.counts());
    this.worker = new Worker<WardenJobData, WardenJobReturn>(
      queueName,
      // Three parameters: BullMQ then hands each job a signal that cancelJob fires.
      (job, token, signal) => this.#process(job, token, signal),
      {
        connection,
        prefix,
        name: this.node,
        concurrency: options.concurrency ?? host.options.executeWorkers,
        lockDuration: options.lockDurationMs,
        stalledInterval: options.stalledIntervalMs,
        maxStalledCount: options.maxStalledCount,
        removeOnComplete: options.removeOnComplete,
        removeOnFail: options.removeOnFail,
      },
    );
    this.worker.on('completed', () => this.#metrics.recorded('completed'));
    this.worker.on('failed', () => this.#metrics.recorded('failed'));
    // BullMQ reports a lost lock, a Redis outage and the like here; the worker carries on.
    this.worker.on('error', (error) => debug('%s: worker error: %s', this.node, error.message));
    this.#subscriber.on('message', (_channel: string, jobId: string) => {
      if (this.worker.cancelJob(jobId, 'cancelled by its producer')) this.#cancelled.add(jobId);
    });
    this.#subscriber.subscribe(cancelChannel(prefix, queueName)).catch((error: Error) => debug('%s: cannot subscribe: %s', this.node, error.message));
    this.#removePanel = addInspectorPanel(host, 'queue', async () => ({ node: this.node, queue: queueName, counts: await this.counts() }));
  }

  /** Resolves once the node is connected and takes jobs. */
  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** The queue's jobs by state (cached for a second: scrapes and the inspector share one Redis call). */
  counts(): Promise<QueueCounts> {
    const now = Date.now();
    if (!this.#counts || now - this.#counts.at >= COUNTS_TTL_MS) {
      const value = withTimeout(this.#queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'completed', 'failed'), COUNTS_TIMEOUT_MS).then((c) => ({
        waiting: (c.wait ?? 0) + (c.prioritized ?? 0),
        delayed: c.delayed ?? 0,
        active: c.active ?? 0,
        completed: c.completed ?? 0,
        failed: c.failed ?? 0,
      }));
      // A failed read is not kept: the next asks again.
      value.catch(() => {
        if (this.#counts?.value === value) this.#counts = undefined;
      });
      this.#counts = { at: now, value };
    }
    return this.#counts.value;
  }

  /** The host's metrics with this node's, every series labelled with `node` and `queue`. */
  metrics(): Promise<string> {
    return this.host.metrics();
  }

  async #process(job: Job<WardenJobData, WardenJobReturn>, token: string | undefined, signal: AbortSignal | undefined): Promise<WardenJobReturn> {
    try {
      const parsed = parseJobData(job.data, this.host.options.limits);
      if (parsed.deadline !== undefined && parsed.deadline <= Date.now()) {
        throw new DeadlineError(`the job's deadline (${new Date(parsed.deadline).toISOString()}) passed before a node took it`);
      }
      const { artifact, cached } = await this.#code.artifact(parsed.codeHash, parsed.code, { priority: parsed.priority, ...(signal ? { signal } : {}) });
      const result = await this.host.execute(artifact, parsed.input, {
        priority: parsed.priority,
        ...(parsed.abi === undefined ? {} : { abi: parsed.abi }),
        ...(parsed.timeoutMs === undefined ? {} : { timeoutMs: parsed.timeoutMs }),
        ...(parsed.deadline === undefined ? {} : { deadline: parsed.deadline }),
        ...(parsed.fuel === undefined ? {} : { fuel: parsed.fuel }),
        ...(parsed.args === undefined ? {} : { args: parsed.args }),
        ...(parsed.env === undefined ? {} : { env: parsed.env }),
        ...(parsed.files === undefined ? {} : { files: parsed.files }),
        ...(signal ? { signal } : {}),
      });
      this.#metrics.attempt('completed');
      // A cancellation that came too late to stop it.
      if (job.id !== undefined) this.#cancelled.delete(job.id);
      return {
        warden: JOB_FORMAT,
        output: base64(result.output),
        log: base64(result.log),
        logTruncated: result.logTruncated,
        files: Object.fromEntries(Object.entries(result.files).map(([name, bytes]) => [name, base64(bytes)])),
        ...(result.memoryPages === undefined ? {} : { memoryPages: result.memoryPages }),
        ...(result.maxMemoryPages === undefined ? {} : { maxMemoryPages: result.maxMemoryPages }),
        fuelUsed: result.fuelUsed,
        cpuTimeMs: result.cpuTimeMs,
        wallTimeMs: result.wallTimeMs,
        peakRssBytes: result.peakRssBytes,
        node: this.node,
        workerId: result.workerId,
        attempts: result.attempts,
        cached,
        artifactKey: result.artifactKey,
      };
    } catch (error) {
      throw await this.#failure(error, job, token);
    }
  }

  /** What BullMQ is told about a failed attempt: given back, failed for good, or retried. */
  async #failure(error: unknown, job: Job, token: string | undefined): Promise<Error> {
    const cancelled = job.id !== undefined && this.#cancelled.delete(job.id);
    if (this.#returning && !cancelled && (error instanceof AbortedError || error instanceof HostClosedError) && token) {
      // Shutting down: the job goes back to the queue, no attempt counted, for another node.
      try {
        await job.moveToWait(token);
        this.#metrics.attempt('returned');
        debug('%s: job %s returned to the queue', this.node, job.id);
        return new WaitingError();
      } catch (moveError) {
        debug('%s: cannot return job %s: %s', this.node, job.id, (moveError as Error).message);
      }
    }
    const warden =
      error instanceof WardenError ? error : new RemoteJobError(`unexpected error on node ${this.node}: ${(error as Error)?.message ?? String(error)}`);
    const reason = JSON.stringify(failureOf(cancelled ? new AbortedError('the job was cancelled by its producer') : warden, this.node));
    // A retry cannot help: the outcome depends on the code and input, or the code is gone,
    // or the producer gave up, or the deadline passed.
    const final = cancelled || warden.deterministic || warden instanceof CodeNotFoundError || warden instanceof DeadlineError;
    this.#metrics.attempt(cancelled ? 'cancelled' : final ? 'failed' : 'retry');
    const failure = final ? new UnrecoverableError(reason) : new Error(reason);
    // The failedReason says it all; BullMQ would also store this process' stack with every attempt.
    failure.stack = '';
    return failure;
  }

  /**
   * Stops the node without losing a job: it takes no more jobs, lets running ones finish for
   * `shutdownGraceMs` (or `graceMs`), hands the rest back to the queue (no attempt counted), then
   * closes its host and connections. `{ graceMs: 0 }` hands them back at once. Idempotent.
   */
  close(options: { graceMs?: number } = {}): Promise<void> {
    const graceMs = nonNegativeInteger('graceMs', options.graceMs, this.#graceMs);
    if (this.#closing) {
      if (graceMs === 0) this.#returnRunning();
      return this.#closing;
    }
    this.#closing = (async () => {
      const timer = setTimeout(() => this.#returnRunning(), graceMs);
      // With Redis unreachable BullMQ would wait for it for ever (to record or hand back the
      // running jobs): past the grace and a margin the node drops its connections and stops.
      // What it held stays locked until the other nodes' stalled check recovers it.
      let cut!: NodeJS.Timeout;
      const dropped = new Promise<void>((resolve) => {
        cut = setTimeout(() => {
          this.#dropConnections();
          resolve();
        }, graceMs + CLOSE_MARGIN_MS);
      });
      try {
        // BullMQ's close may still wait for the lost server after the drop: not this node.
        await Promise.race([this.worker.close(), dropped]);
      } finally {
        clearTimeout(timer);
        this.#removePanel();
        await this.host.close({ force: this.#dropped });
        await withTimeout(this.#queue.close(), CLOSE_MARGIN_MS).catch((error: Error) => debug('%s: queue close: %s', this.node, error.message));
        await Promise.all([closeRedis(this.#subscriber), closeRedis(this.#redis)]);
        clearTimeout(cut);
      }
    })();
    return this.#closing;
  }

  #dropped = false;

  /** Cuts every connection of the node; what waits on them fails or is left behind. */
  #dropConnections(): void {
    this.#dropped = true;
    debug('%s: Redis did not let the node close within its grace; dropping the connections', this.node);
    this.worker.cancelAllJobs('the node is shutting down');
    this.#subscriber.disconnect();
    this.#redis.disconnect();
    // Not awaited: BullMQ waits for an 'end' that a lost server may never give.
    for (const dropping of [this.worker.disconnect(), this.#queue.disconnect()]) dropping.catch(() => {});
  }

  #returnRunning(): void {
    this.#returning = true;
    this.worker.cancelAllJobs('the node is shutting down');
  }
}

/** The options as a node uses them, checked and with their defaults. @internal */
export interface ResolvedNodeOptions {
  connection: ReturnType<typeof connectionOption>;
  prefix: string;
  node: string;
  /** undefined: the host's execute workers. */
  concurrency: number | undefined;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  shutdownGraceMs: number;
  codeMemoryBytes: number;
  removeOnComplete: KeepJobs;
  removeOnFail: KeepJobs;
}

function resolveNodeOptions(options: WardenWorkerOptions): ResolvedNodeOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`Expected the options to be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) throw new InvalidOptionError(`Unknown option \`${key}\`; known: ${[...OPTION_NAMES].join(', ')}`, { details: { option: key } });
  }
  return {
    connection: connectionOption(options.connection),
    prefix: nonEmptyString('prefix', options.prefix, 'bull'),
    node: nonEmptyString('node', options.node, `${os.hostname()}-${process.pid}`),
    concurrency: options.concurrency === undefined ? undefined : positiveInteger('concurrency', options.concurrency, 1),
    lockDurationMs: positiveInteger('lockDurationMs', options.lockDurationMs, 30_000),
    stalledIntervalMs: positiveInteger('stalledIntervalMs', options.stalledIntervalMs, 30_000),
    maxStalledCount: nonNegativeInteger('maxStalledCount', options.maxStalledCount, 1),
    shutdownGraceMs: nonNegativeInteger('shutdownGraceMs', options.shutdownGraceMs, 30_000),
    codeMemoryBytes: positiveInteger('codeMemoryBytes', options.codeMemoryBytes, 64 * 1024 * 1024),
    removeOnComplete: keepJobs('removeOnComplete', options.removeOnComplete, { age: 3600, count: 10_000 }),
    removeOnFail: keepJobs('removeOnFail', options.removeOnFail, { age: 7 * 86_400, count: 100_000 }),
  };
}

/**
 * Starts a warden node on a BullMQ queue: a local host (`createHost(options.host)`) and a
 * BullMQ Worker that runs each job there. Resolves once it takes jobs.
 *
 * @example
 * const node = await createWardenWorker('jobs', { connection: 'redis://127.0.0.1:6379' });
 * process.on('SIGTERM', () => void node.close());
 */
export async function createWardenWorker(queueName: string, options: WardenWorkerOptions): Promise<WardenWorker> {
  if (typeof queueName !== 'string' || queueName.length === 0) {
    throw new InvalidOptionError(`Expected the queue name to be a non-empty string, got ${describe(queueName)}`, { details: { option: 'queue' } });
  }
  const resolved = resolveNodeOptions(options);
  const host = await createHost(options.host);
  let node: WardenWorker;
  try {
    node = new WardenWorker(queueName, resolved, host);
  } catch (error) {
    await host.close();
    throw error;
  }
  try {
    await node.waitUntilReady();
  } catch (error) {
    await node.close({ graceMs: 0 });
    throw error;
  }
  return node;
}
