import test from 'ava';
import fc from 'fast-check';
import { execute } from '../../../src/worker/jobs/execute.js';
import { JobError } from '../../../src/shared/jobError.js';
import { HOST_BYTES_PER_FUEL } from '../../../src/shared/meter/costs.js';
import { DEFAULT_EXECUTE_LIMITS, type ExecuteLimits } from '../../../src/shared/limits.js';
import type { Abi } from '../../../src/shared/prevalidate.js';
import { artifactOf, fixtures, type FixtureName } from '../../helpers/wat.js';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();
const artifacts = new Map<FixtureName, Buffer>();
function artifact(name: FixtureName): Buffer {
  if (!artifacts.has(name)) artifacts.set(name, artifactOf(fixtures[name]));
  return artifacts.get(name)!;
}

async function run(name: FixtureName, input: Uint8Array | string = '', limits: Partial<ExecuteLimits> = {}, abi: Abi = 'run', fuel?: number) {
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  return execute(artifact(name), bytes, abi, { ...DEFAULT_EXECUTE_LIMITS, ...limits }, fuel === undefined ? {} : { fuel });
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

/**
 * These tests run on the test process's main thread, whose V8 stack (984 KiB) is smaller than a
 * job thread's (limits.jobStackMb, 4 MiB): the logical stack is set to fit it, as
 * `maxStackHeightFor` does for a job thread (test/shared/meter/stackTiers.test.ts runs the real one).
 */
const MAIN_THREAD_STACK = { maxStackHeight: 20_000 };

test('unbounded recursion is E_STACK_OVERFLOW, deterministic, at the logical limit (not V8\'s)', async (t) => {
  const error = await failure(t, run('stackOverflow', '', MAIN_THREAD_STACK));
  t.is(error.code, 'E_STACK_OVERFLOW');
  t.true(error.deterministic);
  t.regex(error.message, /maxStackHeight/);
  // The fuel used is the calls made: the same depth on every run.
  const again = await failure(t, run('stackOverflow', '', MAIN_THREAD_STACK));
  t.is(again.fuelUsed, error.fuelUsed);
  const shallower = await failure(t, run('stackOverflow', '', { maxStackHeight: 1000 }));
  t.true(shallower.fuelUsed! < error.fuelUsed!);
});

test('a logical stack deeper than the thread\'s native stack holds: V8\'s own overflow, E_NATIVE_STACK_OVERFLOW, not deterministic', async (t) => {
  // The test thread's V8 stack is 984 KiB: the default logical stack (2 MiB of frames) does not
  // fit it. A host never runs so (options.ts bounds maxStackHeight by jobStackMb); the code
  // still says so honestly if it happens.
  const error = await failure(t, run('stackOverflow', '', { maxStackHeight: 262_144 }));
  t.is(error.code, 'E_NATIVE_STACK_OVERFLOW');
  t.false(error.deterministic);
});

test('a spin loop is E_OUT_OF_FUEL, deterministic, at exactly its fuel', async (t) => {
  const error = await failure(t, run('infiniteLoop', '', {}, 'run', 123_456));
  t.is(error.code, 'E_OUT_OF_FUEL');
  t.true(error.deterministic);
  t.is(error.fuelUsed, 123_456);
  t.is((await failure(t, run('infiniteLoop', '', { maxFuel: 5000 }))).fuelUsed, 5000, 'no fuel given: limits.maxFuel');
});

test('fuelUsed is the same on every run, grows with the input, and a failure carries it too', async (t) => {
  const used = (await run('upper', 'hello, warden')).fuelUsed;
  t.true(used > 0);
  t.is((await run('upper', 'hello, warden')).fuelUsed, used);
  t.true((await run('upper', 'hello, warden, hello')).fuelUsed > used);
  const trap = await failure(t, run('trap'));
  t.true(typeof trap.fuelUsed === 'number' && trap.fuelUsed > 0);
});

test('the run ABI pays for placing the input and copying the output, by the byte', async (t) => {
  const small = (await run('echoHeapBase', Buffer.alloc(1000))).fuelUsed;
  const large = (await run('echoHeapBase', Buffer.alloc(401_000))).fuelUsed;
  // In and out: 2 × 400,000 bytes more, at HOST_BYTES_PER_FUEL bytes a unit of fuel.
  t.is(large - small, 800_000 / HOST_BYTES_PER_FUEL);
});

test('WASI calls pay per call and by the bytes they move', async (t) => {
  const small = (await run('wasiCat', Buffer.alloc(1000), {}, 'wasi')).fuelUsed;
  const large = (await run('wasiCat', Buffer.alloc(41_000), {}, 'wasi')).fuelUsed;
  // Read once, written twice: 3 × 40,000 bytes more, in as many calls.
  t.is(large - small, 120_000 / HOST_BYTES_PER_FUEL);
  const starved = await failure(t, run('wasiCat', Buffer.alloc(1 << 20), {}, 'wasi', 100_000));
  t.is(starved.code, 'E_OUT_OF_FUEL');
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
