/**
 * What a warden job is in BullMQ: its data (code by hash, input), its return value and its
 * failure reason. All three are JSON, as BullMQ stores them; bytes travel as base64. A node
 * reads the data as untrusted input: every field is checked here before anything is decoded.
 */
import crypto from 'node:crypto';
import type { Abi } from '../artifactHandle.js';
import { PRIORITIES, type Priority } from '../actors/jobQueue.js';
import * as errors from '../errors.js';
import { ExitError, InvalidOptionError, WardenError } from '../errors.js';
import { describe } from '../options.js';
import { DEFAULT_EXECUTE_LIMITS } from '../shared/limits.js';
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
  /** Fuel the execution may use (the node's `limits.maxFuel` when absent). */
  fuel?: number;
  /** The module's argv, argv[0] included (`['main']` when absent). */
  args?: string[];
  /** The module's environment: name → value. */
  env?: Record<string, string>;
  /** Files the job's directory starts with: relative path → contents, base64. */
  files?: Record<string, string>;
}

/**
 * What a job returned, with bytes as `Bytes` and files as `Files`: base64 text in Redis
 * (`WardenJobReturn`), Buffers for the producer (`WardenJobResult`).
 */
export interface JobOutcome<Bytes, Files> {
  output: Bytes;
  log: Bytes;
  logTruncated: boolean;
  /** Files the job created or changed in its directory, by path. */
  files: Files;
  /** The module's memory when it ended, 64 KiB pages (absent when it exports none). */
  memoryPages?: number;
  /** The most its memory could reach, pages. */
  maxMemoryPages?: number;
  /** Fuel the job used: the same for the same module, input and limits on any node. */
  fuelUsed: number;
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

/** A warden job's return value in BullMQ: the result (bytes as base64) and where it came from. */
export interface WardenJobReturn extends JobOutcome<string, Record<string, string>> {
  warden: typeof JOB_FORMAT;
}

/** A warden job's failure, as the BullMQ `failedReason` holds it (JSON). */
export interface WardenJobFailure {
  warden: typeof JOB_FORMAT;
  code: string;
  deterministic: boolean;
  message: string;
  /** The node that ran it; absent for failures BullMQ itself recorded. */
  node?: string;
  /**
   * Usage figures (cpuTimeMs, wallTimeMs, peakRssBytes, fuelUsed), `exitCode` and other facts of
   * the error; what the job wrote (output, log, files) with bytes as `{ base64 }`, cut to
   * `FAILURE_BYTES` in all.
   */
  details: Record<string, unknown>;
}

/**
 * The most bytes of what a failed job wrote (output, log and files together) its failedReason
 * carries. BullMQ keeps that reason in the job and in the events stream, with every attempt.
 */
export const FAILURE_BYTES = 64 * 1024;

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
  fuel: number | undefined;
  args: string[] | undefined;
  /** A null-prototype record. */
  env: Record<string, string> | undefined;
  /** A null-prototype record. */
  files: Record<string, Buffer> | undefined;
}

const FIELDS = new Set(['warden', 'codeHash', 'code', 'input', 'abi', 'timeoutMs', 'deadline', 'priority', 'fuel', 'args', 'env', 'files']);

/** The limits of a node that `parseJobData` applies before decoding; the rest are host.execute's. */
export interface JobDataLimits {
  maxInputBytes: number;
  maxCodeBytes: number;
  /** Default: warden's default. */
  maxFiles?: number;
  maxFilesBytes?: number;
  maxArgsBytes?: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** An array or record of job data that is not what it should be. */
function shapeError(field: string, expected: string, value: unknown): JobDataError {
  return new JobDataError(`job data field \`${field}\` must be ${expected}, got ${short(value)}`, { details: { field } });
}

/** Bytes `args` and `env` take as C strings (each with its NUL), as limits.maxArgsBytes counts them; stops past `max`. */
function cStringBytes(strings: Iterable<string>, max: number): number {
  let bytes = 0;
  for (const text of strings) {
    // UTF-8 takes at least one byte per UTF-16 unit: no need to count a string that is too long already.
    bytes += text.length > max ? text.length + 1 : Buffer.byteLength(text) + 1;
    if (bytes > max) return bytes;
  }
  return bytes;
}

/** `args`, `env` and `files` of job data: their shapes, and their sizes against the node's limits before anything is decoded. */
function parseJobConfig(d: Record<string, unknown>, limits: JobDataLimits): Pick<ParsedJob, 'args' | 'env' | 'files'> {
  let args: string[] | undefined;
  if (d.args !== undefined) {
    if (!Array.isArray(d.args) || !d.args.every((arg) => typeof arg === 'string')) throw shapeError('args', 'an array of strings', d.args);
    args = d.args as string[];
  }
  let env: Record<string, string> | undefined;
  if (d.env !== undefined) {
    if (!isRecord(d.env) || !Object.values(d.env).every((value) => typeof value === 'string')) throw shapeError('env', 'an object of strings', d.env);
    env = Object.assign(Object.create(null) as Record<string, string>, d.env);
  }
  const maxArgsBytes = limits.maxArgsBytes ?? DEFAULT_EXECUTE_LIMITS.maxArgsBytes;
  const argsBytes = cStringBytes(
    (function* () {
      yield* args ?? [];
      for (const [name, value] of Object.entries(env ?? {})) yield `${name}=${value}`;
    })(),
    maxArgsBytes,
  );
  if (argsBytes > maxArgsBytes) {
    throw new InvalidOptionError(`\`args\` and \`env\` take more than limits.maxArgsBytes (${maxArgsBytes}) bytes`, { details: { option: args ? 'args' : 'env' } });
  }
  let files: Record<string, Buffer> | undefined;
  if (d.files !== undefined) {
    if (!isRecord(d.files)) throw shapeError('files', 'an object of base64 texts', d.files);
    const entries = Object.entries(d.files);
    const maxFiles = limits.maxFiles ?? DEFAULT_EXECUTE_LIMITS.maxFiles;
    if (entries.length > maxFiles) {
      throw new InvalidOptionError(`The \`files\` option holds ${entries.length} files, more than limits.maxFiles (${maxFiles})`, { details: { option: 'files' } });
    }
    const maxFilesBytes = limits.maxFilesBytes ?? DEFAULT_EXECUTE_LIMITS.maxFilesBytes;
    let bytes = 0;
    for (const [name, text] of entries) {
      if (typeof text !== 'string') throw shapeError(`files[${JSON.stringify(name).slice(0, 80)}]`, 'base64 text', text);
      bytes += base64Bytes(text);
    }
    if (bytes > maxFilesBytes) {
      throw new InvalidOptionError(`The \`files\` option holds ${bytes} bytes, more than limits.maxFilesBytes (${maxFilesBytes})`, { details: { option: 'files' } });
    }
    files = Object.create(null) as Record<string, Buffer>;
    for (const [name, text] of entries) files[name] = decodeBase64(`files[${JSON.stringify(name).slice(0, 80)}]`, text);
  }
  return { args, env, files };
}

/**
 * Checks a job's data as a node receives it. A wrong shape is `E_JOB_DATA`; an input, files, or
 * args and env above the node's limits are `E_INVALID_OPTION`, as `host.execute` says it, found
 * before the base64 is decoded. The values of `fuel`, `args`, `env` and `files` (fuel within
 * `maxFuel`, file names, NULs) are host.execute's to check.
 */
export function parseJobData(data: unknown, limits: JobDataLimits): ParsedJob {
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
  if (d.fuel !== undefined && (typeof d.fuel !== 'number' || !Number.isSafeInteger(d.fuel) || d.fuel <= 0)) {
    throw shapeError('fuel', 'a positive integer', d.fuel);
  }
  const config = parseJobConfig(d, limits);
  return {
    ...config,
    fuel: d.fuel as number | undefined,
    codeHash: d.codeHash,
    code,
    input,
    abi: d.abi as Abi | undefined,
    timeoutMs: d.timeoutMs as number | undefined,
    deadline: d.deadline as number | undefined,
    priority: (d.priority as Priority | undefined) ?? 'normal',
  };
}

/** Bytes as they travel in a failure's details. */
interface EncodedBytes {
  base64: string;
}

function isEncodedBytes(value: unknown): value is EncodedBytes {
  return isRecord(value) && Object.keys(value).length === 1 && typeof value.base64 === 'string' && value.base64.length % 4 === 0 && BASE64.test(value.base64);
}

function encoded(bytes: Uint8Array): EncodedBytes {
  return { base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
}

/**
 * An error's details for JSON: bytes (a failed job's output, log and files) as base64, at most
 * `budget` of them in all; what is cut is said (`outputTruncated`, `logTruncated`,
 * `filesTruncated`).
 */
function encodeDetails(details: Record<string, unknown>, budget: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let left = budget;
  const take = (bytes: Uint8Array): { value: EncodedBytes; cut: boolean } => {
    const kept = bytes.subarray(0, Math.max(0, left));
    left -= kept.byteLength;
    return { value: encoded(kept), cut: kept.byteLength < bytes.byteLength };
  };
  // The log first: it says why the job failed; then the output, then the files.
  const keys = Object.keys(details).sort((a, b) => rank(a) - rank(b));
  for (const key of keys) {
    const value = details[key];
    if (value instanceof Uint8Array) {
      const { value: bytes, cut } = take(value);
      out[key] = bytes;
      if (cut) out[`${key}Truncated`] = true;
    } else if (isRecord(value) && Object.values(value).some((v) => v instanceof Uint8Array)) {
      // A record of bytes (`files`): whole files while the budget lasts, none cut in the middle.
      const record: Record<string, unknown> = {};
      let cut = false;
      for (const [name, v] of Object.entries(value)) {
        if (!(v instanceof Uint8Array)) record[name] = v;
        else if (v.byteLength <= left) record[name] = take(v).value;
        else cut = true;
      }
      out[key] = record;
      if (cut) out[`${key}Truncated`] = true;
    } else if (!Object.hasOwn(out, key)) {
      out[key] = value;
    }
  }
  return out;
}

function rank(key: string): number {
  return key === 'log' ? 0 : key === 'output' ? 1 : 2;
}

/** Details read back from JSON: `{ base64 }` values as Buffers, records of them as null-prototype records. */
function decodeDetails(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    if (isEncodedBytes(value)) out[key] = Buffer.from(value.base64, 'base64');
    else if (isRecord(value) && Object.keys(value).length > 0 && Object.values(value).every(isEncodedBytes)) {
      const record = Object.create(null) as Record<string, Buffer>;
      for (const [name, bytes] of Object.entries(value)) record[name] = Buffer.from((bytes as EncodedBytes).base64, 'base64');
      out[key] = record;
    } else out[key] = value;
  }
  return out;
}

/**
 * The failure a node records for an error: its code, whether it is deterministic, its facts
 * (`exitCode` of E_EXIT among them), and what the job wrote, as base64 and at most `budget` bytes.
 */
export function failureOf(error: WardenError, node: string, budget = FAILURE_BYTES): WardenJobFailure {
  const details = encodeDetails(error.details, budget);
  if (error instanceof ExitError) details.exitCode = error.exitCode;
  return { warden: JOB_FORMAT, code: error.code, deterministic: error.deterministic, message: error.message, node, details };
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
  const details: Record<string, unknown> = { ...decodeDetails(failure.details), ...(failure.node === undefined ? {} : { node: failure.node }) };
  // A code this version does not know (a newer node's) is kept beside the generic one.
  if (!known) details.remoteCode = failure.code;
  const ErrorClass = known ?? RemoteJobError;
  return new ErrorClass(failure.message, { details });
}
