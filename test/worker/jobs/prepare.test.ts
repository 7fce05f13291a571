import zlib from 'node:zlib';
import test from 'ava';
import { ARTIFACT_HEADER_BYTES, decodeArtifact, hashParams } from '../../../src/shared/artifact.js';
import { JobError } from '../../../src/shared/jobError.js';
import { DEFAULT_PREPARE_LIMITS } from '../../../src/shared/limits.js';
import { instrument } from '../../../src/shared/meter/instrument.js';
import { prepare } from '../../../src/worker/jobs/prepare.js';
import { fixtures, INVALID_BYTES, wat } from '../../helpers/wat.js';

const limits = DEFAULT_PREPARE_LIMITS;
const paramsHash = hashParams({ ...limits });

function failure(t: import('ava').ExecutionContext, run: () => unknown): JobError {
  return t.throws(run, { instanceOf: JobError })!;
}

test('prepares a run-ABI module into an artifact holding the clamped module', (t) => {
  const result = prepare(fixtures.upper, limits, paramsHash);
  const decoded = decodeArtifact(result.artifact);
  t.is(decoded.paramsHash, paramsHash);
  t.is(result.moduleBytes, decoded.module.byteLength);
  t.is(result.artifact.byteLength, ARTIFACT_HEADER_BYTES + result.moduleBytes);
  t.deepEqual(result.exports, ['memory', 'alloc', 'run']);
  t.deepEqual(result.facts.memory, { initial: 1, maximum: limits.maxMemoryPages });
  // The memory gained a maximum: the module grew by the maximum's bytes.
  t.true(result.moduleBytes > fixtures.upper.byteLength);
  t.true(WebAssembly.validate(decoded.module));
});

test('a module already within the limits is stored as submitted, metered', (t) => {
  const code = wat('(module (memory (export "memory") 1 2) (func (export "run") (param i32 i32) (result i64) (i64.const 0)))');
  t.deepEqual(new Uint8Array(decodeArtifact(prepare(code, limits, paramsHash).artifact).module), instrument(code));
});

test('a module metering cannot handle is E_PREVALIDATION naming the feature', (t) => {
  // i8x16.relaxed_swizzle: relaxed SIMD, which V8 accepts only behind a flag.
  const code = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4, 0x5f, 0x73, 0x74, 0x61, 0x00, 0x00, 10, 7, 1, 5, 0, 0xfd, 0x80, 0x02, 0x0b]);
  const error = failure(t, () => prepare(code, limits, paramsHash));
  t.is(error.code, 'E_PREVALIDATION');
});

test('gzip, brotli and raw code give the same artifact', (t) => {
  const raw = prepare(fixtures.wasiCat, limits, paramsHash).artifact;
  t.deepEqual(prepare(zlib.gzipSync(fixtures.wasiCat), limits, paramsHash).artifact, raw);
  t.deepEqual(prepare(zlib.brotliCompressSync(fixtures.wasiCat), limits, paramsHash).artifact, raw);
});

test('an artifact above maxArtifactBytes is E_PREPARATION', (t) => {
  // 1 MiB of data compresses to little: the code passes maxCodeBytes, the artifact does not.
  const code = zlib.gzipSync(wat(`(module (memory (export "memory") 17) (data (i32.const 0) "${'\\00'.repeat(1 << 20)}")
    (func (export "run") (param i32 i32) (result i64) (i64.const 0)))`));
  const error = failure(t, () => prepare(code, { ...limits, maxCodeBytes: 64 * 1024, maxArtifactBytes: 1 << 20 }, paramsHash));
  t.is(error.code, 'E_PREPARATION');
  t.true(error.deterministic);
  t.regex(error.message, /maxArtifactBytes/);
});

test('a module that exports neither ABI is E_PREVALIDATION', (t) => {
  const error = failure(t, () => prepare(wat('(module (func (export "main")))'), limits, paramsHash));
  t.is(error.code, 'E_PREVALIDATION');
  t.regex(error.message, /neither `_start`.*nor `run` and `memory`/);
});

test('invalid bytes are E_PREVALIDATION', (t) => {
  t.is(failure(t, () => prepare(INVALID_BYTES, limits, paramsHash)).code, 'E_PREVALIDATION');
});

test('a forbidden import is E_PREVALIDATION', (t) => {
  t.is(failure(t, () => prepare(fixtures.forbiddenImport, limits, paramsHash)).code, 'E_PREVALIDATION');
});
