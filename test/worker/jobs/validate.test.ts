import test from 'ava';
import fc from 'fast-check';
import { execute } from '../../../src/worker/jobs/execute.js';
import { HOST_FUNCTIONS, WASI_FUNCTIONS, WASI_MODULE } from '../../../src/shared/hostFunctions.js';
import { JobError } from '../../../src/shared/jobError.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS, type PrepareLimits } from '../../../src/shared/limits.js';
import { deriveModule } from '../../../src/shared/derive.js';
import { prepare } from '../../../src/worker/jobs/prepare.js';
import { artifactOf, fixtures, PARAMS_HASH, sources, TRUNCATED_MODULE, wat } from '../../helpers/wat.js';

const limits = DEFAULT_PREPARE_LIMITS;

/** Prepare (the worker's whole pipeline: derivation, V8, link) refuses `bytes` with E_PREVALIDATION matching `pattern`. */
function refusal(t: import('ava').ExecutionContext, bytes: Uint8Array, pattern: RegExp, overrides: Partial<PrepareLimits> = {}): void {
  const error = t.throws(() => prepare(bytes, { ...limits, ...overrides }, PARAMS_HASH), { instanceOf: JobError });
  t.is(error?.code, 'E_PREVALIDATION');
  t.regex(error!.message, pattern);
}

/** A run-ABI module around `body`, for limits and imports. */
function runModule(body: string): Uint8Array {
  return wat(`(module ${body} (memory (export "memory") 1) (func (export "run") (param i32 i32) (result i64) (i64.const 0)))`);
}

/** Runs a `growCount`-style module and reads the count it returns. */
async function grows(code: Uint8Array, prepareLimits: Partial<PrepareLimits> = {}, maxMemoryPages = DEFAULT_EXECUTE_LIMITS.maxMemoryPages): Promise<number> {
  const { output } = await execute(artifactOf(code, prepareLimits), new Uint8Array(0), 'run', { ...DEFAULT_EXECUTE_LIMITS, maxMemoryPages });
  return Buffer.from(output).readUInt32LE(0);
}

test('facts of a run-ABI module', (t) => {
  const { module: bytes, facts } = deriveModule(fixtures.upper, limits);
  t.deepEqual(facts, {
    functions: 2,
    imports: [],
    exports: [
      { name: 'memory', kind: 'memory' },
      { name: 'alloc', kind: 'function' },
      { name: 'run', kind: 'function' },
    ],
    memory: { initial: 1, maximum: 4096 },
    abis: ['run'],
  });
  t.true(WebAssembly.validate(bytes));
});

test('facts of a WASI command', (t) => {
  const { facts } = deriveModule(fixtures.wasiCat, limits);
  t.deepEqual(facts.abis, ['wasi']);
  t.deepEqual(facts.imports, [`${WASI_MODULE}.fd_read`, `${WASI_MODULE}.fd_write`, `${WASI_MODULE}.proc_exit`, `${WASI_MODULE}.poll_oneoff`]);
  t.is(facts.functions, 5);
});

test('the host function set is WASI preview 1 only', (t) => {
  t.deepEqual([...HOST_FUNCTIONS.keys()], [WASI_MODULE]);
  t.is(WASI_FUNCTIONS.size, 46);
  t.is(WASI_FUNCTIONS.get('fd_write'), '(i32,i32,i32,i32)->i32');
  t.is(WASI_FUNCTIONS.get('proc_exit'), '(i32)->');
});

test('an env import is refused, naming it', (t) => {
  refusal(t, fixtures.forbiddenImport, /import "env"\."something" is not allowed/);
});

test('memory, table and global imports are refused', (t) => {
  refusal(t, wat(`(module (import "${WASI_MODULE}" "memory" (memory 1)))`), /is a memory import/);
  refusal(t, wat(`(module (import "${WASI_MODULE}" "table" (table 1 funcref)))`), /is a table import/);
  refusal(t, wat(`(module (import "${WASI_MODULE}" "g" (global i32)))`), /is a global import/);
});

test('a WASI name outside preview 1 is refused', (t) => {
  refusal(t, runModule(`(import "${WASI_MODULE}" "path_open2" (func))`), /"path_open2" is not a wasi_snapshot_preview1 function/);
});

test('a WASI import with the wrong signature is refused, with the expected one', (t) => {
  refusal(t, runModule(`(import "${WASI_MODULE}" "fd_write" (func (param i32) (result i32)))`), /has type \(i32\)->i32, expected \(i32,i32,i32,i32\)->i32/);
});

test('an initial memory above maxMemoryPages is refused', (t) => {
  refusal(t, fixtures.tooMuchMemory, /memory starts with 5000 pages, more than 4096 pages \(maxMemoryPages\)/);
});

test('more than one memory is refused', (t) => {
  refusal(t, wat('(module (memory 1) (memory 1))'), /memory count of 2|2 memories; at most one/);
});

test('shared memory is refused', (t) => {
  refusal(t, wat('(module (memory 1 2 shared))'), /shared/);
});

test('too many functions are refused', (t) => {
  const functions = Array.from({ length: 11 }, () => '(func)').join(' ');
  refusal(t, runModule(functions), /12 functions, more than 11 \(maxFunctions\)/, { maxFunctions: 11 });
});

test('tables share one budget of maxTableElements', (t) => {
  refusal(t, fixtures.twoTables, /tables 0\.\.1 start with 120000 elements in all, more than 100000 \(maxTableElements\)/);
  refusal(t, runModule('(table 11 funcref)'), /table 0 starts with 11 elements, more than 10/, { maxTableElements: 10 });
});

test('a module V8 finds invalid is refused with its reason', (t) => {
  refusal(t, wat('(module (func (result i32) (i64.const 0)))'), /invalid WebAssembly module: .*i32.*i64|invalid WebAssembly module: .*type/i);
});

test('malformed modules are refused', (t) => {
  refusal(t, TRUNCATED_MODULE, /malformed module/);
  refusal(t, Uint8Array.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /version/);
});

test('a memory without maximum gets maxMemoryPages as its maximum: grow fails past it', async (t) => {
  t.is(await grows(fixtures.growCount, { maxMemoryPages: 8 }), 7);
});

test('a declared maximum above the limit is clamped, one below it is kept', async (t) => {
  t.is(await grows(wat(sources.growCount.replace('1 65536', '1 3'))), 2);
  t.is(await grows(wat(sources.growCount.replace('1 65536', '1')), { maxMemoryPages: 5 }), 4);
});

test('a lower execute limit clamps the prepared maximum again', async (t) => {
  t.is(await grows(fixtures.growCount, {}, 4), 3);
});

test('tables get what the initial sizes leave of the budget as maxima', async (t) => {
  // 10 + 5 initial elements of 100,000: table 0 may grow by 99,985, so 99 grows of 1,000.
  t.is(await grows(fixtures.tableGrowCount), 99);
});

test('clamping keeps modules valid and bounds growth to min(declared, limit)', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 40 }), fc.option(fc.integer({ min: 0, max: 300 })), fc.integer({ min: 1, max: 64 }), async (initial, declared, limit) => {
      fc.pre(initial <= limit && (declared === null || declared >= initial));
      // The module stores its count at address 0: it needs at least one page at the end.
      fc.pre(Math.min(declared ?? Infinity, limit) >= 1);
      const memory = declared === null ? `${initial}` : `${initial} ${declared}`;
      const code = wat(sources.growCount.replace('1 65536', memory));
      const { module: bytes, facts } = deriveModule(code, { ...limits, maxMemoryPages: limit });
      const maximum = Math.min(declared ?? Infinity, limit);
      t.true(WebAssembly.validate(bytes));
      t.deepEqual(facts.memory, { initial, maximum });
      t.is(await grows(code, { maxMemoryPages: limit }, 1024), maximum - initial);
    }),
    { numRuns: 60, seed: 0x51ed },
  );
});
