/**
 * Bulk data through the whole path (issue 12 item 4): big inputs and outputs round-trip byte for
 * byte in both isolation modes, whatever the worker's buffer pool held before (bigger, smaller,
 * empty outputs, a run-ABI output, a failed job), and a frame past the worker's bound is refused.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import test from 'ava';
import { WorkerProcess } from '../../src/actors/workerProcess.js';
import { DEFAULT_MAX_FRAME } from '../../src/protocol/frame.js';
import { MessageType } from '../../src/protocol/messages.js';
import { createWorkerDir } from '../../src/sandbox/workerDir.js';
import { example, startScheduler } from '../helpers/scheduler.js';
import { CAT } from '../helpers/wasiCat.js';

const MiB = 1024 * 1024;

const upper = example('upper');

function same(t: import('ava').ExecutionContext, output: Uint8Array, expected: Uint8Array, what: string): void {
  t.is(output.byteLength, expected.byteLength, `${what}: length`);
  t.true(Buffer.from(output.buffer, output.byteOffset, output.byteLength).equals(expected), `${what}: bytes`);
}

for (const isolation of ['worker', 'job'] as const) {
  test.serial(`isolation '${isolation}': 16 MiB echoes byte for byte, then smaller, empty and run-ABI jobs see only their own bytes`, async (t) => {
    t.timeout(180_000);
    const { host } = await startScheduler(t, { isolation });
    const cat = await host.prepare(CAT);
    const big = crypto.randomBytes(16 * MiB);
    same(t, (await host.execute(cat, big, { abi: 'wasi' })).output, big, '16 MiB echo');
    same(t, (await host.execute(cat, big, { abi: 'wasi' })).output, big, '16 MiB echo again');
    const odd = crypto.randomBytes(5 * MiB + 3);
    same(t, (await host.execute(cat, odd, { abi: 'wasi' })).output, odd, 'a smaller echo after a bigger one');
    same(t, (await host.execute(cat, new Uint8Array(0), { abi: 'wasi' })).output, new Uint8Array(0), 'an empty echo');
    const text = Buffer.from('abc'.repeat(700_000));
    same(t, (await host.execute(upper.wasm, text)).output, Buffer.from(text.toString().toUpperCase()), 'a 2 MiB run-ABI output');
    same(t, (await host.execute(cat, big, { abi: 'wasi' })).output, big, '16 MiB echo after them');
    // Inputs and outputs past 4 MiB are copied into memory on huge pages (shared/hugePages.ts),
    // which starts at an offset of a bigger allocation: odd sizes, argv after the input, and a
    // run-ABI output bigger than any store the worker kept.
    const odd2 = crypto.randomBytes(9 * MiB + 4097);
    same(t, (await host.execute(cat, odd2, { abi: 'wasi', args: ['cat', '-'], env: { A: '1' } })).output, odd2, 'a 9 MiB echo with argv and env in the same body');
    const bigText = Buffer.from('xyz'.repeat(2_500_000));
    same(t, (await host.execute(upper.wasm, bigText)).output, Buffer.from(bigText.toString().toUpperCase()), 'a 7 MiB run-ABI output');
  });
}

test.serial('an output one byte past maxOutputBytes fails with E_OUTPUT_TOO_LARGE, and the next job at the limit is whole', async (t) => {
  t.timeout(120_000);
  const { host } = await startScheduler(t, { limits: { maxOutputBytes: 2 * MiB } });
  const cat = await host.prepare(CAT);
  const over = crypto.randomBytes(2 * MiB + 1);
  const error = await t.throwsAsync(host.execute(cat, over, { abi: 'wasi' }));
  t.is((error as { code?: string }).code, 'E_OUTPUT_TOO_LARGE');
  const exact = crypto.randomBytes(2 * MiB);
  same(t, (await host.execute(cat, exact, { abi: 'wasi' })).output, exact, 'an output exactly at maxOutputBytes');
  const small = crypto.randomBytes(100_000);
  same(t, (await host.execute(cat, small, { abi: 'wasi' })).output, small, 'a smaller output after it');
});

test.serial('a frame above the worker\'s bound is refused: the worker reports E_PROTOCOL and exits', async (t) => {
  t.timeout(60_000);
  const { host, cacheDir } = await startScheduler(t, { executeWorkers: 1 });
  const hostDir = await createWorkerDir(cacheDir, 'execute');
  const worker = await WorkerProcess.spawn({ info: host.workerInfo('execute', 'bulk-oversized', hostDir), hostDir, cwd: path.dirname(hostDir) });
  t.teardown(() => void worker.kill());
  const reply = worker
    .request(MessageType.Execute, { abi: 'wasi' }, Buffer.alloc(DEFAULT_MAX_FRAME + 1), { expect: MessageType.ExecuteResult, maxBody: 1 })
    .then(
      () => 'answered',
      (error: { code?: string }) => error.code,
    );
  const exit = await worker.exited;
  t.is(exit.error.code, 'E_PROTOCOL');
  t.regex(exit.error.message, /exceeds/);
  t.is(await reply, 'E_PROTOCOL');
});
