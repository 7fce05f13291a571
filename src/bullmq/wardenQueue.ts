import { Queue, QueueEvents, type Job, type BackoffOptions, type JobsOptions } from 'bullmq';
import createDebug from 'debug';
import type { Redis } from 'ioredis';
import type { Abi } from '../artifactHandle.js';
import { PRIORITIES, type Priority } from '../actors/jobQueue.js';
import { AbortedError, DeadlineError, InvalidOptionError, PrevalidationError, type WardenError } from '../errors.js';
import { DEFAULT_LIMITS, describe, jobConfigOption, positiveInteger } from '../options.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../shared/limits.js';
import { cancelChannel } from './cancel.js';
import { CodeStore } from './codeStore.js';
import { bullConnection, closeRedis, connectionOption, createRedis, type RedisConnection } from './connection.js';
import { RemoteJobError } from './errors.js';
import {
  BULLMQ_PRIORITY,
  JOB_FORMAT,
  codeHashOf,
  errorOfFailure,
  parseFailedReason,
  type JobOutcome,
  type WardenJobData,
  type WardenJobReturn,
} from './jobData.js';
import { nonNegativeInteger } from './optionChecks.js';

/** Options of a `WardenQueue` (the producer's side of a queue). */
export interface WardenQueueOptions {
  /** Where Redis is: a URL or ioredis options. */
  connection: RedisConnection;
  /** BullMQ's key prefix; the nodes must use the same. Default `bull`. */
  prefix?: string;
  /** Code up to this size travels inside each job; larger code is stored once in Redis. 0: never inline. Default 4096. */
  inlineCodeBytes?: number;
  /** Stored code expires this long after the last submit that used it, seconds. Default 7 days. */
  codeTtlSeconds?: number;
  /** Larger code is refused at submit (E_PREVALIDATION). Default 16 MiB. */
  maxCodeBytes?: number;
  /** Larger input is refused at submit (E_INVALID_OPTION). Default 16 MiB. */
  maxInputBytes?: number;
  /** Larger `files` (all together) are refused at submit (E_INVALID_OPTION). Default 16 MiB, as a node's `limits.maxFilesBytes`. */
  maxFilesBytes?: number;
  /** Larger `args` and `env` (each string with its NUL) are refused at submit (E_INVALID_OPTION). Default 256 KiB, as a node's `limits.maxArgsBytes`. */
  maxArgsBytes?: number;
  /** BullMQ attempts of a job whose failures are not deterministic. Default 3. */
  attempts?: number;
  /** BullMQ backoff between those attempts. Default exponential from 1 s. */
  backoff?: number | BackoffOptions;
}

/** Options of one `submit`. */
export interface SubmitOptions {
  /** warden priority, mapped to BullMQ's (critical first). Default `normal`. */
  priority?: Priority;
  /** `run` or `wasi`. Default: what the module's exports imply. */
  abi?: Abi;
  /** CPU time the execution may use, ms. Default: the node's `limits.executeTimeoutMs`. */
  timeoutMs?: number;
  /** Epoch ms after which the result is of no use: nodes fail the job (E_DEADLINE) instead of running it or finishing it. */
  deadline?: number;
  /** Cancels the job: removed while it waits, stopped on its node while it runs (E_ABORTED, not retried). */
  signal?: AbortSignal;
  /** Overrides the queue's `attempts` for this job. */
  attempts?: number;
  /** Overrides the queue's `backoff` for this job. */
  backoff?: number | BackoffOptions;
  /** A BullMQ job id: a second submit with the same id adds nothing (idempotent producers). */
  jobId?: string;
  /** The BullMQ job name, as dashboards show it. Default `warden`. */
  name?: string;
  /** Fuel the execution may use (about one unit per instruction), at most the node's `limits.maxFuel`. Default: that limit. */
  fuel?: number;
  /** The module's argv, argv[0] included. Default `['main']`. */
  args?: string[];
  /** The module's environment. Default: empty. */
  env?: Record<string, string> | Map<string, string>;
  /** Files the job's directory (preopened as `/`) starts with: relative path → contents (a string is UTF-8). */
  files?: Record<string, Uint8Array | string> | Map<string, Uint8Array | string>;
}

/** What a warden job returned, decoded: `WardenJobReturn` with its bytes as Buffers and its job id. */
export interface WardenJobResult extends Omit<WardenJobReturn, 'warden' | 'output' | 'log' | 'files'>, Pick<JobOutcome<Buffer, Record<string, Buffer>>, 'output' | 'log' | 'files'> {
  jobId: string;
}

export type WardenJob = Job<WardenJobData, WardenJobReturn>;

/** A waiter first looks at its job itself after this long, then twice as long each time, up to LOOK_MAX_MS. */
const LOOK_FIRST_MS = 5000;
const LOOK_MAX_MS = 60_000;
/** How long close() waits for Redis before it drops the connections. */
const CLOSE_WAIT_MS = 5000;

function sleep(ms: number): Promise<undefined> {
  return new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}

const debug = createDebug('warden:bullmq');

const OPTION_NAMES = new Set(['connection', 'prefix', 'inlineCodeBytes', 'codeTtlSeconds', 'maxCodeBytes', 'maxInputBytes', 'maxFilesBytes', 'maxArgsBytes', 'attempts', 'backoff']);
const SUBMIT_OPTION_NAMES = new Set(['priority', 'abi', 'timeoutMs', 'deadline', 'signal', 'attempts', 'backoff', 'jobId', 'name', 'fuel', 'args', 'env', 'files']);

/**
 * The producer's side of a warden queue: submits jobs (code by hash, stored once in Redis or
 * inline when small), awaits their results through BullMQ's `QueueEvents`, and cancels them.
 *
 * @example
 * const queue = new WardenQueue('jobs', { connection: 'redis://127.0.0.1:6379' });
 * const job = await submit(queue, wasm, Buffer.from('world'));
 * const { output } = await queue.result(job);
 */
export class WardenQueue {
  readonly name: string;
  /** The BullMQ queue underneath: counts, pause, clean, dashboards. */
  readonly queue: Queue;
  #redis: Redis;
  #store: CodeStore;
  #connection: ReturnType<typeof connectionOption>;
  #prefix: string;
  #inlineCodeBytes: number;
  #maxInputBytes: number;
  /** What `args`, `env` and `files` are checked against at submit; the node checks its own limits again. */
  #configLimits: typeof DEFAULT_LIMITS;
  #jobDefaults: JobsOptions;
  #events: Promise<QueueEvents> | undefined;
  #closing: Promise<void> | undefined;
  /** Jobs this producer cancelled: their waiters reject with E_ABORTED. */
  #cancelled = new Set<string>();

  constructor(name: string, options: WardenQueueOptions) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidOptionError(`Expected the queue name to be a non-empty string, got ${describe(name)}`, { details: { option: 'queue' } });
    }
    if (options === null || typeof options !== 'object') throw new InvalidOptionError(`Expected the options to be an object, got ${describe(options)}`);
    for (const key of Object.keys(options)) {
      if (!OPTION_NAMES.has(key)) throw new InvalidOptionError(`Unknown option \`${key}\`; known: ${[...OPTION_NAMES].join(', ')}`, { details: { option: key } });
    }
    this.name = name;
    this.#connection = connectionOption(options.connection);
    this.#prefix = options.prefix ?? 'bull';
    if (typeof this.#prefix !== 'string' || this.#prefix.length === 0) {
      throw new InvalidOptionError(`Expected the \`prefix\` option to be a non-empty string, got ${describe(options.prefix)}`, { details: { option: 'prefix' } });
    }
    this.#inlineCodeBytes = nonNegativeInteger('inlineCodeBytes', options.inlineCodeBytes, 4096);
    this.#maxInputBytes = positiveInteger('maxInputBytes', options.maxInputBytes, DEFAULT_EXECUTE_LIMITS.maxInputBytes);
    this.#configLimits = {
      ...DEFAULT_LIMITS,
      maxFilesBytes: positiveInteger('maxFilesBytes', options.maxFilesBytes, DEFAULT_EXECUTE_LIMITS.maxFilesBytes),
      maxArgsBytes: positiveInteger('maxArgsBytes', options.maxArgsBytes, DEFAULT_EXECUTE_LIMITS.maxArgsBytes),
      // Counts and path lengths are the nodes' to judge (theirs may be raised); names are checked here.
      maxFiles: Number.MAX_SAFE_INTEGER,
      maxPathBytes: Number.MAX_SAFE_INTEGER,
    };
    const store = {
      prefix: this.#prefix,
      ttlSeconds: positiveInteger('codeTtlSeconds', options.codeTtlSeconds, 7 * 86_400),
      maxCodeBytes: positiveInteger('maxCodeBytes', options.maxCodeBytes, DEFAULT_PREPARE_LIMITS.maxCodeBytes),
    };
    this.#jobDefaults = {
      attempts: positiveInteger('attempts', options.attempts, 3),
      backoff: backoffOption('backoff', options.backoff) ?? { type: 'exponential', delay: 1000 },
      // The failedReason carries the failure; stack traces of the node would only cost Redis bytes.
      stackTraceLimit: 0,
    };
    this.#redis = createRedis(this.#connection);
    this.#store = new CodeStore(this.#redis, store);
    this.queue = new Queue(name, { connection: bullConnection(this.#connection), prefix: this.#prefix });
    // Connection trouble is reported by the calls that meet it; without a listener BullMQ prints it.
    this.queue.on('error', (error: Error) => debug('queue %s: %s', name, error.message));
  }

  /**
   * Adds a job that runs `code` (raw, gzip or brotli WebAssembly) on `input` on some node.
   * The code travels by its sha256: inline when small, otherwise stored once in Redis (or its
   * expiry renewed) before the job is added. Resolves with the BullMQ job.
   */
  async submit(code: Uint8Array, input: Uint8Array, options: SubmitOptions = {}): Promise<WardenJob> {
    this.#assertOpen();
    checkBytes('code', code);
    checkBytes('input', input);
    if (options === null || typeof options !== 'object') throw new InvalidOptionError(`Expected the options to be an object, got ${describe(options)}`);
    for (const key of Object.keys(options)) {
      if (!SUBMIT_OPTION_NAMES.has(key)) {
        throw new InvalidOptionError(`Unknown option \`${key}\`; known: ${[...SUBMIT_OPTION_NAMES].join(', ')}`, { details: { option: key } });
      }
    }
    if (code.byteLength > this.#store.options.maxCodeBytes) {
      throw new PrevalidationError(`code of ${code.byteLength} bytes exceeds maxCodeBytes (${this.#store.options.maxCodeBytes})`);
    }
    if (input.byteLength > this.#maxInputBytes) {
      throw new InvalidOptionError(`input of ${input.byteLength} bytes exceeds maxInputBytes (${this.#maxInputBytes})`, { details: { option: 'input' } });
    }
    const priority = options.priority ?? 'normal';
    if (!PRIORITIES.includes(priority)) {
      throw new InvalidOptionError(`Expected the \`priority\` option to be one of ${PRIORITIES.join(', ')}, got ${describe(priority)}`, {
        details: { option: 'priority' },
      });
    }
    if (options.abi !== undefined && options.abi !== 'run' && options.abi !== 'wasi') {
      throw new InvalidOptionError(`Expected the \`abi\` option to be 'run' or 'wasi', got ${describe(options.abi)}`, { details: { option: 'abi' } });
    }
    const timeoutMs = options.timeoutMs === undefined ? undefined : positiveInteger('timeoutMs', options.timeoutMs, 1);
    if (options.deadline !== undefined && (typeof options.deadline !== 'number' || !Number.isFinite(options.deadline))) {
      throw new InvalidOptionError(`Expected the \`deadline\` option to be epoch milliseconds, got ${describe(options.deadline)}`, {
        details: { option: 'deadline' },
      });
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidOptionError(`Expected the \`signal\` option to be an AbortSignal, got ${describe(options.signal)}`, { details: { option: 'signal' } });
    }
    if (options.signal?.aborted) throw new AbortedError('the signal was aborted before the job was submitted', { cause: options.signal.reason });
    if (options.deadline !== undefined && options.deadline <= Date.now()) throw new DeadlineError('the deadline passed before the job was submitted');
    const name = options.name ?? 'warden';
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidOptionError(`Expected the \`name\` option to be a non-empty string, got ${describe(name)}`, { details: { option: 'name' } });
    }
    if (options.jobId !== undefined && (typeof options.jobId !== 'string' || options.jobId.length === 0 || /^\d+$/.test(options.jobId))) {
      // BullMQ refuses integer ids: they would clash with its own counter.
      throw new InvalidOptionError(`Expected the \`jobId\` option to be a non-empty string that is not an integer, got ${describe(options.jobId)}`, {
        details: { option: 'jobId' },
      });
    }

    const fuel = options.fuel === undefined ? undefined : positiveInteger('fuel', options.fuel, 1);
    // The same checks as host.execute's, against this producer's limits.
    const config = jobConfigOption(options, this.#configLimits);

    const codeHash = codeHashOf(code);
    const inline = code.byteLength <= this.#inlineCodeBytes;
    if (!inline) await this.#store.put(codeHash, code);
    const data: WardenJobData = {
      warden: JOB_FORMAT,
      codeHash,
      ...(inline ? { code: base64(code) } : {}),
      input: base64(input),
      ...(options.abi === undefined ? {} : { abi: options.abi }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
      priority,
      ...(fuel === undefined ? {} : { fuel }),
      ...(options.args === undefined || !config ? {} : { args: config.args }),
      ...(options.env === undefined || !config ? {} : { env: envRecord(config.env) }),
      ...(options.files === undefined || !config ? {} : { files: record(config.files.map(([name, bytes]) => [name, base64(bytes)])) }),
    };
    const job = (await this.queue.add(name, data, {
      ...this.#jobDefaults,
      ...(options.attempts === undefined ? {} : { attempts: positiveInteger('attempts', options.attempts, 1) }),
      ...(options.backoff === undefined ? {} : { backoff: backoffOption('backoff', options.backoff)! }),
      ...(options.jobId === undefined ? {} : { jobId: options.jobId }),
      priority: BULLMQ_PRIORITY[priority],
    })) as WardenJob;
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => void this.cancel(job.id!).catch(() => {});
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        // Removed once a waiter of this producer saw the job end.
        this.#signalCleanups.set(job.id!, () => signal.removeEventListener('abort', onAbort));
      }
    }
    return job;
  }

  /**
   * Cancels a job: removes it if it waits (or is delayed), otherwise asks the node running it
   * to stop it (it then fails with E_ABORTED, not retried). Its waiters reject with E_ABORTED.
   */
  async cancel(jobId: string): Promise<'removed' | 'signalled'> {
    this.#cancelled.add(jobId);
    this.#localCancel.get(jobId)?.();
    const removed = await this.queue.remove(jobId);
    if (removed === 1) return 'removed';
    await this.#redis.publish(cancelChannel(this.#prefix, this.name), jobId);
    return 'signalled';
  }

  /** Waiters of this producer to reject when it cancels their job. */
  #localCancel = new Map<string, () => void>();
  /** Submit signals' listeners, by job. */
  #signalCleanups = new Map<string, () => void>();

  /**
   * Waits for a job's result. Rejects with the job's typed error (its class by `code`; the node,
   * usage figures and other facts in `details`) once it failed for good, with E_ABORTED when
   * this producer cancelled it, with E_DEADLINE at its deadline (removing it if it still waits),
   * or when `signal` fires (the job runs on).
   */
  async result(job: WardenJob | string, options: { signal?: AbortSignal } = {}): Promise<WardenJobResult> {
    this.#assertOpen();
    const jobId = typeof job === 'string' ? job : job.id!;
    const deadline = typeof job === 'string' ? undefined : job.data.deadline;
    // Per-job events (`completed:<id>`) are not in QueueEvents' typed list.
    const events = (await this.#queueEvents()) as unknown as NodeJS.EventEmitter;
    return new Promise<WardenJobResult>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      let look: NodeJS.Timeout | undefined;
      const finish = (outcome: () => WardenJobResult): void => {
        if (done) return;
        done = true;
        events.off(`completed:${jobId}`, onCompleted);
        events.off(`failed:${jobId}`, onFailed);
        events.off(`removed:${jobId}`, onRemoved);
        options.signal?.removeEventListener('abort', onSignal);
        if (timer) clearTimeout(timer);
        if (look) clearTimeout(look);
        this.#localCancel.delete(jobId);
        this.#signalCleanups.get(jobId)?.();
        this.#signalCleanups.delete(jobId);
        try {
          resolve(outcome());
        } catch (error) {
          reject(error as Error);
        }
      };
      const fail = (error: WardenError) => () => {
        throw error;
      };
      const onCompleted = ({ returnvalue }: { returnvalue: unknown }): void => finish(() => decodeReturn(jobId, returnvalue));
      const onFailed = ({ failedReason }: { failedReason: string }): void => finish(fail(errorOfFailure(parseFailedReason(failedReason))));
      const onRemoved = (): void =>
        finish(fail(this.#cancelled.has(jobId) ? new AbortedError('the job was cancelled') : new RemoteJobError(`job ${jobId} was removed from the queue`)));
      const onSignal = (): void => finish(fail(new AbortedError('stopped waiting for the job', { cause: options.signal?.reason })));
      this.#localCancel.set(jobId, () => finish(fail(new AbortedError('the job was cancelled'))));
      events.on(`completed:${jobId}`, onCompleted);
      events.on(`failed:${jobId}`, onFailed);
      events.on(`removed:${jobId}`, onRemoved);
      if (options.signal?.aborted) return onSignal();
      options.signal?.addEventListener('abort', onSignal, { once: true });
      // The events stream is trimmed (about 10,000 events): a reader that lags further behind
      // misses some. A waiter that has waited a while looks at the job itself, less and less often.
      let lookAfterMs = LOOK_FIRST_MS;
      const lookLater = (): void => {
        look = setTimeout(() => {
          if (done) return;
          check();
          lookAfterMs = Math.min(lookAfterMs * 2, LOOK_MAX_MS);
          lookLater();
        }, lookAfterMs);
        look.unref();
      };
      if (deadline !== undefined) {
        timer = setTimeout(() => {
          // Expiry: a job still waiting at its deadline is removed; a running one is its node's to fail.
          void this.queue.remove(jobId).catch(() => {});
          finish(fail(new DeadlineError(`the job's deadline (${new Date(deadline).toISOString()}) passed`)));
        }, Math.max(0, deadline - Date.now()));
      }
      if (this.#cancelled.has(jobId)) return finish(fail(new AbortedError('the job was cancelled')));
      // Three fields of the job's hash, not the whole job (its data can be megabytes).
      const check = (): void =>
        void this.#redis.hmget(this.queue.toKey(jobId), 'timestamp', 'finishedOn', 'returnvalue', 'failedReason').then(
          ([timestamp, finishedOn, returnvalue, failedReason]) => {
            if (done) return;
            if (timestamp == null) return finish(fail(new RemoteJobError(`no job ${jobId} in queue ${this.name} (never added, or removed)`)));
            if (finishedOn == null) return;
            // A completed job has a return value; a failed one has none (a retried one had a failedReason before).
            if (returnvalue == null) return onFailed({ failedReason: failedReason ?? '' });
            return onCompleted({ returnvalue: parseJson(returnvalue) });
          },
          (error: Error) => {
            if (!done) debug('cannot read job %s: %s', jobId, error.message);
          },
        );
      // It may have finished before the listeners were in place.
      check();
      lookLater();
    });
  }

  /** The queue's events, listened to once per producer (one blocking Redis connection). */
  #queueEvents(): Promise<QueueEvents> {
    this.#events ??= (async () => {
      // Read from the stream's last entry as of now, not from whenever the reader's first XREAD
      // happens to run: an event between the two would be lost to a waiter that already looked.
      const [last] = await this.#redis.xrevrange(this.queue.keys.events!, '+', '-', 'COUNT', 1);
      const events = new QueueEvents(this.name, {
        connection: bullConnection(this.#connection),
        prefix: this.#prefix,
        lastEventId: last?.[0] ?? '0-0',
      });
      // Many waiters listen at once; each removes its listeners when it settles.
      events.setMaxListeners(0);
      events.on('error', (error: Error) => debug('queue events %s: %s', this.name, error.message));
      await events.waitUntilReady();
      return events;
    })();
    return this.#events;
  }

  #assertOpen(): void {
    if (this.#closing) throw new InvalidOptionError('the WardenQueue is closed');
  }

  /**
   * Closes the queue's connections; with Redis unreachable, drops them after 5 s instead of
   * waiting for it. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const cancel of [...this.#localCancel.values()]) cancel();
      const events = await Promise.race([this.#events?.catch(() => undefined), sleep(CLOSE_WAIT_MS)]);
      const closed = Promise.all([events?.close(), this.queue.close(), closeRedis(this.#redis)]).then(() => true);
      if (!(await Promise.race([closed, sleep(CLOSE_WAIT_MS).then(() => false)]))) {
        // Not awaited: a lost server may never let these end.
        for (const dropping of [events?.disconnect(), this.queue.disconnect()]) dropping?.catch(() => {});
        this.#redis.disconnect();
      }
    })();
    return this.#closing;
  }
}

/**
 * Adds a warden job to a queue: `code` (raw, gzip or brotli WebAssembly) runs on `input` on one
 * of the queue's nodes. Await its result with `queue.result(job)`.
 *
 * @example
 * const job = await submit(queue, fs.readFileSync('hello.wasm'), Buffer.from('world'), { priority: 'high' });
 * const { output } = await queue.result(job);
 */
export function submit(queue: WardenQueue, code: Uint8Array, input: Uint8Array, options: SubmitOptions = {}): Promise<WardenJob> {
  return queue.submit(code, input, options);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function checkBytes(name: string, value: unknown): void {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidOptionError(`Expected \`${name}\` to be a Uint8Array, got ${describe(value)}`, { details: { option: name } });
  }
}

/** A record of entries that may be named `__proto__`: own properties of a null-prototype object. */
function record<T>(entries: Iterable<[string, T]>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [name, value] of entries) out[name] = value;
  return out;
}

/** `NAME=VALUE` strings (checked by jobConfigOption) as the record job data carries. */
function envRecord(env: string[]): Record<string, string> {
  return record(env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function backoffOption(name: string, value: unknown): number | BackoffOptions | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const v = value as { type?: unknown; delay?: unknown };
  if (value !== null && typeof value === 'object' && typeof v.type === 'string' && (v.delay === undefined || (Number.isSafeInteger(v.delay) && (v.delay as number) >= 0))) {
    return value as BackoffOptions;
  }
  throw new InvalidOptionError(`Expected the \`${name}\` option to be ms or { type: 'fixed' | 'exponential', delay: ms }, got ${describe(value)}`, {
    details: { option: name },
  });
}

/** A job's return value as a result; one that is not a warden result is E_JOB_FAILED. */
export function decodeReturn(jobId: string, value: unknown): WardenJobResult {
  const r = value as Partial<WardenJobReturn> | null;
  if (r === null || typeof r !== 'object' || r.warden !== JOB_FORMAT || typeof r.output !== 'string' || typeof r.log !== 'string') {
    throw new RemoteJobError(`job ${jobId} returned something that is not a warden result: ${describe(value).slice(0, 100)}`);
  }
  const files = r.files ?? {};
  if (files === null || typeof files !== 'object' || Object.values(files).some((text) => typeof text !== 'string')) {
    throw new RemoteJobError(`job ${jobId} returned files that are not base64 texts: ${describe(files).slice(0, 100)}`);
  }
  return {
    jobId,
    output: Buffer.from(r.output, 'base64'),
    log: Buffer.from(r.log, 'base64'),
    logTruncated: r.logTruncated === true,
    files: record(Object.entries(files).map(([name, text]) => [name, Buffer.from(text, 'base64')])),
    ...(typeof r.memoryPages === 'number' ? { memoryPages: r.memoryPages } : {}),
    ...(typeof r.maxMemoryPages === 'number' ? { maxMemoryPages: r.maxMemoryPages } : {}),
    fuelUsed: Number(r.fuelUsed),
    cpuTimeMs: Number(r.cpuTimeMs),
    wallTimeMs: Number(r.wallTimeMs),
    peakRssBytes: Number(r.peakRssBytes),
    node: String(r.node),
    workerId: String(r.workerId),
    attempts: Number(r.attempts),
    cached: r.cached === true,
    artifactKey: String(r.artifactKey),
  };
}
