/**
 * Big buffers on transparent huge pages (src/shared/hugePages.ts): the advice lands where the
 * kernel offers THP in `madvise` or `always` mode (checked in /proc/self/smaps, the kernel's own
 * account), a big buffer starts on a 2 MiB boundary, and nothing changes what the memory holds.
 */
import fs from 'node:fs';
import test from 'ava';
import { ALIGNED_MIN_BYTES, HUGE_MIN_BYTES, adviseHugePages, alignedBigBuffer, bigArrayBuffer, bigBuffer } from '../../src/shared/hugePages.js';
import { loadAddon } from '../../src/shared/addon.js';

const MiB = 1024 * 1024;
const thpMode = (() => {
  try {
    return /\[(\w+)\]/.exec(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? 'none';
  } catch {
    return 'none';
  }
})();
const thp = thpMode === 'madvise' || thpMode === 'always';

/** Anonymous huge-page kB of this process, as the kernel counts them. */
function anonHugeKb(): number {
  const text = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
  return Number(/AnonHugePages:\s+(\d+) kB/.exec(text)?.[1] ?? 0);
}

// Serial, the kernel's count first: the other test's big buffers, freed by a GC, would lower it.
test.serial('the kernel backs an advised buffer and an advised wasm memory with huge pages (where THP is on)', (t) => {
  if (!thp) {
    // No THP here: the advice must be harmless, and the buffers still work (first test).
    t.log(`transparent huge pages are '${thpMode}' on this kernel: only harmlessness is checked`);
    t.true(bigBuffer(8 * MiB).byteLength === 8 * MiB);
    return;
  }
  const before = anonHugeKb();
  const buffer = alignedBigBuffer(16 * MiB);
  buffer.fill(1);
  const afterBuffer = anonHugeKb();
  t.true(afterBuffer - before >= 8 * 1024, `16 MiB filled: AnonHugePages grew by ${afterBuffer - before} kB`);

  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024 });
  t.true(adviseHugePages(memory.buffer, 1024 * 65536) >= 0, 'the reservation up to the maximum is advised');
  memory.grow(320);
  new Uint8Array(memory.buffer).fill(2);
  const afterMemory = anonHugeKb();
  t.true(afterMemory - afterBuffer >= 8 * 1024, `a wasm memory grown to 20 MiB after the advice: AnonHugePages grew by ${afterMemory - afterBuffer} kB`);
  t.is(new Uint8Array(memory.buffer)[20 * MiB - 1], 2);
  t.is(buffer[16 * MiB - 1], 1);
});

test.serial('a small buffer is not advised; a big aligned one starts on a 2 MiB boundary; each holds what is written', (t) => {
  t.is(loadAddon().adviseHugePages(new ArrayBuffer(64 * 1024)), -1, 'nothing to advise in 64 KiB');
  t.throws(() => (loadAddon().adviseHugePages as (b: unknown) => number)('not a buffer'), { instanceOf: TypeError });
  t.is(alignedBigBuffer(1000).byteLength, 1000);
  t.is(bigBuffer(1000).byteLength, 1000);
  for (const n of [ALIGNED_MIN_BYTES, HUGE_MIN_BYTES, 9 * MiB + 4097, 16 * MiB]) {
    const whole = bigBuffer(n);
    t.is(whole.byteLength, n);
    t.is(whole.buffer.byteLength, n, 'bigBuffer owns its whole ArrayBuffer (movable to a thread)');
    const buffer = alignedBigBuffer(n);
    t.is(buffer.byteLength, n);
    t.is(adviseHugePages(buffer.buffer as ArrayBuffer), buffer.byteOffset, `${n} bytes start at the first 2 MiB boundary of their allocation`);
    const pattern = Buffer.alloc(n, 0x5a);
    buffer.set(pattern);
    t.true(buffer.equals(pattern), `${n} bytes hold what was written`);
    const zeroed = new Uint8Array(bigArrayBuffer(n));
    t.is(zeroed.byteLength, n);
    t.true(zeroed.every((b) => b === 0), 'a big ArrayBuffer is zeroed');
  }
});
