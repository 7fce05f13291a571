/**
 * Fuzzes prepare's checks on random and mutated modules. Contract: `prepare` (the worker's whole
 * pipeline) either refuses with a JobError of prepare (E_PREVALIDATION, E_PREPARATION), or accepts
 * a module whose bytes as submitted V8 validates, whose artifact V8 validates with memory and table
 * maxima within the limits, and whose derivation (what the host checks) is the artifact's module,
 * deterministic, and metered (the metered module is refused as code). Never a raw RangeError/TypeError.
 */
import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { decodeArtifact } from '../../src/shared/artifact.js';
import { deriveModule } from '../../src/shared/derive.js';
import { JobError } from '../../src/shared/jobError.js';
import { DEFAULT_PREPARE_LIMITS, type PrepareLimits } from '../../src/shared/limits.js';
import { SectionId, encodeU32, readSections, sectionReader, type Limits } from '../../src/shared/wasmReader.js';
import { prepare } from '../../src/worker/jobs/prepare.js';
import { fixtures, PARAMS_HASH } from '../helpers/wat.js';
import { exampleModules, mutationsOf, params } from './_fuzz.js';

const REAL = [...Object.values(fixtures), ...exampleModules()];
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const PREPARE_CODES = new Set(['E_PREVALIDATION', 'E_PREPARATION']);

const limitsArb: fc.Arbitrary<PrepareLimits> = fc
  .record({
    maxMemoryPages: fc.oneof(fc.constant(1024), fc.integer({ min: 1, max: 70_000 })),
    maxTableElements: fc.oneof(fc.constant(100_000), fc.integer({ min: 1, max: 200_000 })),
    maxFunctions: fc.oneof(fc.constant(100_000), fc.integer({ min: 1, max: 200 })),
  })
  .map((limits) => ({ ...DEFAULT_PREPARE_LIMITS, ...limits }));

function section(id: number, content: number[]): number[] {
  return [id, ...encodeU32(content.length), ...content];
}

const limitsBytes = fc
  .record({ flags: fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 8 })), initial: fc.nat({ max: 80_000 }), maximum: fc.nat({ max: 0xffff_ffff }) })
  .map(({ flags, initial, maximum }) => [flags, ...encodeU32(initial), ...(flags & 1 ? encodeU32(maximum) : [])]);

/** A `run` export of a function that returns 0, so that a module with an exported memory has an ABI. */
const RUN = {
  type: section(SectionId.type, [1, 0x60, 2, 0x7f, 0x7f, 1, 0x7e]),
  func: section(SectionId.function, [1, 0]),
  code: section(SectionId.code, [1, 4, 0, 0x42, 0, 0x0b]),
};

/** Modules built from memory and table sections with random limits, plus an optional memory and `run` export. */
const structured = fc
  .record({
    memories: fc.array(limitsBytes, { maxLength: 2 }),
    tables: fc.array(fc.tuple(fc.constantFrom(0x70, 0x6f, 0x40), limitsBytes), { maxLength: 3 }),
    exportMemory: fc.boolean(),
    tablesFirst: fc.boolean(),
  })
  .map(({ memories, tables, exportMemory, tablesFirst }) => {
    const mem = memories.length > 0 || exportMemory ? section(SectionId.memory, [...encodeU32(memories.length), ...memories.flat()]) : [];
    const tab = tables.length > 0 ? section(SectionId.table, [...encodeU32(tables.length), ...tables.flatMap(([t, l]) => [t, ...l])]) : [];
    const exp = exportMemory ? section(SectionId.export, [2, 6, ...Buffer.from('memory'), 2, 0, 3, ...Buffer.from('run'), 0, 0]) : [];
    const body = tablesFirst ? [...tab, ...mem] : [...mem, ...tab];
    return Uint8Array.from([...HEADER, ...RUN.type, ...RUN.func, ...body, ...exp, ...RUN.code]);
  });

const real = fc.constantFrom(...REAL);
const input = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 64 }).map((rest) => Uint8Array.from([...HEADER, ...rest])),
  structured,
  mutationsOf(structured),
  mutationsOf(real),
  mutationsOf(real, 1),
);

/** The limits of each memory and table of a module, read back from its bytes. */
function declaredLimits(bytes: Uint8Array): { memories: Limits[]; tables: Limits[] } {
  const memories: Limits[] = [];
  const tables: Limits[] = [];
  for (const s of readSections(bytes)) {
    if (s.id !== SectionId.memory && s.id !== SectionId.table) continue;
    const reader = sectionReader(bytes, s);
    const count = reader.u32();
    for (let n = 0; n < count; n++) {
      if (s.id === SectionId.table) reader.u8();
      (s.id === SectionId.memory ? memories : tables).push(reader.limits());
    }
  }
  return { memories, tables };
}

function check(bytes: Uint8Array, limits: PrepareLimits): boolean {
  let artifact: Buffer;
  try {
    ({ artifact } = prepare(bytes, limits, PARAMS_HASH));
  } catch (error) {
    if (error instanceof JobError && PREPARE_CODES.has(error.code)) return true;
    throw error;
  }
  assert.ok(WebAssembly.validate(bytes), 'accepted code is valid for V8 as submitted');
  const { module } = decodeArtifact(artifact);
  assert.ok(WebAssembly.validate(module), 'the artifact module is valid for V8');
  const { memories, tables } = declaredLimits(module);
  for (const m of memories) {
    assert.ok(m.maximum !== undefined && m.maximum <= limits.maxMemoryPages, `memory maximum ${m.maximum} within ${limits.maxMemoryPages}`);
    assert.ok(m.initial <= limits.maxMemoryPages);
  }
  const tableMaxima = tables.reduce((sum, t) => sum + (t.maximum ?? Infinity), 0);
  assert.ok(tableMaxima <= limits.maxTableElements, `table maxima ${tableMaxima} within ${limits.maxTableElements}`);
  // What the host checks: the derivation without V8 gives the very bytes the worker stored.
  const derived = deriveModule(bytes, limits);
  assert.deepEqual(Buffer.from(derived.module), Buffer.from(module));
  assert.ok(derived.facts.functions <= limits.maxFunctions);
  if (derived.facts.memory) assert.ok(derived.facts.memory.maximum <= limits.maxMemoryPages && derived.facts.memory.initial <= derived.facts.memory.maximum);
  // The derivation is deterministic: the same code derives to the same bytes again.
  assert.deepEqual(Buffer.from(deriveModule(bytes, limits).module), Buffer.from(module));
  // The derived module is metered: submitted as code, it is refused (its exports are warden's own),
  // so no one can pass off a module with its own counters as prepared code.
  assert.throws(() => deriveModule(module, limits), (error: unknown) => error instanceof JobError && error.code === 'E_PREVALIDATION');
  return true;
}

test('every fixture and example module prepares under the default limits, but those refused on purpose', (t) => {
  // A forbidden import, too much memory, two tables over the budget.
  const refused = new Set([fixtures.forbiddenImport, fixtures.tooMuchMemory, fixtures.twoTables]);
  for (const bytes of REAL) {
    if (refused.has(bytes)) t.throws(() => prepare(bytes, DEFAULT_PREPARE_LIMITS, PARAMS_HASH), { instanceOf: JobError });
    else t.true(check(bytes, DEFAULT_PREPARE_LIMITS) && prepare(bytes, DEFAULT_PREPARE_LIMITS, PARAMS_HASH).artifact.byteLength > 0);
  }
});

test('arbitrary and mutated modules prepare within the limits or fail with a prepare error', (t) => {
  fc.assert(fc.property(input, limitsArb, check), params(1500));
  t.pass();
});

test('random memory and table limits are clamped within the limits or refused', (t) => {
  fc.assert(fc.property(structured, limitsArb, check), params(1500));
  t.pass();
});
