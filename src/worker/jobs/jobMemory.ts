import { adviseHugePages } from '../../shared/hugePages.js';
import { WASM_PAGE_BYTES } from '../../shared/limits.js';

/** The shape of a job's memory: its pages at the start and its maximum (clamped to the limits). */
export interface MemoryShape {
  initial: number;
  maximum: number;
}

/**
 * The largest memory kept from one job to the next. Zeroing it costs about a memset of this size
 * (well under a millisecond), a fresh memory a page fault per page the job touches (13 µs per
 * 4 KiB page on the VMs these figures come from, docs/performance.md); above this an idle worker
 * would hold more than it saves.
 */
export const MAX_KEPT_MEMORY_BYTES = 8 << 20;

interface Kept {
  memory: WebAssembly.Memory;
  shape: MemoryShape;
  /** Written by a job and not zeroed since. */
  dirty: boolean;
}

/**
 * One job's memory, given to the next job of the same shape instead of a fresh one. A job gets
 * exactly what a fresh memory would be: the same limits, its initial size, every byte zero (its
 * data segments are written by the instantiation, as they would be into a fresh one). A memory
 * that grew cannot shrink, so it is dropped; so is one above `MAX_KEPT_MEMORY_BYTES`. One memory is
 * kept per thread, and a thread runs one job at a time, so no two jobs ever hold the same memory.
 *
 * Zeroing happens after the job's reply is posted (`scrub`), or at the next `take` if nobody
 * scrubbed it before.
 */
export class JobMemory {
  #kept: Kept | undefined;
  /** Memories created and memories reused, for the tests and the bench. */
  readonly counts = { created: 0, reused: 0 };

  /** A zeroed memory of `shape`: the kept one if it has that shape, else a new one. */
  take(shape: MemoryShape): WebAssembly.Memory {
    const kept = this.#kept;
    this.#kept = undefined;
    if (kept !== undefined && kept.shape.initial === shape.initial && kept.shape.maximum === shape.maximum) {
      if (kept.dirty) zero(kept.memory);
      this.counts.reused++;
      return kept.memory;
    }
    const memory = new WebAssembly.Memory(shape);
    // What the job writes into its memory faults once per 2 MiB instead of once per 4 KiB page
    // (shared/hugePages.ts); a kept memory keeps its advice.
    adviseHugePages(memory.buffer, shape.maximum * WASM_PAGE_BYTES);
    this.counts.created++;
    return memory;
  }

  /** Gives back the memory a job has ended with; it is zeroed before any other job sees it. */
  giveBack(memory: WebAssembly.Memory, shape: MemoryShape): void {
    const bytes = memory.buffer.byteLength;
    if (bytes !== shape.initial * WASM_PAGE_BYTES || bytes > MAX_KEPT_MEMORY_BYTES) return;
    this.#kept = { memory, shape, dirty: true };
  }

  /**
   * Zeroes the kept memory now, if a job left it written. The worker calls it once it has
   * posted a job's reply, off the reply's path; `take` zeroes it itself if no one did.
   */
  scrub(): void {
    const kept = this.#kept;
    if (kept?.dirty) {
      zero(kept.memory);
      kept.dirty = false;
    }
  }
}

function zero(memory: WebAssembly.Memory): void {
  new Uint8Array(memory.buffer).fill(0);
}
