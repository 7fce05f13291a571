/**
 * What one `prepare` or `execute` call asks for, checked at the boundary and resolved against
 * the host's options: a caller's mistake is an `E_INVALID_OPTION` naming the option, said
 * before any job exists. Kept apart from `options.ts` (the host's own options).
 */
import { PRIORITIES, type Priority } from './actors/jobQueue.js';
import type { Isolation } from './actors/poolJob.js';
import { Artifact, missingAbiExports, type Abi } from './artifactHandle.js';
import { AbortedError, DeadlineError, InvalidOptionError } from './errors.js';
import type { ExecuteOptions, PrepareOptions } from './host/types.js';
import { MAX_JOB_TIMEOUT_MS, describe, isolationOption, jobConfigOption, positiveInteger, type HostLimits, type ResolvedHostOptions } from './options.js';
import type { WorkerKind } from './protocol/messages.js';
import type { JobConfig } from './shared/jobFiles.js';

/** When and how one job runs: what both kinds of call resolve to. */
export interface JobTiming {
  priority: Priority;
  isolation: Isolation;
  /** CPU time the job may use, ms. */
  timeoutMs: number;
  signal: AbortSignal | undefined;
  deadline: number | undefined;
}

/** An execute call's options, resolved. */
export interface ExecuteJobOptions extends JobTiming {
  config: JobConfig | undefined;
  fuel: number;
  /** The caller's ABI; undefined: what the module's exports imply. */
  abi: Abi | undefined;
}

/**
 * The options both calls share, in the order a caller hears of its mistakes. A signal already
 * aborted or a deadline already past fails here: the job would only be cancelled later.
 */
export function resolveJobOptions(kind: WorkerKind, options: PrepareOptions, host: ResolvedHostOptions, now = Date.now()): JobTiming {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`Expected the options to be an object, got ${describe(options)}`);
  }
  const priority = options.priority ?? 'normal';
  if (!PRIORITIES.includes(priority)) {
    throw new InvalidOptionError(`Expected the \`priority\` option to be one of ${PRIORITIES.join(', ')}, got ${describe(priority)}`, {
      details: { option: 'priority' },
    });
  }
  const fallback = kind === 'prepare' ? host.limits.prepareTimeoutMs : host.limits.executeTimeoutMs;
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
  if (options.deadline !== undefined && options.deadline <= now) throw new DeadlineError('the deadline passed before the job was submitted');
  const isolation = isolationOption('isolation', options.isolation, host.isolation);
  return { priority, isolation, timeoutMs, signal: options.signal, deadline: options.deadline };
}

/** The options of a call that passed none: resolved once per host ({@link resolveExecuteOptions}). */
export const NO_OPTIONS: Readonly<ExecuteOptions> = Object.freeze({});

/** What {@link NO_OPTIONS} resolves to, per host: it depends on the host's options alone. */
const defaultExecuteOptions = new WeakMap<ResolvedHostOptions, Readonly<ExecuteJobOptions>>();

/** An execute call's options: the shared ones, then argv/env/files, fuel and the ABI. */
export function resolveExecuteOptions(options: ExecuteOptions, host: ResolvedHostOptions): Readonly<ExecuteJobOptions> {
  if (options !== NO_OPTIONS) return resolveGivenExecuteOptions(options, host);
  let resolved = defaultExecuteOptions.get(host);
  if (resolved === undefined) {
    resolved = Object.freeze(resolveGivenExecuteOptions(options, host));
    defaultExecuteOptions.set(host, resolved);
  }
  return resolved;
}

function resolveGivenExecuteOptions(options: ExecuteOptions, host: ResolvedHostOptions): ExecuteJobOptions {
  const timing = resolveJobOptions('execute', options, host);
  const config = jobConfigOption(options, host.limits);
  const fuel = positiveInteger('fuel', options.fuel, host.limits.maxFuel);
  if (fuel > host.limits.maxFuel) {
    throw new InvalidOptionError(`Expected the \`fuel\` option to be at most limits.maxFuel (${host.limits.maxFuel}), got ${fuel}`, {
      details: { option: 'fuel' },
    });
  }
  if (options.abi !== undefined && options.abi !== 'run' && options.abi !== 'wasi') {
    throw new InvalidOptionError(`Expected the \`abi\` option to be 'run' or 'wasi', got ${describe(options.abi)}`, { details: { option: 'abi' } });
  }
  return { ...timing, config, fuel, abi: options.abi };
}

/**
 * Checks a byte argument and takes a copy in a SharedArrayBuffer: the caller may reuse its buffer
 * as soon as the call returns, while the job reads the bytes later (and the cache key is their
 * hash now); the host's check thread reads the copy without another (nothing writes it after this).
 */
export function checkBytes(name: string, value: unknown): Uint8Array {
  const bytes = checkUint8Array(name, value);
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  copy.set(bytes);
  return copy;
}

function checkUint8Array(name: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidOptionError(`Expected \`${name}\` to be a Uint8Array, got ${describe(value)}`, { details: { option: name } });
  }
  return value;
}

/** An execute's input, checked to be bytes within `maxInputBytes` (not copied: `InputBuffers` does that). */
export function checkInput(input: unknown, limits: HostLimits): Uint8Array {
  const bytes = checkUint8Array('input', input);
  if (bytes.byteLength > limits.maxInputBytes) {
    throw new InvalidOptionError(`input of ${bytes.byteLength} bytes exceeds maxInputBytes (${limits.maxInputBytes})`, {
      details: { option: 'input' },
    });
  }
  return bytes;
}

/** What `execute` runs: an `Artifact`, or code it prepares first. */
export function checkArtifactOrCode(value: unknown): Artifact | Uint8Array {
  if (!(value instanceof Artifact) && !(value instanceof Uint8Array)) {
    throw new InvalidOptionError(`Expected \`artifactOrCode\` to be an Artifact or a Uint8Array, got ${describe(value)}`, {
      details: { option: 'artifactOrCode' },
    });
  }
  return value;
}

/**
 * The ABI an execute runs through: the caller's, else what the module's exports imply. The
 * caller's mistake is said before a worker runs it (there it would be a trap of the module's);
 * no exports known (an unreadable cached file) decides nothing: the worker still checks.
 */
export function abiFor(artifact: Artifact, requested: Abi | undefined): Abi {
  const abi: Abi = requested ?? artifact.abi ?? 'run';
  const missing = artifact.exports.length === 0 ? [] : missingAbiExports(abi, artifact.exports);
  if (missing.length > 0) {
    const needs = missing.map((name) => `\`${name}\``).join(' and ');
    throw new InvalidOptionError(`Expected the \`abi\` option to be an ABI the module exports for: '${abi}' runs through ${needs}, which it does not export (its exports: ${artifact.exports.join(', ')})`, {
      details: { option: 'abi', abi, exports: artifact.exports },
    });
  }
  return abi;
}

/**
 * The wall-clock bound on top of the worker's CPU-time limits (an execute also compiles its
 * module first), plus a second for startup; within setTimeout's range, past 2^31-1 ms Node
 * fires a timer at once.
 */
export function hardTimeoutMs(kind: WorkerKind, timeoutMs: number, limits: HostLimits): number {
  const cpuMs = timeoutMs + (kind === 'execute' ? limits.compileTimeoutMs : 0);
  return Math.min(Math.ceil(cpuMs * limits.hardTimeoutFactor) + 1_000, 2_147_483_647);
}
