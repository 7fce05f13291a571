import { JobError } from '../../shared/jobError.js';
import { bigArrayBuffer } from '../../shared/hugePages.js';
import { adopt } from '../bufferPool.js';

/**
 * A growable byte buffer bounded by `limit`. Appends copy into one backing store that doubles, so
 * a program writing a byte at a time costs no object per write.
 */
class ByteBuffer {
  #store: Uint8Array;
  #length = 0;

  /** `store`: memory to start in (a pooled buffer, already touched), grown past like any other. */
  constructor(
    readonly limit: number,
    store?: ArrayBuffer,
  ) {
    this.#store = new Uint8Array(adopt(store ?? new ArrayBuffer(0)));
  }

  get length(): number {
    return this.#length;
  }

  /** Appends as much of `bytes` as fits under the limit; returns how many bytes were kept. */
  append(bytes: Uint8Array): number {
    const kept = Math.min(bytes.byteLength, this.limit - this.#length);
    if (kept <= 0) return 0;
    const needed = this.#length + kept;
    if (needed > this.#store.byteLength) {
      const grown = new Uint8Array(adopt(bigArrayBuffer(Math.min(this.limit, Math.max(needed, this.#store.byteLength * 2, 4096)))));
      grown.set(this.#store.subarray(0, this.#length));
      this.#store = grown;
    }
    this.#store.set(kept === bytes.byteLength ? bytes : bytes.subarray(0, kept), this.#length);
    this.#length = needed;
    return kept;
  }

  /** The bytes written, as a view of the backing store (which no one else views: it may be moved whole). */
  contents(): Uint8Array {
    return this.#store.subarray(0, this.#length);
  }
}

/** Where a job writes its result: exceeding the limit fails the job with E_OUTPUT_TOO_LARGE. */
export class OutputSink {
  readonly #buffer: ByteBuffer;

  /** `store`: memory to start in (see ByteBuffer). */
  constructor(
    readonly limit: number,
    store?: ArrayBuffer,
  ) {
    this.#buffer = new ByteBuffer(limit, store);
  }

  write(bytes: Uint8Array): void {
    if (this.#buffer.length + bytes.byteLength > this.limit) {
      throw new JobError('E_OUTPUT_TOO_LARGE', `output exceeds ${this.limit} bytes (maxOutputBytes)`);
    }
    this.#buffer.append(bytes);
  }

  contents(): Uint8Array {
    return this.#buffer.contents();
  }
}

/** Where a job writes its log: only diagnostics, so past the limit it is cut, not failed. */
export class LogSink {
  readonly #buffer: ByteBuffer;
  #truncated = false;

  constructor(readonly limit: number) {
    this.#buffer = new ByteBuffer(limit);
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  write(bytes: Uint8Array): void {
    if (this.#buffer.append(bytes) < bytes.byteLength) this.#truncated = true;
  }

  contents(): Uint8Array {
    return this.#buffer.contents();
  }
}
