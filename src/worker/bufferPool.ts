/**
 * Big buffers kept from one job for the next: a job's input, its output store and the frames that
 * carry them. Fresh memory is expensive where warden runs: the first touch of each page is a
 * page fault, and on a virtual machine (this project's bench host, a Firecracker VM) that is
 * about 10 ms per MiB, 40 times the cost of copying the same bytes into memory already touched.
 * A 16 MiB echo touched five fresh 16 MiB buffers in the worker; with the pool it touches none
 * once warm. An execute job uses them on the thread they belong to (the worker's main thread); a
 * job thread's (tests, `JobRunner`) gets them by transfer, never by copy. They come back to the
 * pool when the job or the socket is done with them.
 *
 * A pooled buffer holds an earlier job's bytes past the view handed out: every user of `take`
 * gets a view of exactly the bytes it asked for and overwrites them before they are read.
 */

import { bigBuffer } from '../shared/hugePages.js';

/** Buffers below this size are cheap to allocate and not kept. */
export const MIN_POOLED_BYTES = 64 * 1024;

export interface BufferPoolOptions {
  /** Bytes the pool keeps at most (the largest buffers are kept). Default 48 MiB. */
  maxBytes?: number;
  /** Buffers the pool keeps at most. Default 4. */
  maxBuffers?: number;
  /** The pool lets its buffers go after this long without a job using it, ms. Default 10,000. */
  idleMs?: number;
  /** Timer factory (injected for tests). Default `setTimeout`, unref'd. */
  setTimer?: (fn: () => void, ms: number) => { refresh(): unknown; unref?(): unknown };
}

/** ArrayBuffers the pool handed out: only these may be moved whole when a view covers part of them. */
const pooled = new WeakSet<ArrayBufferLike>();

/** Whether `buffer` came from a pool (or was adopted), so that nobody else holds a view of it and it may be moved whole. */
export function isPooled(buffer: ArrayBufferLike): boolean {
  return pooled.has(buffer);
}

/** Marks a buffer its creator alone views (a sink's store, a copy of the output), so that it may be moved whole and pooled. */
export function adopt<T extends ArrayBufferLike>(buffer: T): T {
  pooled.add(buffer);
  return buffer;
}

/** A bounded set of reusable ArrayBuffers; one per thread that allocates big buffers. */
export class BufferPool {
  readonly #free: ArrayBuffer[] = [];
  readonly #maxBytes: number;
  readonly #maxBuffers: number;
  readonly #idleMs: number;
  readonly #setTimer: NonNullable<BufferPoolOptions['setTimer']>;
  #timer: { refresh(): unknown } | undefined;

  constructor(options: BufferPoolOptions = {}) {
    this.#maxBytes = options.maxBytes ?? 48 * 1024 * 1024;
    this.#maxBuffers = options.maxBuffers ?? 4;
    this.#idleMs = options.idleMs ?? 10_000;
    this.#setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#free.reduce((sum, buffer) => sum + buffer.byteLength, 0);
  }

  /** Buffers held. */
  get size(): number {
    return this.#free.length;
  }

  /** A Buffer of exactly `n` bytes (contents undefined), backed by the smallest pooled buffer that fits or a fresh one. */
  take(n: number): Buffer {
    this.#touch();
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const size = this.#free[i]!.byteLength;
      if (size >= n && (best < 0 || size < this.#free[best]!.byteLength)) best = i;
    }
    const buffer = best >= 0 ? this.#free.splice(best, 1)[0]! : fresh(n);
    return Buffer.from(buffer, 0, n);
  }

  /** The largest pooled buffer, for a store that grows (an output sink), if any. */
  takeLargest(): ArrayBuffer | undefined {
    this.#touch();
    if (this.#free.length === 0) return undefined;
    let best = 0;
    for (let i = 1; i < this.#free.length; i++) if (this.#free[i]!.byteLength > this.#free[best]!.byteLength) best = i;
    return this.#free.splice(best, 1)[0];
  }

  /** Gives buffers back (a detached or small one is dropped); the smallest go first past the bounds. */
  give(...buffers: (ArrayBufferLike | undefined)[]): void {
    let added = false;
    for (const buffer of buffers) {
      if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < MIN_POOLED_BYTES || this.#free.includes(buffer)) continue;
      pooled.add(buffer);
      this.#free.push(buffer);
      added = true;
    }
    // A small job gives back only small buffers: nothing to do.
    if (!added) return;
    this.#free.sort((a, b) => b.byteLength - a.byteLength);
    let total = this.bytes;
    while (this.#free.length > this.#maxBuffers || total > this.#maxBytes) total -= this.#free.pop()!.byteLength;
  }

  /** Lets every buffer go. */
  clear(): void {
    this.#free.length = 0;
  }

  /** An idle worker gives its memory back: the timer restarts at every use. */
  #touch(): void {
    if (this.#timer) this.#timer.refresh();
    else this.#timer = this.#setTimer(() => this.clear(), this.#idleMs);
  }
}

function fresh(n: number): ArrayBuffer {
  // Handed out from offset 0 (`take`) and moved whole: advised where it lies.
  const buffer = bigBuffer(n).buffer as ArrayBuffer;
  pooled.add(buffer);
  return buffer;
}
