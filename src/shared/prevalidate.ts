/**
 * Prepare's checks of a module's content against the limits and the ABI: step 4 of the
 * derivation (`derive.ts`). Plain JavaScript over bytes, as V8 reads them: the host runs it too,
 * on code V8 never saw there, so it refuses what V8 would refuse wherever a limit is involved
 * (a memory above 65,536 pages, a maximum below the initial size) and never reads past a section.
 */
import { JobError } from './jobError.js';
import { HOST_FUNCTIONS, WASI_MODULE } from './hostFunctions.js';
import type { PrepareLimits } from './limits.js';
import type { Clamp } from './rewrite.js';
import {
  EXTERNAL_KIND_NAMES,
  ExternalKind,
  SectionId,
  malformed,
  sectionReader,
  type Limits,
  type Reader,
  type Section,
} from './wasmReader.js';

/** The two ways a job can be run (docs/api.md, `ExecuteOptions.abi`). */
export type Abi = 'run' | 'wasi';

export interface ModuleExport {
  name: string;
  kind: (typeof EXTERNAL_KIND_NAMES)[number];
}

/** What preparation learned about a module. */
export interface ModuleFacts {
  /** Imported plus defined functions. */
  functions: number;
  /** Imports as `module.name`. */
  imports: string[];
  exports: ModuleExport[];
  /** The memory in pages, its maximum as clamped; `undefined` for a module without memory. */
  memory: { initial: number; maximum: number } | undefined;
  /** The ABIs the exports allow: `wasi` for `_start`, `run` for `run` plus `memory`. */
  abis: Abi[];
}

/** What prevalidation found: the facts, and the limits to rewrite. */
export interface PrevalidatedModule {
  facts: ModuleFacts;
  /** The memory and table limits whose maxima the derived module bounds (see `clampLimits`). */
  clamps: Clamp[];
}

/** The implementation limit of V8 and the spec's "memory size": 2^16 pages of 64 KiB, 4 GiB. */
export const MAX_WASM_MEMORY_PAGES = 65_536;

const VALUE_TYPES: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };

function prevalidation(message: string): JobError {
  return new JobError('E_PREVALIDATION', message);
}

function valueTypes(reader: Reader): string[] {
  const count = reader.u32();
  const types: string[] = [];
  for (let n = 0; n < count; n++) {
    const code = reader.u8();
    const type = VALUE_TYPES[code];
    if (type === undefined) throw prevalidation(`value type 0x${code.toString(16)} is not supported`);
    types.push(type);
  }
  return types;
}

/** Function types as `(i32,i64)->i32`, indexed like the type section. */
function readTypes(reader: Reader): string[] {
  const count = reader.u32();
  const types: string[] = [];
  for (let n = 0; n < count; n++) {
    const form = reader.u8();
    // GC proposal forms (rec groups, subtypes) are not enabled in Node 20's V8.
    if (form !== 0x60) throw prevalidation(`type ${n} has form 0x${form.toString(16)}; only function types are supported`);
    types.push(`(${valueTypes(reader).join(',')})->${valueTypes(reader).join(',')}`);
  }
  return types;
}

/** Only functions of the host function set may be imported, with the exact signature the shim has. */
function checkImports(reader: Reader, types: string[]): string[] {
  const count = reader.u32();
  const imports: string[] = [];
  for (let n = 0; n < count; n++) {
    const module = reader.name();
    const name = reader.name();
    const kind = reader.u8();
    const what = `import "${module}"."${name}"`;
    if (kind !== ExternalKind.function) {
      const kindName = EXTERNAL_KIND_NAMES[kind] ?? `kind 0x${kind.toString(16)}`;
      throw prevalidation(`${what} is a ${kindName} import; only functions of ${WASI_MODULE} may be imported`);
    }
    const functions = HOST_FUNCTIONS.get(module);
    if (functions === undefined) throw prevalidation(`${what} is not allowed: the only import module is ${WASI_MODULE}`);
    const expected = functions.get(name);
    if (expected === undefined) throw prevalidation(`${what} is not a ${WASI_MODULE} function`);
    const typeIndex = reader.u32();
    const actual = types[typeIndex];
    if (actual !== expected) throw prevalidation(`${what} has type ${actual ?? `#${typeIndex} (undefined)`}, expected ${expected}`);
    imports.push(`${module}.${name}`);
  }
  return imports;
}

/**
 * Checks the tables against one budget of `limit` elements for all of them together, and returns
 * clamps giving out what the initial sizes leave of it, in table order, as maxima. Table elements
 * live on the job thread's V8 heap, where a single allocation beyond the heap limit ends the whole
 * process rather than the thread: so the sum over all tables, never only each one, must stay bounded.
 */
function checkTables(reader: Reader, limit: number): Clamp[] {
  const count = reader.u32();
  const tables: { start: number; end: number; limits: Limits }[] = [];
  let initialTotal = 0;
  for (let n = 0; n < count; n++) {
    const refType = reader.u8();
    // 0x40 starts a table with an initializer expression (function-references proposal).
    if (refType !== 0x70 && refType !== 0x6f) throw prevalidation(`table ${n} has an unsupported encoding (0x${refType.toString(16)})`);
    const start = reader.offset;
    const limits = reader.limits();
    if (limits.flags & ~0x01) throw prevalidation(`table ${n} has limits flags 0x${limits.flags.toString(16)}: 64-bit or shared tables are not supported`);
    initialTotal += limits.initial;
    if (initialTotal > limit) {
      const which = count === 1 ? `table ${n} starts with ${limits.initial} elements` : `tables 0..${n} start with ${initialTotal} elements in all`;
      throw prevalidation(`${which}, more than ${limit} (maxTableElements)`);
    }
    tables.push({ start, end: reader.offset, limits });
  }
  let spare = limit - initialTotal;
  return tables.map(({ start, end, limits }) => {
    const maximum = Math.min(limits.maximum ?? Infinity, limits.initial + spare);
    spare -= maximum - limits.initial;
    return { start, end, limits, limit: maximum };
  });
}

function checkMemory(reader: Reader, limit: number): { clamp: Clamp; limits: Limits } | undefined {
  const count = reader.u32();
  if (count === 0) return undefined;
  if (count > 1) throw prevalidation(`module declares ${count} memories; at most one is allowed`);
  const start = reader.offset;
  const limits = reader.limits();
  if (limits.flags & 0x04) throw prevalidation('memory is 64-bit (memory64); only 32-bit memories are supported');
  if (limits.flags & 0x02) throw prevalidation('memory is shared; shared memories are not supported (jobs have no threads)');
  // What V8 refuses, refused here too: this check also runs on the host, where V8 never sees the
  // bytes, and clamping a maximum above the bound would otherwise turn an invalid module valid.
  for (const [what, pages] of [['initial size', limits.initial], ['maximum', limits.maximum]] as const) {
    if (pages !== undefined && pages > MAX_WASM_MEMORY_PAGES) throw prevalidation(`memory ${what} of ${pages} pages is above the ${MAX_WASM_MEMORY_PAGES} pages a 32-bit memory can have`);
  }
  if (limits.initial > limit) {
    throw prevalidation(`memory starts with ${limits.initial} pages, more than ${limit} pages (maxMemoryPages)`);
  }
  return { clamp: { start, end: reader.offset, limits, limit }, limits };
}

function readExports(reader: Reader): ModuleExport[] {
  const count = reader.u32();
  const exports: ModuleExport[] = [];
  for (let n = 0; n < count; n++) {
    const name = reader.name();
    const kind = reader.u8();
    reader.u32();
    const kindName = EXTERNAL_KIND_NAMES[kind];
    if (kindName === undefined) throw malformed(`export "${name}" has kind 0x${kind.toString(16)}`);
    exports.push({ name, kind: kindName });
  }
  return exports;
}

function abisOf(exports: ModuleExport[]): Abi[] {
  const has = (name: string, kind: ModuleExport['kind']) => exports.some((e) => e.name === name && e.kind === kind);
  const abis: Abi[] = [];
  if (has('run', 'function') && has('memory', 'memory')) abis.push('run');
  if (has('_start', 'function')) abis.push('wasi');
  return abis;
}

/**
 * Checks a module against the limits and the host function set, and finds the memory and table
 * maxima to clamp to the limits (so `memory.grow` and `table.grow` fail with -1 past them, with no
 * host involvement). Every refusal is E_PREVALIDATION and names the limit or the import at fault.
 * Pure and linear: each section is read once, from `sections` as `readSections` listed them.
 *
 * A declared maximum above the limit is clamped rather than refused: toolchains declare 2 or 4 GiB
 * maxima by default, and a module must already cope with `memory.grow` failing.
 */
export function prevalidate(
  bytes: Uint8Array,
  sections: readonly Section[],
  limits: Pick<PrepareLimits, 'maxMemoryPages' | 'maxTableElements' | 'maxFunctions'>,
): PrevalidatedModule {
  let types: string[] = [];
  let imports: string[] = [];
  let definedFunctions = 0;
  let exports: ModuleExport[] = [];
  let memory: ReturnType<typeof checkMemory>;
  const clamps: Clamp[] = [];
  for (const section of sections) {
    const reader = sectionReader(bytes, section);
    switch (section.id) {
      case SectionId.type:
        types = readTypes(reader);
        break;
      case SectionId.import:
        imports = checkImports(reader, types);
        break;
      case SectionId.function:
        definedFunctions = reader.u32();
        break;
      case SectionId.table:
        clamps.push(...checkTables(reader, limits.maxTableElements));
        break;
      case SectionId.memory:
        memory = checkMemory(reader, limits.maxMemoryPages);
        if (memory) clamps.push(memory.clamp);
        break;
      case SectionId.export:
        exports = readExports(reader);
        break;
    }
  }
  const functions = imports.length + definedFunctions;
  if (functions > limits.maxFunctions) {
    throw prevalidation(`module has ${functions} functions, more than ${limits.maxFunctions} (maxFunctions)`);
  }
  const abis = abisOf(exports);
  if (abis.length === 0) {
    throw prevalidation('module exports neither `_start` (wasi ABI) nor `run` and `memory` (run ABI)');
  }
  const memoryFacts = memory && { initial: memory.limits.initial, maximum: Math.min(memory.limits.maximum ?? Infinity, limits.maxMemoryPages) };
  return { facts: { functions, imports, exports, memory: memoryFacts, abis }, clamps };
}
