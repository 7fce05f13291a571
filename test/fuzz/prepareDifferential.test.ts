/**
 * Differential property of prepare against V8 (issue 17): over generated modules (names with BOMs,
 * odd and invalid UTF-8, memory and table limits at and beyond their bounds, every import kind,
 * custom sections anywhere, start sections, out-of-bounds data), prepare accepts a module exactly
 * when V8 validates its bytes as submitted, the module links under its ABI (V8 instantiates it
 * against the exact preview 1 signatures), and it is within warden's limits and policy. Whatever
 * prepare accepts then executes to a result or a JobError, never anything else.
 *
 * The oracle shares nothing with the code under test but the ABI's table of signatures: the
 * modules are encoded by test/helpers/wasmModel.ts, the ABI's stand-in is assembled by wabt.
 */
import test from 'ava';
import fc from 'fast-check';
import { WASI_FUNCTIONS, WASI_MODULE } from '../../src/shared/hostFunctions.js';
import { JobError } from '../../src/shared/jobError.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS, type PrepareLimits } from '../../src/shared/limits.js';
import { execute } from '../../src/worker/jobs/execute.js';
import { prepare } from '../../src/worker/jobs/prepare.js';
import { PARAMS_HASH, wat } from '../helpers/wat.js';
import { DEFINED, TYPES, encodeModel, type ImportKind, type ModelImport, type WasmModel } from '../helpers/wasmModel.js';
import { params } from './_fuzz.js';

const utf8 = (text: string) => new TextEncoder().encode(text);
const BOM = [0xef, 0xbb, 0xbf];

/** Byte sequences that are not UTF-8: a lone continuation, overlong, a surrogate, past U+10FFFF, truncated. */
const INVALID_UTF8 = [[0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xef, 0xbb], [0xff]];

/** A name near `exact`: itself, with a BOM before or after, a NUL, odd but valid UTF-8, invalid bytes, or anything. */
function nameNear(exact: string): fc.Arbitrary<Uint8Array> {
  const bytes = [...utf8(exact)];
  return fc.oneof(
    { weight: 24, arbitrary: fc.constant(Uint8Array.from(bytes)) },
    fc.constant(Uint8Array.from([...BOM, ...bytes])),
    fc.constant(Uint8Array.from([...bytes, ...BOM])),
    fc.constant(Uint8Array.from([...bytes, 0])),
    fc.constantFrom('\uFFFE', '\u{10FFFF}', '\u0301', '\u200B', 'ſ').map((odd) => Uint8Array.from([...utf8(odd), ...bytes])),
    fc.constantFrom(...INVALID_UTF8).map((bad) => Uint8Array.from([...bad, ...bytes])),
    fc.string({ unit: 'grapheme', maxLength: 6 }).map(utf8),
  );
}

const WASI_NAMES = [...WASI_FUNCTIONS.keys()];

/** An import: mostly a preview 1 function of its own type, or anything near one. */
const importArb: fc.Arbitrary<ModelImport> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(['fd_write', TYPES.fdWrite] as const, ['proc_exit', TYPES.procExit] as const).chain(([field, type]) =>
      fc.record({ module: nameNear(WASI_MODULE), field: nameNear(field), kind: fc.constant<ImportKind>('func'), type: fc.constant<number>(type) }),
    ),
  },
  fc.record({
    module: nameNear(WASI_MODULE),
    field: fc.constantFrom('fd_write', 'proc_exit', ...WASI_NAMES, 'not_wasi').chain(nameNear),
    kind: fc.constantFrom<ImportKind>('func', 'table', 'memory', 'global', 'tag'),
    type: fc.constantFrom<number>(TYPES.fdWrite, TYPES.procExit, TYPES.void, TYPES.odd),
  }),
);

/** Page and element counts: mostly small, often at or around a bound that matters, sometimes anything. */
const size = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 4 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(1023, 1024, 1025, 65_535, 65_536, 65_537, 99_999, 100_000, 100_001, 10_000_000, 10_000_001, 2 ** 31, 2 ** 32 - 1),
  },
  { weight: 1, arbitrary: fc.nat({ max: 2 ** 32 - 1 }) },
);
/** A maximum: none, the initial size plus a little (valid), or any size (often below the initial one, or past every bound). */
function maximumOver(initial: number): fc.Arbitrary<number | undefined> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 3 }).map((extra) => Math.min(initial + extra, 2 ** 32 - 1)) },
    { weight: 2, arbitrary: size },
  );
}
const limitsArb = size.chain((initial) => fc.record({ initial: fc.constant(initial), maximum: maximumOver(initial) }));
const memoryArb = size.chain((initial) => fc.record({ initial: fc.constant(initial), maximum: maximumOver(initial), shared: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, fc.constant(true)) }));

/** Exports: mostly one of the two ABIs, named exactly or nearly, plus other names. */
const exportsArb = fc
  .tuple(
    fc.constantFrom('wasi', 'run', 'none'),
    fc.uniqueArray(
      fc.oneof(
        fc.record({ name: nameNear('_start'), what: fc.constant<'start'>('start') }),
        fc.record({ name: nameNear('run'), what: fc.constant<'run'>('run') }),
        fc.record({ name: nameNear('memory'), what: fc.constant<'memory'>('memory') }),
        fc.record({ name: nameNear('other'), what: fc.constantFrom<'trap' | 'start'>('trap', 'start') }),
      ),
      { maxLength: 3, selector: (e) => Buffer.from(e.name).toString('hex') },
    ),
  )
  .map(([abi, others]) => {
    const wanted: WasmModel['exports'] =
      abi === 'wasi' ? [{ name: utf8('_start'), what: 'start' }] : abi === 'run' ? [{ name: utf8('run'), what: 'run' }, { name: utf8('memory'), what: 'memory' }] : [];
    const names = new Set(wanted.map((e) => Buffer.from(e.name).toString('hex')));
    return [...wanted, ...others.filter((e) => !names.has(Buffer.from(e.name).toString('hex')))];
  });

const modelArb: fc.Arbitrary<WasmModel> = fc.record({
  imports: fc.array(importArb, { maxLength: 2 }),
  memory: fc.option(memoryArb, { nil: undefined, freq: 4 }),
  tables: fc.array(limitsArb, { maxLength: 2 }),
  exports: exportsArb,
  start: fc.boolean(),
  dataOutOfBounds: fc.boolean(),
  customs: fc.array(fc.record({ name: fc.oneof(nameNear('name'), nameNear('')), before: fc.nat({ max: 13 }) }), { maxLength: 3 }),
});

const limitsOfRun: fc.Arbitrary<PrepareLimits> = fc
  .record({ maxMemoryPages: fc.constantFrom(1, 1024, 65_536), maxTableElements: fc.constantFrom(1, 100_000) })
  .map((limits) => ({ ...DEFAULT_PREPARE_LIMITS, ...limits }));

/** The ABI's imports with their exact types, assembled by wabt from the signature table: what "links" means. */
const abiImports = ((): WebAssembly.Imports => {
  const functions = [...WASI_FUNCTIONS].map(([field, signature]) => {
    const [params, results] = signature.slice(1).split(')->') as [string, string];
    const list = (kind: string, types: string) => (types ? `(${kind} ${types.split(',').join(' ')})` : '');
    return `(func (export "${field}") ${list('param', params)} ${list('result', results)} unreachable)`;
  });
  return { [WASI_MODULE]: new WebAssembly.Instance(new WebAssembly.Module(wat(`(module ${functions.join('\n')})`))).exports };
})();

/** V8's verdict on linking: instantiation gets past the imports (a trap after them still linked). */
function links(bytes: Uint8Array): boolean {
  try {
    new WebAssembly.Instance(new WebAssembly.Module(bytes), abiImports);
    return true;
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) return true;
    if (error instanceof WebAssembly.LinkError || error instanceof TypeError) return false;
    throw error;
  }
}

const same = (a: Uint8Array, text: string) => Buffer.from(a).equals(Buffer.from(utf8(text)));

/** warden's limits and ABI, read from the model (not from the bytes). */
function withinPolicy(model: WasmModel, limits: PrepareLimits): boolean {
  if (model.memory && (model.memory.shared || model.memory.initial > limits.maxMemoryPages)) return false;
  if (model.tables.reduce((sum, t) => sum + t.initial, 0) > limits.maxTableElements) return false;
  const has = (text: string, what: WasmModel['exports'][number]['what'][]) => model.exports.some((e) => same(e.name, text) && what.includes(e.what));
  return has('_start', ['start', 'trap']) || (has('run', ['start', 'trap', 'run']) && has('memory', ['memory']));
}

/** Runs an accepted artifact once under each ABI: a result or a JobError, nothing else. */
async function runsOrFailsTyped(artifact: Uint8Array): Promise<void> {
  for (const abi of ['run', 'wasi'] as const) {
    try {
      await execute(artifact, new Uint8Array(0), abi, DEFAULT_EXECUTE_LIMITS);
    } catch (error) {
      if (!(error instanceof JobError)) throw error;
    }
  }
}

test('prepare accepts a generated module iff V8 validates it as submitted, it links under the ABI, and it is within the limits', async (t) => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(modelArb, limitsOfRun, async (model, limits) => {
      const bytes = encodeModel(model);
      // The policy first: only a module within the limits is instantiated (a 4 GiB memory is not).
      const expected = WebAssembly.validate(bytes) && withinPolicy(model, limits) && links(bytes);
      let artifact: Uint8Array | undefined;
      try {
        artifact = prepare(bytes, limits, PARAMS_HASH).artifact;
      } catch (error) {
        if (!(error instanceof JobError)) throw error;
        if (expected) throw new Error(`prepare refused a module V8 validates and links, within the limits: ${error.code} ${error.message}`);
        return;
      }
      if (!expected) throw new Error(`prepare accepted a module it should refuse (valid: ${WebAssembly.validate(bytes)}, policy: ${withinPolicy(model, limits)})`);
      accepted++;
      await runsOrFailsTyped(artifact);
    }),
    params(400),
  );
  t.log(`${accepted} accepted`);
  t.true(accepted > 0, 'the generator reaches modules that prepare');
});

test('the generator reaches what issue 17 names: BOM names, memory maxima above 65,536 pages, every import kind', (t) => {
  const samples = fc.sample(modelArb, { numRuns: 2000, seed: 17 });
  const bom = (n: Uint8Array) => n[0] === 0xef && n[1] === 0xbb && n[2] === 0xbf;
  t.true(samples.some((m) => m.imports.some((i) => bom(i.module))));
  t.true(samples.some((m) => m.exports.some((e) => bom(e.name))));
  t.true(samples.some((m) => (m.memory?.maximum ?? 0) > 65_536));
  for (const kind of ['func', 'table', 'memory', 'global', 'tag'] as const) t.true(samples.some((m) => m.imports.some((i) => i.kind === kind)), kind);
  t.true(DEFINED.trap === 2);
});
