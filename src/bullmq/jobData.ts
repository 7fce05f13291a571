/**
 * What a warden job is in BullMQ: its data (code by hash, input), its return value and its
 * failure reason. All three are JSON, as BullMQ stores them; bytes travel as base64. A node
 * reads the data as untrusted input: every field is checked here before anything is decoded.
 */
import crypto from 'node:crypto';
import type { Abi } from '../artifactHandle.js';
import { PRIORITIES, type Priority } from '../actors/jobQueue.js';
import * as errors from '../errors.js';
import { InvalidOptionError, WardenError } from '../errors.js';
import { describe } from '../options.js';
import { CodeNotFoundError, JobDataError, RemoteJobError } from './errors.js';

/** The version of the job format; a node refuses data of another. */
export const JOB_FORMAT = 1;

/** A warden job's `data` in BullMQ. */
export interface WardenJobData {
  warden: typeof JOB_FORMAT;
  /** sha256 of the code, 64 lowercase hex digits. */
  codeHash: string;
  /** The code itself (base64) when it is small enough to travel inline; otherwise Redis holds it under `codeHash`. */
  code?: string;
  /** The input, base64. */
  input: string;
  abi?: Abi;
  /** CPU time the execution may use, ms (the node's default when absent). */
  timeoutMs?: number;
  /** Epoch ms after which the result is of no use: a node fails the job instead of running it. */
  deadline?: number;
  /** The warden priority, also used by the node's own queue. */
  priority?: Priority;
}

/** A warden job's return value in BullMQ: the result and where it came from. */
export interface WardenJobReturn {
  warden: typeof JOB_FORMAT;
  /** base64 */
  output: string;
  /** base64 */
  log: string;
  logTruncated: boolean;
  cpuTimeMs: number;
  wallTimeMs: number;
  peakRssBytes: number;
  /** The node that ran it. */
  node: string;
  workerId: string;
  /** Runs on that node (2 when its first worker died under the job). */
  attempts: number;
  /** True when the node had the artifact prepared already. */
  cached: boolean;
  artifactKey: string;
}

/** A warden job's failure, as the BullMQ `failedReason` holds it (JSON). */
export interface WardenJobFailure {
  warden: typeof JOB_FORMAT;
  code: string;
  deterministic: boolean;
  message: string;
  /** The node that ran it; absent for failures BullMQ itself recorded. */
  node?: string;
  /** Usage figures (cpuTimeMs, wallTimeMs, peakRssBytes) and other facts of the error. */
  details: Record<string, unknown>;
}

/**
 * warden priorities as BullMQ priorities (lower runs first). Every warden job is prioritized:
 * BullMQ runs jobs without a priority before all prioritized ones, so `normal` cannot be 0.
 */
export const BULLMQ_PRIORITY: Readonly<Record<Priority, number>> = Object.freeze({ critical: 1, high: 2, normal: 3, background: 4 });

const HASH = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** sha256 of bytes, lowercase hex: the name of code everywhere in a queue. */
export function codeHashOf(code: Uint8Array): string {
  return crypto.createHash('sha256').update(code).digest('hex');
}

/** Bytes a base64 text decodes to, without decoding it. */
export function base64Bytes(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

function decodeBase64(field: string, text: unknown): Buffer {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !BASE64.test(text)) {
    throw new JobDataError(`job data field \`${field}\` must be base64 text, got ${short(text)}`, { details: { field } });
  }
  return Buffer.from(text, 'base64');
}

/** A value for a message, cut short: job data can be megabytes. */
function short(value: unknown): string {
  const text = describe(value);
  return text.length > 80 ? `${text.slice(0, 60)}…${text.slice(-12)}` : text;
}

/** A job as a node runs it: checked, with its bytes decoded. */
export interface ParsedJob {
  codeHash: string;
  /** Inline code, already checked against `codeHash`. */
  code: Buffer | undefined;
  input: Buffer;
  abi: Abi | undefined;
  timeoutMs: number | undefined;
  deadline: number | undefined;
  priority: Priority;
}

const FIELDS = new Set(['warden', 'codeHash', 'code', 'input', 'abi', 'timeoutMs', 'deadline', 'priority']);

/**
 * Checks a job's data as a node receives it. A wrong shape is `E_JOB_DATA`; an input above the
 * node's `maxInputBytes` is `E_INVALID_OPTION`, as `host.execute` says it, found before the
 * base64 is decoded.
 */
export function parseJobData(data: unknown, limits: { maxInputBytes: number; maxCodeBytes: number }): ParsedJob {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new JobDataError(`job data must be an object, got ${short(data)}`);
  }
  const d = data as Record<string, unknown>;
  if (d.warden !== JOB_FORMAT) {
    throw new JobDataError(`job data is not a warden job of format ${JOB_FORMAT} (field \`warden\` is ${short(d.warden)})`, { details: { field: 'warden' } });
  }
  for (const key of Object.keys(d)) {
    if (!FIELDS.has(key)) throw new JobDataError(`job data has an unknown field \`${key}\``, { details: { field: key } });
  }
  if (typeof d.codeHash !== 'string' || !HASH.test(d.codeHash)) {
    throw new JobDataError(`job data field \`codeHash\` must be 64 lowercase hex digits, got ${short(d.codeHash)}`, { details: { field: 'codeHash' } });
  }
  if (typeof d.input === 'string' && base64Bytes(d.input) > limits.maxInputBytes) {
    throw new InvalidOptionError(`input of ${base64Bytes(d.input)} bytes exceeds maxInputBytes (${limits.maxInputBytes})`, { details: { option: 'input' } });
  }
  const input = decodeBase64('input', d.input);
  let code: Buffer | undefined;
  if (d.code !== undefined) {
    if (typeof d.code === 'string' && base64Bytes(d.code) > limits.maxCodeBytes) {
      throw new errors.PrevalidationError(`code of ${base64Bytes(d.code)} bytes exceeds maxCodeBytes (${limits.maxCodeBytes})`);
    }
    code = decodeBase64('code', d.code);
    const actual = codeHashOf(code);
    if (actual !== d.codeHash) {
      throw new JobDataError(`the inline code's sha256 is ${actual}, not the job's codeHash ${d.codeHash}`, { details: { field: 'code' } });
    }
  }
  if (d.abi !== undefined && d.abi !== 'run' && d.abi !== 'wasi') {
    throw new JobDataError(`job data field \`abi\` must be 'run' or 'wasi', got ${short(d.abi)}`, { details: { field: 'abi' } });
  }
  if (d.timeoutMs !== undefined && (typeof d.timeoutMs !== 'number' || !Number.isSafeInteger(d.timeoutMs) || d.timeoutMs <= 0)) {
    throw new JobDataError(`job data field \`timeoutMs\` must be a positive integer, got ${short(d.timeoutMs)}`, { details: { field: 'timeoutMs' } });
  }
  if (d.deadline !== undefined && (typeof d.deadline !== 'number' || !Number.isFinite(d.deadline))) {
    throw new JobDataError(`job data field \`deadline\` must be epoch milliseconds, got ${short(d.deadline)}`, { details: { field: 'deadline' } });
  }
  if (d.priority !== undefined && !PRIORITIES.includes(d.priority as Priority)) {
    throw new JobDataError(`job data field \`priority\` must be one of ${PRIORITIES.join(', ')}, got ${short(d.priority)}`, { details: { field: 'priority' } });
  }
  return {
    codeHash: d.codeHash,
    code,
    input,
    abi: d.abi as Abi | undefined,
    timeoutMs: d.timeoutMs as number | undefined,
    deadline: d.deadline as number | undefined,
    priority: (d.priority as Priority | undefined) ?? 'normal',
  };
}

/** The failure a node records for an error: its code, whether it is deterministic, its facts. */
export function failureOf(error: WardenError, node: string): WardenJobFailure {
  return { warden: JOB_FORMAT, code: error.code, deterministic: error.deterministic, message: error.message, node, details: error.details };
}

/**
 * Reads a BullMQ `failedReason`. One that is not a warden failure (BullMQ's own, such as a job
 * that stalled too often) comes back as `E_JOB_FAILED` with the reason as its message.
 */
export function parseFailedReason(reason: string | undefined): WardenJobFailure {
  if (reason?.startsWith('{')) {
    try {
      const parsed = JSON.parse(reason) as Partial<WardenJobFailure>;
      if (parsed.warden === JOB_FORMAT && typeof parsed.code === 'string' && typeof parsed.message === 'string') {
        return {
          warden: JOB_FORMAT,
          code: parsed.code,
          deterministic: parsed.deterministic === true,
          message: parsed.message,
          ...(typeof parsed.node === 'string' ? { node: parsed.node } : {}),
          details: parsed.details !== null && typeof parsed.details === 'object' ? parsed.details : {},
        };
      }
    } catch {
      // not ours: below
    }
  }
  return { warden: JOB_FORMAT, code: 'E_JOB_FAILED', deterministic: false, message: reason ?? 'the job failed without a reason', details: {} };
}

type ErrorClass = new (message: string, options?: errors.WardenErrorOptions) => WardenError;

/** Every typed error a remote failure can come back as, by code. */
const CLASSES: ReadonlyMap<string, ErrorClass> = new Map(
  [...errors.errorClasses.filter((c) => c !== errors.LauncherError), JobDataError, CodeNotFoundError, RemoteJobError].map((c) => [
    new (c as unknown as ErrorClass)('').code,
    c as unknown as ErrorClass,
  ]),
);

/** The typed error of a remote failure; its details name the node and keep the usage figures. */
export function errorOfFailure(failure: WardenJobFailure): WardenError {
  const known = CLASSES.get(failure.code);
  const details: Record<string, unknown> = { ...failure.details, ...(failure.node === undefined ? {} : { node: failure.node }) };
  // A code this version does not know (a newer node's) is kept beside the generic one.
  if (!known) details.remoteCode = failure.code;
  const ErrorClass = known ?? RemoteJobError;
  return new ErrorClass(failure.message, { details });
}
