/**
 * Fuel metering and a logical stack limit, injected into a module's bytes. A pure function of the
 * bytes and `METER_VERSION`: no V8, no clock, no randomness, so the host can run it to check what
 * a worker prepared, and the same code gives the same artifact on every machine, forever.
 *
 * What changes in the module:
 * - every function body is instrumented (`functionPass.ts`);
 * - two mutable globals are appended after the module's own: the fuel left (i64) and the logical
 *   stack left (i32). No instruction of the original code can name them: every global index in
 *   the code is checked against the module's own globals;
 * - they are exported as `warden:fuel` and `warden:stack`, so the host can set and read them;
 *   the module cannot import or read its own exports, and exports named `warden:*` are refused;
 * - the start section is removed and its function exported as `warden:start`: the host sets the
 *   counters first, then calls it, so the start function runs metered like any other;
 * - a function type `[] -> results` is appended for each multi-value result list a function
 *   body's wrapping block needs.
 * Everything else (custom sections included) is copied byte for byte.
 */
import { JobError } from '../jobError.js';
import { ExternalKind, SectionId, malformed, readSections, sectionReader, type Section } from '../wasmReader.js';
import { ByteWriter } from './byteWriter.js';
import { FUEL_EXPORT, RESERVED_EXPORT_PREFIX, STACK_EXPORT, START_EXPORT } from './costs.js';
import { FunctionInstrumenter } from './functionPass.js';
import { readModuleInfo, type ModuleInfo } from './moduleInfo.js';

/** Where each known section goes: the binary format's order (the tag section sits after memory). */
const SECTION_ORDER: readonly number[] = [
  SectionId.type,
  SectionId.import,
  SectionId.function,
  SectionId.table,
  SectionId.memory,
  SectionId.tag,
  SectionId.global,
  SectionId.export,
  SectionId.start,
  SectionId.element,
  SectionId.dataCount,
  SectionId.code,
  SectionId.data,
];

const HEADER = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
const encoder = new TextEncoder();

/** Function types appended for the wrapping blocks of multi-value functions, in order of first need. */
class ResultTypes {
  readonly added: Uint8Array[] = [];
  readonly #index = new Map<string, Uint8Array>();

  constructor(readonly base: number) {}

  blockType(results: Uint8Array): Uint8Array {
    if (results.length === 0) return Uint8Array.of(0x40);
    if (results.length === 1) return Uint8Array.of(results[0]!);
    const key = results.join(',');
    let encoded = this.#index.get(key);
    if (encoded === undefined) {
      const type = new ByteWriter(results.length + 3);
      type.byte(0x60);
      type.u32(0);
      type.u32(results.length);
      type.copy(results);
      this.added.push(type.toBytes());
      const index = new ByteWriter(5);
      index.sleb(this.base + this.added.length - 1);
      encoded = index.toBytes();
      this.#index.set(key, encoded);
    }
    return encoded;
  }
}

function checkExports(info: ModuleInfo): void {
  const names = new Set<string>();
  for (const entry of info.exports) {
    if (entry.name.startsWith(RESERVED_EXPORT_PREFIX)) {
      throw new JobError('E_PREVALIDATION', `export "${entry.name}": names starting with "${RESERVED_EXPORT_PREFIX}" are reserved for warden's metering`);
    }
    if (names.has(entry.name)) throw malformed(`export "${entry.name}" appears twice`);
    names.add(entry.name);
  }
}

function writeName(out: ByteWriter, name: string): void {
  const bytes = encoder.encode(name);
  out.u32(bytes.byteLength);
  out.copy(bytes);
}

/** A section's vector with entries appended: the new count, the old entries, the new ones. */
function appendToVector(bytes: Uint8Array, section: Section | undefined, extra: number, writeExtra: (out: ByteWriter) => void): ByteWriter {
  const out = new ByteWriter(64 + (section ? section.end - section.contentStart : 0));
  let existing = 0;
  let entriesStart = 0;
  if (section) {
    const reader = sectionReader(bytes, section);
    existing = reader.u32();
    entriesStart = reader.offset;
  }
  out.u32(existing + extra);
  if (section) out.copy(bytes, entriesStart, section.end);
  writeExtra(out);
  return out;
}

/** Writes the code section with every function body instrumented, straight into `out`. */
function writeCode(out: ByteWriter, bytes: Uint8Array, info: ModuleInfo, types: ResultTypes, globals: { fuel: number; stack: number }): void {
  const section = info.code!;
  const reader = sectionReader(bytes, section);
  const bodies = reader.u32();
  const defined = info.funcTypes.length - info.importedFunctions;
  if (bodies !== defined) throw malformed(`code section has ${bodies} bodies for ${defined} functions`);
  const functions = new FunctionInstrumenter({
    info,
    fuelGlobal: globals.fuel,
    stackGlobal: globals.stack,
    resultBlockType: (results) => types.blockType(results),
  });
  out.byte(SectionId.code);
  const sectionSize = out.placeholderU32();
  const contentStart = out.length;
  out.u32(bodies);
  for (let n = 0; n < bodies; n++) {
    const size = reader.u32();
    const start = reader.offset;
    reader.skip(size);
    const bodySize = out.placeholderU32();
    const bodyStart = out.length;
    functions.instrument(bytes, start, start + size, info.importedFunctions + n, out);
    out.patchU32(bodySize, out.length - bodyStart);
  }
  out.patchU32(sectionSize, out.length - contentStart);
}

function writeSection(out: ByteWriter, id: number, content: ByteWriter): void {
  out.byte(id);
  out.u32(content.length);
  out.copy(content.view());
}

/**
 * Returns the module with fuel metering and the logical stack limit injected. Throws
 * E_PREVALIDATION (naming the feature or the fault) for a module warden cannot meter or read.
 *
 * @example
 * const metered = instrument(fs.readFileSync('module.wasm'));
 */
export function instrument(bytes: Uint8Array): Uint8Array {
  const sections = readSections(bytes);
  const info = readModuleInfo(bytes, sections);
  checkExports(info);
  const fuel = info.globalTypes.length;
  const globals = { fuel, stack: fuel + 1 };
  const types = new ResultTypes(info.types.length);
  const start = info.start;
  // Written first, into a buffer of its own: the function types it needs go in the type section,
  // which comes before it in the module.
  const code = new ByteWriter(info.code ? Math.ceil((info.code.end - info.code.contentStart) * 1.75) + 64 : 16);
  if (info.code) writeCode(code, bytes, info, types, globals);

  const find = (id: number) => sections.find((s) => s.id === id);
  const replaced = new Map<number, ByteWriter | null>();
  if (types.added.length > 0) replaced.set(SectionId.type, appendToVector(bytes, find(SectionId.type), types.added.length, (out) => types.added.forEach((t) => out.copy(t))));
  replaced.set(
    SectionId.global,
    appendToVector(bytes, find(SectionId.global), 2, (out) => {
      out.copy(Uint8Array.of(0x7e, 0x01, 0x42, 0x00, 0x0b)); // (mut i64) (i64.const 0)
      out.copy(Uint8Array.of(0x7f, 0x01, 0x41, 0x00, 0x0b)); // (mut i32) (i32.const 0)
    }),
  );
  replaced.set(
    SectionId.export,
    appendToVector(bytes, find(SectionId.export), start === undefined ? 2 : 3, (out) => {
      writeName(out, FUEL_EXPORT);
      out.byte(ExternalKind.global);
      out.u32(globals.fuel);
      writeName(out, STACK_EXPORT);
      out.byte(ExternalKind.global);
      out.u32(globals.stack);
      if (start !== undefined) {
        writeName(out, START_EXPORT);
        out.byte(ExternalKind.function);
        out.u32(start);
      }
    }),
  );
  replaced.set(SectionId.start, null);

  const out = new ByteWriter(bytes.byteLength - (info.code ? info.code.end - info.code.start : 0) + code.length + 256);
  out.copy(HEADER);
  const written = new Set<number>();
  /** Writes the replacements of the sections that come before `rank` and that the module lacks. */
  const insertMissingBefore = (rank: number) => {
    for (const id of SECTION_ORDER) {
      const content = replaced.get(id);
      if (!content || written.has(id) || find(id) !== undefined) continue;
      if (SECTION_ORDER.indexOf(id) < rank) {
        writeSection(out, id, content);
        written.add(id);
      }
    }
  };
  for (const section of sections) {
    if (section.id !== SectionId.custom) insertMissingBefore(SECTION_ORDER.indexOf(section.id));
    const content = replaced.get(section.id);
    if (section.id === SectionId.code) out.copy(code.view());
    else if (content === undefined || section.id === SectionId.custom) out.copy(bytes, section.start, section.end);
    else if (content !== null) writeSection(out, section.id, content);
    written.add(section.id);
  }
  insertMissingBefore(SECTION_ORDER.length);
  return out.view();
}
