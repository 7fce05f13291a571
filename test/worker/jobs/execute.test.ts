import test from 'ava';
import fc from 'fast-check';
import { execute } from '../../../src/worker/jobs/execute.js';
import { JobError } from '../../../src/shared/jobError.js';
import { DEFAULT_EXECUTE_LIMITS, type ExecuteLimits } from '../../../src/shared/limits.js';
import type { Abi } from '../../../src/shared/prevalidate.js';
import { artifactOf, fixtures, type FixtureName } from '../../helpers/wat.js';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();
const artifacts = new Map<FixtureName, Buffer>();
function artifact(name: FixtureName): Buffer {
  if (!artifacts.has(name)) artifacts.set(name, artifactOf(fixtures[name]));
  return artifacts.get(name)!;
}

async function run(name: FixtureName, input: Uint8Array | string = '', limits: Partial<ExecuteLimits> = {}, abi: Abi = 'run') {
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  return execute(artifact(name), bytes, abi, { ...DEFAULT_EXECUTE_LIMITS, ...limits });
}

async function failure(t: import('ava').ExecutionContext, promise: Promise<unknown>): Promise<JobError> {
  return (await t.throwsAsync(promise, { instanceOf: JobError }))!;
}

test('run ABI: input placed by alloc, output returned packed', async (t) => {
  const { output, log, logTruncated } = await run('upper', 'hello, warden');
  t.is(text(output), 'HELLO, WARDEN');
  t.is(log.byteLength, 0);
  t.false(logTruncated);
});

test('run ABI: alloc grows memory for a large input', async (t) => {
  const input = Buffer.alloc(300_000, 'a');
  t.deepEqual(Buffer.from((await run('upper', input)).output), Buffer.alloc(300_000, 'A'));
});

test('run ABI: input placed at __heap_base, memory grown to fit', async (t) => {
  t.is(text((await run('echoHeapBase', 'echo')).output), 'echo');
  const input = Buffer.alloc(200_000, 7);
  t.deepEqual(Buffer.from((await run('echoHeapBase', input)).output), input);
});

test('run ABI: an input beyond the memory maximum at __heap_base is E_OUT_OF_MEMORY', async (t) => {
  const error = await failure(t, run('echoHeapBase', Buffer.alloc(200_000), { maxMemoryPages: 2 }));
  t.is(error.code, 'E_OUT_OF_MEMORY');
});

test('an input above maxInputBytes is E_TRAP "input too large"', async (t) => {
  const error = await failure(t, run('upper', 'x'.repeat(11), { maxInputBytes: 10 }));
  t.is(error.code, 'E_TRAP');
  t.regex(error.message, /^input too large: 11 bytes, more than 10 bytes \(maxInputBytes\)/);
});

test('unreachable is E_TRAP with the trap message', async (t) => {
  const error = await failure(t, run('trap'));
  t.is(error.code, 'E_TRAP');
  t.true(error.deterministic);
  t.regex(error.message, /wasm trap: unreachable/);
});

test('a memory bomb is E_OUT_OF_MEMORY', async (t) => {
  const error = await failure(t, run('memoryBomb', '', { maxMemoryPages: 64 }));
  t.is(error.code, 'E_OUT_OF_MEMORY');
  t.regex(error.message, /at 64 of its maximum of 64 pages/);
});

test('stack overflow is E_TRAP', async (t) => {
  const error = await failure(t, run('stackOverflow'));
  t.is(error.code, 'E_TRAP');
  t.regex(error.message, /stack overflow/);
});

test('an output above maxOutputBytes is E_OUTPUT_TOO_LARGE', async (t) => {
  const error = await failure(t, run('hugeOutput', '', { maxOutputBytes: 65_536 }));
  t.is(error.code, 'E_OUTPUT_TOO_LARGE');
  t.is((await run('hugeOutput')).output.byteLength, 1 << 20);
});

test('an output outside memory is E_TRAP', async (t) => {
  const error = await failure(t, run('outOfBoundsOutput'));
  t.is(error.code, 'E_TRAP');
  t.regex(error.message, /outside memory/);
});

test('an initial memory above the execute limit is E_OUT_OF_MEMORY', async (t) => {
  t.is((await failure(t, run('hugeOutput', '', { maxMemoryPages: 8 }))).code, 'E_OUT_OF_MEMORY');
});

test('the wrong ABI is E_TRAP naming what is missing', async (t) => {
  t.regex((await failure(t, run('wasiCat', '', {}, 'run'))).message, /run ABI: .*`run`|run ABI: .*memory/);
  t.regex((await failure(t, run('upper', '', {}, 'wasi'))).message, /wasi ABI: .*`_start`/);
});

test('a corrupted artifact is E_CORRUPTED_ARTIFACT, not deterministic', async (t) => {
  const good = artifact('upper');
  const flipped = Buffer.from(good);
  flipped[flipped.byteLength - 5]! ^= 0x01;
  const error = await failure(t, execute(flipped, Buffer.from('x'), 'run', DEFAULT_EXECUTE_LIMITS));
  t.is(error.code, 'E_CORRUPTED_ARTIFACT');
  t.false(error.deterministic);
});

test('flipping any bit of an artifact is detected', async (t) => {
  const good = artifact('upper');
  await fc.assert(
    fc.asyncProperty(fc.nat(good.byteLength - 1), fc.integer({ min: 0, max: 7 }), async (index, bit) => {
      const bad = Buffer.from(good);
      bad[index]! ^= 1 << bit;
      try {
        await execute(bad, Buffer.from('x'), 'run', DEFAULT_EXECUTE_LIMITS);
        return false;
      } catch (error) {
        return error instanceof JobError && error.code === 'E_CORRUPTED_ARTIFACT';
      }
    }),
    { numRuns: 200, seed: 0x51ed },
  );
  t.pass();
});

test('a truncated artifact is E_CORRUPTED_ARTIFACT', async (t) => {
  const error = await failure(t, execute(artifact('upper').subarray(0, 40), Buffer.from('x'), 'run', DEFAULT_EXECUTE_LIMITS));
  t.is(error.code, 'E_CORRUPTED_ARTIFACT');
});
