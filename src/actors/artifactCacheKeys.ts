import crypto from 'node:crypto';
import { InvalidOptionError } from '../errors.js';

/** Every cached artifact is `<key>.wdna`. */
export const ARTIFACT_FILE_SUFFIX = '.wdna';

/**
 * Files being installed start with this (a dot, so they never look like an artifact); any
 * left at open belong to an install that was interrupted.
 */
export const TEMP_FILE_PREFIX = '.tmp-';

const HASH_PATTERN = /^[0-9a-f]{64}$/;
const KEY_PATTERN = /^[0-9a-f]{64}-[0-9a-f]{16}$/;

/** Throws unless `paramsHash` is 64 lowercase hex digits (what `hashParams` returns). */
export function assertParamsHash(paramsHash: string): void {
  if (typeof paramsHash !== 'string' || !HASH_PATTERN.test(paramsHash)) {
    throw new TypeError(`paramsHash must be 64 lowercase hex digits, got ${JSON.stringify(paramsHash)}`);
  }
}

/**
 * Throws unless `key` has the shape `keyFor` gives. Keys become file names, so this also keeps
 * a malformed key from naming a file outside the artifacts dir.
 */
export function assertKey(key: string): void {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw new TypeError(`artifact key must be <64 hex>-<16 hex>, got ${JSON.stringify(key)}`);
  }
}

/** `<sha256(code) hex>-<first 16 hex of paramsHash>`. */
export function artifactKey(code: Uint8Array, paramsHash: string): string {
  assertParamsHash(paramsHash);
  return `${crypto.createHash('sha256').update(code).digest('hex')}-${paramsHash.slice(0, 16)}`;
}

/** The part of the params hash a key carries, to check an artifact against its name. */
export function paramsPrefixOf(key: string): string {
  return key.slice(65);
}

/** The file name of the artifact of `key`: `<key>.wdna`. */
export function fileNameOf(key: string): string {
  return `${key}${ARTIFACT_FILE_SUFFIX}`;
}

/** The key a file name stands for, or `undefined` when it is not an artifact's name. */
export function keyOfFileName(name: string): string | undefined {
  if (!name.endsWith(ARTIFACT_FILE_SUFFIX)) return undefined;
  const key = name.slice(0, -ARTIFACT_FILE_SUFFIX.length);
  return KEY_PATTERN.test(key) ? key : undefined;
}

/** Throws `E_INVALID_OPTION` unless `value` is a byte count (positive, or non-negative with `allowZero`). */
export function assertByteCount(name: string, value: unknown, allowZero = false): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) {
    const expected = allowZero ? 'a non-negative integer' : 'a positive integer';
    throw new InvalidOptionError(`Expected the \`${name}\` option to be ${expected}, got \`${String(value)}\` (${typeof value})`, {
      details: { option: name },
    });
  }
}
