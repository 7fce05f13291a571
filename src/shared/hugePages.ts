import { loadAddon } from './addon.js';

/**
 * Big buffers that are filled at once, on huge pages. A fresh 4 KiB page costs a page fault on its
 * first touch; on a virtual machine that is ~3 ms per MiB (the Firecracker VM of the bench: a
 * 16 MiB buffer takes 45 ms to fill the first time and 0.8 ms the second). With transparent huge
 * pages in `madvise` mode, the common default, memory advised MADV_HUGEPAGE faults once per 2 MiB
 * (16 MiB: ~1.3 ms). Advice only: where the kernel has no THP, or the addon is missing, nothing
 * changes but the speed.
 */

/** Buffers from this size on are advised (glibc serves them from memory of their own, untouched). */
export const HUGE_MIN_BYTES = 4 * 1024 * 1024;

/**
 * Copies from this size on start on a huge page of their own (`alignedBigBuffer`): a 1 MiB copy
 * into 4 KiB pages takes 256 faults (~3 ms here), into one huge page one fault. At most twice the
 * resident memory of the bytes held (at 1 MiB), less as they grow.
 */
export const ALIGNED_MIN_BYTES = 1024 * 1024;

/** A transparent huge page. */
const HUGE_PAGE = 2 * 1024 * 1024;

type Advise = (buffer: ArrayBuffer, reservedBytes?: number) => number;
let advise: Advise | null | undefined;

function adviser(): Advise | null {
  if (advise === undefined) {
    try {
      const addon = loadAddon();
      advise = typeof addon.adviseHugePages === 'function' ? addon.adviseHugePages.bind(addon) : null;
    } catch {
      advise = null;
    }
  }
  return advise;
}

/**
 * Advises the untouched `buffer` (or a wasm memory's reservation up to `reservedBytes`) to use huge
 * pages; the offset of its first 2 MiB boundary, or -1 when nothing was advised.
 */
export function adviseHugePages(buffer: ArrayBuffer, reservedBytes?: number): number {
  const fn = adviser();
  if (fn === null) return -1;
  const offset = fn(buffer, reservedBytes);
  return offset >= 0 ? offset : -1;
}

/** A fresh ArrayBuffer of `n` bytes, zeroed, its whole 2 MiB pages advised when it is big. */
export function bigArrayBuffer(n: number): ArrayBuffer {
  const buffer = new ArrayBuffer(n);
  if (n >= HUGE_MIN_BYTES) adviseHugePages(buffer);
  return buffer;
}

/** A Buffer of `n` bytes, contents undefined, owning its whole ArrayBuffer (movable to a thread), its whole 2 MiB pages advised when it is big. */
export function bigBuffer(n: number): Buffer {
  const buffer = Buffer.allocUnsafeSlow(n);
  if (n >= HUGE_MIN_BYTES) adviseHugePages(buffer.buffer as ArrayBuffer);
  return buffer;
}

/**
 * A Buffer of `n` bytes, contents undefined, for memory about to be written whole and never moved
 * to a thread. A big one starts on a 2 MiB boundary of a slightly larger allocation and ends
 * inside its last advised page, so that every page it touches is a huge one (the memory before it
 * is never touched); the view does not cover its whole ArrayBuffer.
 */
export function alignedBigBuffer(n: number): Buffer {
  if (n < ALIGNED_MIN_BYTES || adviser() === null) return Buffer.allocUnsafeSlow(n);
  const span = Math.ceil(n / HUGE_PAGE) * HUGE_PAGE + HUGE_PAGE;
  const whole = Buffer.allocUnsafeSlow(span);
  const offset = adviseHugePages(whole.buffer as ArrayBuffer);
  if (offset < 0 || offset + n > span) return whole.subarray(0, n);
  return whole.subarray(offset, offset + n);
}
