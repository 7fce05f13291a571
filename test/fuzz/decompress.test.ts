/**
 * Fuzzes decompression of submitted code. Contract: the module bytes (starting with \0asm, never
 * longer than maxDecompressedBytes) or JobError E_DECOMPRESS / E_PREVALIDATION, nothing else.
 */
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import test from 'ava';
import fc from 'fast-check';
import { JobError } from '../../src/shared/jobError.js';
import { maybeDecompress } from '../../src/shared/decompress.js';
import { fixtures } from '../helpers/wat.js';
import { exampleModules, mutationsOf, params } from './_fuzz.js';

type Limits = Parameters<typeof maybeDecompress>[1];
const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const REAL = [...Object.values(fixtures), ...exampleModules()];
const gzip = (b: Uint8Array) => new Uint8Array(zlib.gzipSync(b));
const brotli = (b: Uint8Array) => new Uint8Array(zlib.brotliCompressSync(b));

const limitsArb: fc.Arbitrary<Limits> = fc.record({
  maxCodeBytes: fc.oneof(fc.constant(16 * 1024 * 1024), fc.integer({ min: 1, max: 4096 })),
  maxDecompressedBytes: fc.oneof(fc.constant(64 * 1024 * 1024), fc.integer({ min: 1, max: 4096 })),
});

function check(code: Uint8Array, limits: Limits): Uint8Array | JobError {
  let out: Uint8Array;
  try {
    out = maybeDecompress(code, limits);
  } catch (error) {
    if (error instanceof JobError && (error.code === 'E_DECOMPRESS' || error.code === 'E_PREVALIDATION')) return error;
    throw error;
  }
  assert.ok(code.byteLength <= limits.maxCodeBytes, 'code above maxCodeBytes is refused');
  assert.deepEqual([...out.subarray(0, 4)], MAGIC, 'the result is a module');
  if (out !== code) assert.ok(out.byteLength <= limits.maxDecompressedBytes, `output ${out.byteLength} within ${limits.maxDecompressedBytes}`);
  return out;
}

const real = fc.constantFrom(...REAL);
const compressedReal = fc.tuple(real, fc.boolean()).map(([m, useGzip]) => (useGzip ? gzip(m) : brotli(m)));
const input = fc.oneof(
  fc.uint8Array({ maxLength: 128 }),
  fc.uint8Array({ maxLength: 128 }).map((b) => Uint8Array.from([0x1f, 0x8b, ...b])),
  compressedReal,
  mutationsOf(compressedReal),
  compressedReal.chain((c) => fc.nat({ max: c.length }).map((n) => c.slice(0, n))),
);

test('arbitrary, truncated and mutated gzip/brotli give a bounded module or E_DECOMPRESS/E_PREVALIDATION', (t) => {
  fc.assert(fc.property(input, limitsArb, (code, limits) => (check(code, limits), true)), params(1000));
  t.pass();
});

test('gzip and brotli of wasm-prefixed bytes round-trip within the limit and are bombs beyond it', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), fc.boolean(), fc.integer({ min: 1, max: 4096 }), (rest, useGzip, limit) => {
      const module = Uint8Array.from([...MAGIC, ...rest]);
      const code = useGzip ? gzip(module) : brotli(module);
      const got = check(code, { maxCodeBytes: 16 * 1024 * 1024, maxDecompressedBytes: limit });
      if (module.byteLength <= limit) assert.deepEqual(got instanceof JobError ? got : [...got], [...module]);
      else assert.ok(got instanceof JobError && got.code === 'E_DECOMPRESS', `bomb refused: ${String(got)}`);
      return true;
    }),
    params(500),
  );
  t.pass();
});

test('raw wasm is returned as is', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (rest) => {
      const module = Uint8Array.from([...MAGIC, ...rest]);
      return maybeDecompress(module, { maxCodeBytes: 1024, maxDecompressedBytes: 1 }) === module;
    }),
    params(200),
  );
  t.pass();
});

// Regression (found by fuzzing, fixed): resolveHostOptions accepts any positive safe integer as `limits.maxDecompressedBytes`, but
// zlib's maxOutputLength must be at most buffer.constants.MAX_LENGTH (4 GiB on Node 20). Above it
// every gzip module is refused as "corrupt" (E_DECOMPRESS) and every brotli module as "not a
// WebAssembly module" (E_PREVALIDATION), valid or not. Fixed by clamping to buffer.constants.MAX_LENGTH.
test('regression: maxDecompressedBytes above 4 GiB still decompresses a valid module', (t) => {
  const limits = { maxCodeBytes: 1024 * 1024, maxDecompressedBytes: 2 ** 33 };
  const module = fixtures.trap;
  t.deepEqual([...maybeDecompress(gzip(module), limits)], [...module]);
  t.deepEqual([...maybeDecompress(brotli(module), limits)], [...module]);
});
