import { optionalAddon } from './addon.js';

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
export const HUGE_PAGE = 2 * 1024 * 1024;


/** Kept memory nobody took for this long is unmapped. */
export const KEPT_IDLE_MS = 10_000;
let keptTimer: NodeJS.Timeout | undefined;

/**
 * Advises the untouched `buffer` (or a wasm memory's reservation up to `reservedBytes`) to use huge
 * pages; the offset of its first 2 MiB boundary, or -1 when nothing was advised.
 */
export function adviseHugePages(buffer: ArrayBuffer, reservedBytes?: number): number {
  const addon = optionalAddon();
  if (typeof addon?.adviseHugePages !== 'function') return -1;
  const offset = addon.adviseHugePages(buffer, reservedBytes);
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
  if (n < ALIGNED_MIN_BYTES || typeof optionalAddon()?.adviseHugePages !== 'function') return Buffer.allocUnsafeSlow(n);
  const span = Math.ceil(n / HUGE_PAGE) * HUGE_PAGE + HUGE_PAGE;
  const whole = Buffer.allocUnsafeSlow(span);
  const offset = adviseHugePages(whole.buffer as ArrayBuffer);
  if (offset < 0 || offset + n > span) return whole.subarray(0, n);
  return whole.subarray(offset, offset + n);
}

/**
 * A Buffer of `n` bytes, contents undefined (an earlier buffer's bytes: write them all before
 * anyone reads), in memory the addon keeps from buffer to buffer: once the garbage collector has
 * let go of a kept buffer, its memory goes back to a bounded free list (64 MiB idle at most)
 * instead of to the kernel, and the next big buffer lands in memory already backed. Fresh memory
 * costs a fault per page, and on a virtual machine whose guest memory is not yet backed by the
 * hypervisor far more (a fresh 16 MiB: 3 to 50 ms on the bench's VM; kept: ~1 ms). Starts on a
 * 2 MiB boundary, advised. Its ArrayBuffer is external: transferring it to a thread copies it.
 * Without the addon, `alignedBigBuffer`.
 */
export function keptBuffer(n: number): Buffer {
  const addon = optionalAddon();
  if (n < ALIGNED_MIN_BYTES || typeof addon?.keptBuffer !== 'function') return alignedBigBuffer(n);
  if (keptTimer) keptTimer.refresh();
  else keptTimer = setTimeout(() => addon.keptIdleBytes(0), KEPT_IDLE_MS).unref();
  return Buffer.from(addon.keptBuffer(n));
}

/** Idle kept memory now, bytes (0 without the addon). @internal tests */
export function keptIdleBytes(): number {
  const addon = optionalAddon();
  return typeof addon?.keptIdleBytes === 'function' ? addon.keptIdleBytes() : 0;
}
