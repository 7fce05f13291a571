/**
 * Every error code a real job produces, each from a real module on a real sandboxed worker, and
 * the pool serving the next job afterwards.
 */
import test from 'ava';
import zlib from 'node:zlib';
import type { ExecutionContext } from 'ava';
import { WardenError, type ExecuteOptions, type HostOptions } from '../../src/index.js';
import { INVALID_BYTES, TRUNCATED_MODULE, fixtures } from '../helpers/wat.js';
import { gzipBomb, hello, rejection, startScheduler, text } from '../helpers/scheduler.js';

interface JobErrorCase {
  code: () => Uint8Array | Promise<Uint8Array>;
  input?: Uint8Array;
  options?: ExecuteOptions;
  host?: HostOptions;
  expected: string;
  deterministic: boolean;
  /** The job that fails: a prepare job (bad code) or an execute job (bad run). */
  failingKind: 'prepare' | 'execute';
  message?: RegExp;
}

const jobError = test.macro({
  async exec(t: ExecutionContext, c: JobErrorCase) {
    const { host, events } = await startScheduler(t, c.host);
    const started = Date.now();
    const error = await rejection(host.execute(await c.code(), c.input ?? Buffer.from('x'), c.options));
    t.true(error instanceof WardenError, String(error));
    t.is(error.code, c.expected, error.message);
    t.is(error.deterministic, c.deterministic);
    if (c.message) t.regex(error.message, c.message);
    t.true(Date.now() - started < 15_000);
    const failed = events.of('job:failed');
    t.is(failed.length, 1);
    t.like(failed[0], { kind: c.failingKind, code: c.expected, deterministic: c.deterministic });
    // A failure of a module that ran says how much fuel it used, in the error and the event.
    if (c.expected === 'E_OUT_OF_FUEL') t.is(error.details.fuelUsed, c.options?.fuel);
    if (['E_OUT_OF_FUEL', 'E_STACK_OVERFLOW', 'E_TRAP'].includes(c.expected)) t.is(failed[0]!.fuelUsed, error.details.fuelUsed as number | undefined);
    // The pool keeps serving.
    const next = await host.execute(hello.wasm, Buffer.from('again'));
    t.is(text(next.output), 'Hello, again!');
  },
  title: (given = '', c: JobErrorCase) => `${given} → ${c.expected}`,
});

test.serial('a trap (unreachable)', jobError, { code: () => fixtures.trap, expected: 'E_TRAP', deterministic: true, failingKind: 'execute' });

test.serial('a stack overflow', jobError, { code: () => fixtures.stackOverflow, expected: 'E_STACK_OVERFLOW', deterministic: true, failingKind: 'execute' });

test.serial('a spin loop out of fuel', jobError, {
  code: () => fixtures.infiniteLoop,
  options: { fuel: 1_000_000 },
  expected: 'E_OUT_OF_FUEL',
  deterministic: true,
  failingKind: 'execute',
  message: /ran out of fuel \(1000000\)/,
});

test.serial('an infinite loop past its CPU-time limit', jobError, {
  code: () => fixtures.infiniteLoop,
  options: { timeoutMs: 300 },
  expected: 'E_TIMEOUT',
  deterministic: false,
  failingKind: 'execute',
  message: /CPU time|wall-clock/,
});

test.serial('a memory bomb', jobError, { code: () => fixtures.memoryBomb, expected: 'E_OUT_OF_MEMORY', deterministic: true, failingKind: 'execute' });

test.serial('invalid wasm', jobError, { code: () => INVALID_BYTES, expected: 'E_PREVALIDATION', deterministic: true, failingKind: 'prepare' });

test.serial('a truncated module', jobError, { code: () => TRUNCATED_MODULE, expected: 'E_PREVALIDATION', deterministic: true, failingKind: 'prepare' });

test.serial('a forbidden import', jobError, {
  code: () => fixtures.forbiddenImport,
  expected: 'E_PREVALIDATION',
  deterministic: true,
  failingKind: 'prepare',
  message: /env|something|import/,
});

test.serial('too large an initial memory', jobError, { code: () => fixtures.tooMuchMemory, expected: 'E_PREVALIDATION', deterministic: true, failingKind: 'prepare' });

test.serial('a gzip decompression bomb (512 MiB of zeros)', jobError, {
  code: gzipBomb,
  expected: 'E_DECOMPRESS',
  deterministic: true,
  failingKind: 'prepare',
  message: /bomb|maxDecompressedBytes/,
});

test.serial('corrupt gzip', jobError, {
  code: () => {
    const gz = zlib.gzipSync(hello.wasm);
    return Buffer.concat([gz.subarray(0, 20), Buffer.alloc(40, 0xaa)]);
  },
  expected: 'E_DECOMPRESS',
  deterministic: true,
  failingKind: 'prepare',
});

test.serial('too large an output', jobError, {
  code: () => fixtures.hugeOutput,
  host: { limits: { maxOutputBytes: 1000 } },
  expected: 'E_OUTPUT_TOO_LARGE',
  deterministic: true,
  failingKind: 'execute',
});

test.serial('code above maxCodeBytes is refused before any job is queued', async (t) => {
  const { host, events } = await startScheduler(t, { limits: { maxCodeBytes: 1024 } });
  const error = await rejection(host.execute(new Uint8Array(2048), Buffer.from('x')));
  t.is(error.code, 'E_PREVALIDATION');
  t.deepEqual(events.of('job:queued'), []);
});

test.serial('input above maxInputBytes is refused before any job is queued', async (t) => {
  const { host, events } = await startScheduler(t, { limits: { maxInputBytes: 16 } });
  const artifact = await host.prepare(hello.wasm);
  const error = await rejection(host.execute(artifact, Buffer.alloc(17)));
  t.is(error.code, 'E_INVALID_OPTION');
  t.is(error.details.option, 'input');
  t.is(events.of('job:queued').filter((e) => e.kind === 'execute').length, 0);
});

test.serial('a failed prepare is not cached: the same bad code fails again with the same code', async (t) => {
  const { host, events } = await startScheduler(t);
  t.is((await rejection(host.prepare(fixtures.forbiddenImport))).code, 'E_PREVALIDATION');
  t.is((await rejection(host.prepare(fixtures.forbiddenImport))).code, 'E_PREVALIDATION');
  t.is(events.of('job:failed').length, 2);
  t.deepEqual(host.cache.list(), []);
});
