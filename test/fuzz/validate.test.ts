/**
 * Fuzzes the structural wasm validator. Contract: a module is either accepted, with bytes V8
 * accepts and memory and table maxima within the limits, or refused with JobError E_PREVALIDATION;
 * never a raw RangeError/TypeError.
 */
import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { JobError } from '../../src/shared/jobError.js';
import { validateModule } from '../../src/worker/jobs/validate.js';
import { SectionId, encodeU32, readSections, sectionReader, type Limits } from '../../src/shared/wasmReader.js';
import { fixtures } from '../helpers/wat.js';
import { exampleModules, mutationsOf, params } from './_fuzz.js';

type ValidateLimits = Parameters<typeof validateModule>[1];

const REAL = [...Object.values(fixtures), ...exampleModules()];
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

const limitsArb: fc.Arbitrary<ValidateLimits> = fc.record({
  maxMemoryPages: fc.oneof(fc.constant(1024), fc.integer({ min: 1, max: 70_000 })),
  maxTableElements: fc.oneof(fc.constant(100_000), fc.integer({ min: 1, max: 200_000 })),
  maxFunctions: fc.oneof(fc.constant(100_000), fc.integer({ min: 1, max: 200 })),
});

function section(id: number, content: number[]): number[] {
  return [id, ...encodeU32(content.length), ...content];
}

const limitsBytes = fc
  .record({ flags: fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 8 })), initial: fc.nat({ max: 80_000 }), maximum: fc.nat({ max: 0xffff_ffff }) })
  .map(({ flags, initial, maximum }) => [flags, ...encodeU32(initial), ...(flags & 1 ? encodeU32(maximum) : [])]);

/** Modules built from memory and table sections with random limits, plus an optional export. */
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
    const exp = exportMemory ? section(SectionId.export, [1, 6, ...Buffer.from('memory'), 2, 0]) : [];
    return Uint8Array.from([...HEADER, ...(tablesFirst ? [...tab, ...mem] : [...mem, ...tab]), ...exp]);
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

function check(bytes: Uint8Array, limits: ValidateLimits): boolean {
  let result: ReturnType<typeof validateModule>;
  try {
    result = validateModule(bytes, limits);
  } catch (error) {
    if (error instanceof JobError && error.code === 'E_PREVALIDATION') return true;
    throw error;
  }
  assert.ok(WebAssembly.validate(result.bytes), 'accepted module is valid for V8');
  const { memories, tables } = declaredLimits(result.bytes);
  for (const m of memories) {
    assert.ok(m.maximum !== undefined && m.maximum <= limits.maxMemoryPages, `memory maximum ${m.maximum} within ${limits.maxMemoryPages}`);
    assert.ok(m.initial <= limits.maxMemoryPages);
  }
  if (result.facts.memory) assert.ok(result.facts.memory.maximum <= limits.maxMemoryPages && result.facts.memory.initial <= result.facts.memory.maximum);
  const tableMaxima = tables.reduce((sum, t) => sum + (t.maximum ?? Infinity), 0);
  assert.ok(tableMaxima <= limits.maxTableElements, `table maxima ${tableMaxima} within ${limits.maxTableElements}`);
  assert.ok(result.facts.functions <= limits.maxFunctions);
  // Validation is idempotent: the clamped module passes again, unchanged.
  assert.deepEqual([...validateModule(result.bytes, limits).bytes], [...result.bytes]);
  return true;
}

test('every fixture and example module validates under the default limits', (t) => {
  for (const bytes of REAL) check(bytes, { maxMemoryPages: 1024, maxTableElements: 100_000, maxFunctions: 100_000 });
  t.true(REAL.length > 0);
});

test('arbitrary and mutated modules validate within the limits or fail with E_PREVALIDATION', (t) => {
  fc.assert(fc.property(input, limitsArb, check), params(1500));
  t.pass();
});

test('random memory and table limits are clamped within the limits or refused', (t) => {
  fc.assert(fc.property(structured, limitsArb, check), params(1500));
  t.pass();
});
