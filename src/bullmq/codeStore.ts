import type { Redis } from 'ioredis';
import { PrevalidationError } from '../errors.js';
import { CodeNotFoundError, JobDataError } from './errors.js';
import { codeHashOf } from './jobData.js';

/** Options of the code store; the same on producers and nodes of a queue. */
export interface CodeStoreOptions {
  /** Key prefix (BullMQ's `prefix`, default `bull`): code lives at `<prefix>:warden:code:<sha256>`. */
  prefix: string;
  /** How long stored code lives after the last submit that used it, seconds. */
  ttlSeconds: number;
  /** Code larger than this is neither stored nor read. */
  maxCodeBytes: number;
}

/**
 * Code stored once in Redis under its sha256, for every queue of a prefix. A producer stores it
 * (or renews its expiry) before it adds a job that names it; a node reads it on first sight and
 * checks that the bytes hash to the name. Expiry: `ttlSeconds` after the last renewal.
 */
export class CodeStore {
  readonly options: CodeStoreOptions;
  #redis: Redis;
  /** When this process last stored or renewed each hash: a renewal per job would double a submit's commands. */
  #renewed = new Map<string, number>();
  #now: () => number;

  constructor(redis: Redis, options: CodeStoreOptions, now: () => number = Date.now) {
    this.#redis = redis;
    this.options = options;
    this.#now = now;
  }

  keyOf(hash: string): string {
    return `${this.options.prefix}:warden:code:${hash}`;
  }

  /**
   * Makes sure Redis holds `code` under `hash` for at least the next `ttlSeconds` minus an
   * eighth: renews the expiry (no bytes sent) when it is there, stores it when not.
   */
  async put(hash: string, code: Uint8Array): Promise<void> {
    if (code.byteLength > this.options.maxCodeBytes) {
      throw new PrevalidationError(`code of ${code.byteLength} bytes exceeds maxCodeBytes (${this.options.maxCodeBytes})`);
    }
    const now = this.#now();
    const last = this.#renewed.get(hash);
    if (last !== undefined && now - last < (this.options.ttlSeconds * 1000) / 8) return;
    const key = this.keyOf(hash);
    const renewed = await this.#redis.expire(key, this.options.ttlSeconds);
    if (renewed !== 1) await this.#redis.set(key, Buffer.from(code.buffer, code.byteOffset, code.byteLength), 'EX', this.options.ttlSeconds);
    this.#renewed.set(hash, now);
    if (this.#renewed.size > 10_000) this.#renewed.delete(this.#renewed.keys().next().value!);
  }

  /**
   * The code stored under `hash`: `E_CODE_NOT_FOUND` when there is none, `E_PREVALIDATION` when
   * it is larger than `maxCodeBytes` (read no further than one byte past it), `E_JOB_DATA` when
   * its bytes do not hash to `hash`.
   */
  async get(hash: string): Promise<Buffer> {
    const key = this.keyOf(hash);
    const bytes = await this.#redis.getrangeBuffer(key, 0, this.options.maxCodeBytes);
    if (bytes.byteLength === 0 && (await this.#redis.exists(key)) === 0) {
      throw new CodeNotFoundError(`no code with sha256 ${hash} in Redis (${key}): it expired, was evicted, or was never stored`, {
        details: { codeHash: hash },
      });
    }
    if (bytes.byteLength > this.options.maxCodeBytes) {
      throw new PrevalidationError(`the code stored under ${hash} exceeds maxCodeBytes (${this.options.maxCodeBytes})`, { details: { codeHash: hash } });
    }
    const actual = codeHashOf(bytes);
    if (actual !== hash) {
      throw new JobDataError(`the code stored under ${hash} hashes to ${actual}`, { details: { codeHash: hash } });
    }
    return bytes;
  }
}
