/**
 * Kept memory (`keptBuffer`, the addon's `keptBuffer`): a big buffer lands in memory the addon
 * keeps, starting on a 2 MiB boundary; once the garbage collector lets go of it, its memory goes
 * back to a bounded free list, and the next big buffer reuses it.
 */
import test from 'ava';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { ALIGNED_MIN_BYTES, keptBuffer, keptIdleBytes } from '../../src/shared/hugePages.js';
import { loadAddon } from '../../src/shared/addon.js';

const MiB = 1024 * 1024;
const IDLE_MAX = 64 * MiB;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Collects until the idle kept memory is `expected` (finalizers run a few turns after a collection), or gives up after a second. */
async function collectUntil(expected: (idle: number) => boolean): Promise<void> {
  for (let i = 0; i < 100 && !expected(keptIdleBytes()); i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Makes kept buffers of these sizes, fills them and drops them; the idle bytes while they were
 * held. (Not in an async test: a suspended async function keeps its registers, dead values too.)
 */
function garbage(sizes: number[]): number {
  const buffers = sizes.map((n) => keptBuffer(n).fill(1));
  return buffers.length > 0 ? keptIdleBytes() : -1;
}

/** Lets every earlier kept buffer that is garbage come back (idle unchanged over three collections), then trims idle memory to nothing. */
async function settle(): Promise<void> {
  let last = -1;
  for (let same = 0, i = 0; same < 3 && i < 100; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const idle = keptIdleBytes();
    same = idle === last ? same + 1 : 0;
    last = idle;
  }
  loadAddon().keptIdleBytes(0);
}

// Serial: each test reads the one process-wide free list.
test.serial('a kept buffer has exactly the bytes asked for, starts on a 2 MiB boundary, and holds what is written', (t) => {
  for (const n of [ALIGNED_MIN_BYTES, 3 * MiB + 1, 16 * MiB]) {
    const buffer = keptBuffer(n);
    t.is(buffer.length, n);
    t.is(buffer.byteOffset, 0);
    t.is(buffer.buffer.byteLength, n, 'nothing past the bytes asked for is visible');
    // adviseHugePages answers the offset of the buffer's first 2 MiB boundary (-1 when it holds none).
    if (n >= 2 * MiB) t.is(loadAddon().adviseHugePages(buffer.buffer as ArrayBuffer), 0, `${n} bytes: starts on a 2 MiB boundary`);
    buffer.fill(7, 0, n);
    t.is(buffer[n - 1], 7);
  }
  t.is(keptBuffer(1000).length, 1000, 'a small one is a plain buffer');
});

test.serial('memory let go by the garbage collector is reused by the next kept buffer', async (t) => {
  await settle();
  t.is(garbage([4 * MiB, 4 * MiB, 6 * MiB]), 0, 'in use: nothing idle');
  await collectUntil((idle) => idle >= 14 * MiB);
  t.is(keptIdleBytes(), 14 * MiB, 'all three came back');
  const again = keptBuffer(4 * MiB);
  t.is(keptIdleBytes(), 10 * MiB, 'the next one of the same size took one of them');
  again.fill(2);
  t.is(again[4 * MiB - 1], 2);
});

test.serial('idle kept memory is bounded, and can be trimmed to nothing', async (t) => {
  await settle();
  garbage(Array.from({ length: 12 }, () => 8 * MiB));
  await collectUntil((idle) => idle >= IDLE_MAX);
  t.true(keptIdleBytes() <= IDLE_MAX, `${keptIdleBytes()} bytes idle`);
  t.true(keptIdleBytes() > 0);
  t.is(loadAddon().keptIdleBytes(0), 0);
});

test.serial('a kept buffer posted to a thread arrives whole (copied: its memory stays the addon’s)', async (t) => {
  const buffer = keptBuffer(2 * MiB);
  buffer.fill(9);
  const worker = new Worker(
    'const { parentPort } = require("node:worker_threads"); parentPort.once("message", (b) => { const v = new Uint8Array(b); parentPort.postMessage([v.length, v[0], v[v.length - 1]]); });',
    { eval: true },
  );
  t.teardown(() => worker.terminate());
  const answer = new Promise((resolve) => worker.once('message', resolve));
  worker.postMessage(buffer.buffer, [buffer.buffer as ArrayBuffer]);
  t.deepEqual(await answer, [2 * MiB, 9, 9]);
  t.is(buffer[0], 9, 'the sender still reads its buffer');
});
