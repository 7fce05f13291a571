import zlib from 'node:zlib';
import test from 'ava';
import { errorClasses } from '../../../src/errors.js';
import { execute } from '../../../src/worker/jobs/execute.js';
import { JOB_ERROR_CODES, JobError, type JobErrorCode } from '../../../src/shared/jobError.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../../../src/shared/limits.js';
import { prepare } from '../../../src/worker/jobs/prepare.js';
import { artifactOf, fixtures, INVALID_BYTES, PARAMS_HASH, wat } from '../../helpers/wat.js';

/** `deterministic` of the `WardenError` subclass with this code. */
function declared(code: string): boolean | undefined {
  for (const ErrorClass of errorClasses) {
    const instance = new (ErrorClass as unknown as new (message: string, ...rest: string[]) => { code: string; deterministic: boolean })('probe', 'step', 'errno');
    if (instance.code === code) return instance.deterministic;
  }
  return undefined;
}

test('every job error code exists in src/errors.ts with the same deterministic flag', (t) => {
  for (const [code, deterministic] of Object.entries(JOB_ERROR_CODES)) t.is(declared(code), deterministic, code);
});

test('toFailure() is plain data that survives structured cloning', (t) => {
  const failure = new JobError('E_TRAP', 'wasm trap: unreachable').toFailure();
  t.deepEqual(structuredClone(failure), { code: 'E_TRAP', message: 'wasm trap: unreachable', deterministic: true });
});

const prepareLimits = DEFAULT_PREPARE_LIMITS;
const executeLimits = DEFAULT_EXECUTE_LIMITS;
const bigData = wat(`(module (memory (export "memory") 2) (data (i32.const 0) "${'\\00'.repeat(70_000)}")
  (func (export "run") (param i32 i32) (result i64) (i64.const 0)))`);
const corrupted = Buffer.from(artifactOf(fixtures.upper));
corrupted[100]! ^= 0xff;

/** Each code the job thread produces, each from a real module. */
const CASES: [JobErrorCode, string, () => unknown][] = [
  ['E_PREVALIDATION', 'a forbidden import', () => prepare(fixtures.forbiddenImport, prepareLimits, PARAMS_HASH)],
  ['E_PREVALIDATION', 'invalid bytes', () => prepare(INVALID_BYTES, prepareLimits, PARAMS_HASH)],
  ['E_DECOMPRESS', 'a gzip bomb', () => prepare(zlib.gzipSync(bigData), { ...prepareLimits, maxDecompressedBytes: 1000 }, PARAMS_HASH)],
  ['E_PREPARATION', 'an artifact too large', () => prepare(bigData, { ...prepareLimits, maxArtifactBytes: 1000 }, PARAMS_HASH)],
  ['E_TRAP', 'unreachable', () => execute(artifactOf(fixtures.trap), new Uint8Array(), 'run', executeLimits)],
  ['E_OUT_OF_MEMORY', 'a memory bomb', () => execute(artifactOf(fixtures.memoryBomb), new Uint8Array(), 'run', { ...executeLimits, maxMemoryPages: 16 })],
  ['E_OUTPUT_TOO_LARGE', 'a huge output', () => execute(artifactOf(fixtures.hugeOutput), new Uint8Array(), 'run', { ...executeLimits, maxOutputBytes: 10 })],
  ['E_CORRUPTED_ARTIFACT', 'a flipped byte', () => execute(corrupted, new Uint8Array(), 'run', executeLimits)],
  ['E_OUT_OF_FUEL', 'a spin loop', () => execute(artifactOf(fixtures.infiniteLoop), new Uint8Array(), 'run', executeLimits, { fuel: 10_000 })],
  // A logical stack that fits this (main) thread's V8 stack, smaller than a job thread's.
  ['E_STACK_OVERFLOW', 'unbounded recursion', () => execute(artifactOf(fixtures.stackOverflow), new Uint8Array(), 'run', { ...executeLimits, maxStackHeight: 20_000 })],
];

for (const [code, what, job] of CASES) {
  test(`${code} from ${what}`, async (t) => {
    const error = await t.throwsAsync(async () => job(), { instanceOf: JobError });
    t.is(error?.code, code);
    t.is(error?.deterministic, JOB_ERROR_CODES[code]);
  });
}
