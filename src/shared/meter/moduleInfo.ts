/**
 * What the instrumenter must know of a module besides its code: function types, which function
 * has which type, the globals and tags, the exports and the start function. Read without V8 (the
 * host runs the instrumenter too) and bounded by the bytes: every count is checked against what
 * is left of its section before anything is allocated for it.
 */
import { JobError } from '../jobError.js';
import { ExternalKind, Reader, SectionId, malformed, sectionReader, type Section } from '../wasmReader.js';
import { readS33, skipSigned } from './leb.js';
import { VALUE_TYPE_UNITS } from './opcodes.js';

export interface FuncType {
  /** Value type bytes. */
  params: Uint8Array;
  results: Uint8Array;
}

export interface ExportEntry {
  name: string;
  kind: number;
  index: number;
}

export interface ModuleInfo {
  types: FuncType[];
  /** Type index of every function: imported ones first, as in the function index space. */
  funcTypes: number[];
  importedFunctions: number;
  /** Value type byte of every global, imported ones first. */
  globalTypes: number[];
  /** Type index of every tag (exception handling), imported ones first. */
  tagTypes: number[];
  exports: ExportEntry[];
  /** The start function, if the module has one. */
  start: number | undefined;
  /** The code section, if any. */
  code: Section | undefined;
}

function prevalidation(message: string): JobError {
  return new JobError('E_PREVALIDATION', message);
}

/** A value type byte, refused by name when V8 11.3 would need a flag for it. */
export function valueType(reader: Reader): number {
  const at = reader.offset;
  const type = reader.u8();
  if (!VALUE_TYPE_UNITS.has(type)) {
    throw prevalidation(`value type 0x${type.toString(16)} at offset ${at} is not supported (typed references and GC are not enabled)`);
  }
  return type;
}

/** A vector count that cannot exceed the bytes left (each entry takes at least `minBytes`). */
function count(reader: Reader, what: string, minBytes = 1): number {
  const n = reader.u32();
  if (n * minBytes > reader.end - reader.offset) throw malformed(`${what} count ${n} runs past the end of its section`);
  return n;
}

function valueTypes(reader: Reader): Uint8Array {
  const n = count(reader, 'value type');
  const types = new Uint8Array(n);
  for (let i = 0; i < n; i++) types[i] = valueType(reader);
  return types;
}

function readTypes(reader: Reader, info: ModuleInfo): void {
  const n = count(reader, 'type', 3);
  for (let i = 0; i < n; i++) {
    const form = reader.u8();
    if (form !== 0x60) throw prevalidation(`type ${i} has form 0x${form.toString(16)}; only function types are supported (GC is not enabled)`);
    info.types.push({ params: valueTypes(reader), results: valueTypes(reader) });
  }
}

function typeIndex(reader: Reader, info: ModuleInfo, what: string): number {
  const index = reader.u32();
  if (index >= info.types.length) throw malformed(`${what} has type index ${index}, beyond the ${info.types.length} types`);
  return index;
}

function readImports(reader: Reader, info: ModuleInfo): void {
  const n = count(reader, 'import', 4);
  for (let i = 0; i < n; i++) {
    reader.name();
    reader.name();
    const kind = reader.u8();
    switch (kind) {
      case ExternalKind.function:
        info.funcTypes.push(typeIndex(reader, info, `import ${i}`));
        info.importedFunctions++;
        break;
      case ExternalKind.table:
        valueType(reader);
        reader.limits();
        break;
      case ExternalKind.memory:
        reader.limits();
        break;
      case ExternalKind.global:
        info.globalTypes.push(valueType(reader));
        reader.u8();
        break;
      case ExternalKind.tag:
        reader.u8();
        info.tagTypes.push(typeIndex(reader, info, `import ${i}`));
        break;
      default:
        throw malformed(`import ${i} has kind 0x${kind.toString(16)}`);
    }
  }
}

/**
 * Skips a constant expression. Only the forms V8 11.3 accepts without flags: one constant,
 * ref.null, ref.func or global.get (of an earlier global), then end.
 */
export function skipConstExpr(reader: Reader, globals: number, functions: number): void {
  const at = reader.offset;
  const op = reader.u8();
  switch (op) {
    case 0x41:
      skipSigned(reader, 32);
      break;
    case 0x42:
      skipSigned(reader, 64);
      break;
    case 0x43:
      reader.skip(4);
      break;
    case 0x44:
      reader.skip(8);
      break;
    case 0xd0:
      readS33(reader);
      break;
    case 0xd2:
      if (reader.u32() >= functions) throw malformed(`ref.func in a constant expression at offset ${at} names no function`);
      break;
    case 0x23:
      if (reader.u32() >= globals) throw malformed(`global.get in a constant expression at offset ${at} names no earlier global`);
      break;
    case 0xfd:
      if (reader.u32() !== 12) throw malformed(`constant expression at offset ${at} is not constant`);
      reader.skip(16);
      break;
    default:
      throw prevalidation(`constant expression at offset ${at} uses opcode 0x${op.toString(16)}: extended constant expressions are not enabled`);
  }
  if (reader.u8() !== 0x0b) throw prevalidation(`constant expression at offset ${at} has more than one instruction: extended constant expressions are not enabled`);
}

function readGlobals(reader: Reader, info: ModuleInfo): void {
  const n = count(reader, 'global', 4);
  for (let i = 0; i < n; i++) {
    const type = valueType(reader);
    const mutability = reader.u8();
    if (mutability > 1) throw malformed(`global ${info.globalTypes.length} has mutability 0x${mutability.toString(16)}`);
    skipConstExpr(reader, info.globalTypes.length, info.funcTypes.length);
    info.globalTypes.push(type);
  }
}

function readExports(reader: Reader, info: ModuleInfo): void {
  const n = count(reader, 'export', 3);
  for (let i = 0; i < n; i++) info.exports.push({ name: reader.name(), kind: reader.u8(), index: reader.u32() });
}

/** Reads what the instrumenter needs; the sections are those `readSections` found, in module order. */
export function readModuleInfo(bytes: Uint8Array, sections: Section[]): ModuleInfo {
  const info: ModuleInfo = { types: [], funcTypes: [], importedFunctions: 0, globalTypes: [], tagTypes: [], exports: [], start: undefined, code: undefined };
  const seen = new Set<number>();
  for (const section of sections) {
    if (section.id === SectionId.custom) continue;
    if (seen.has(section.id)) throw malformed(`section ${section.id} appears twice`);
    seen.add(section.id);
    const reader = sectionReader(bytes, section);
    switch (section.id) {
      case SectionId.type:
        readTypes(reader, info);
        break;
      case SectionId.import:
        readImports(reader, info);
        break;
      case SectionId.function: {
        const n = count(reader, 'function');
        for (let i = 0; i < n; i++) info.funcTypes.push(typeIndex(reader, info, `function ${info.funcTypes.length}`));
        break;
      }
      case SectionId.tag: {
        const n = count(reader, 'tag', 2);
        for (let i = 0; i < n; i++) {
          if (reader.u8() !== 0) throw malformed(`tag ${info.tagTypes.length} has a non-zero attribute`);
          info.tagTypes.push(typeIndex(reader, info, `tag ${info.tagTypes.length}`));
        }
        break;
      }
      case SectionId.global:
        readGlobals(reader, info);
        break;
      case SectionId.export:
        readExports(reader, info);
        break;
      case SectionId.start:
        info.start = reader.u32();
        if (info.start >= info.funcTypes.length) throw malformed(`start function ${info.start} does not exist`);
        break;
      case SectionId.code:
        info.code = section;
        continue;
      default:
        continue;
    }
    if (!reader.atEnd) throw malformed(`section ${section.id} has ${reader.end - reader.offset} bytes after its content`);
  }
  return info;
}

/** The type whose `params` and `results` a block type names: none, one value, or a type index. */
export function readBlockType(reader: Reader, info: ModuleInfo): FuncType {
  const peek = reader.bytes[reader.offset];
  if (peek === 0x40) {
    reader.offset++;
    return EMPTY;
  }
  const single = peek === undefined ? undefined : SINGLE.get(peek);
  if (single !== undefined) {
    reader.offset++;
    return single;
  }
  const at = reader.offset;
  const index = readS33(reader);
  if (index < 0) throw prevalidation(`block type 0x${(index & 0x7f).toString(16)} at offset ${at} is not supported`);
  if (index >= info.types.length) throw malformed(`block type index ${index} at offset ${at} is beyond the ${info.types.length} types`);
  return info.types[index]!;
}

const EMPTY: FuncType = { params: new Uint8Array(0), results: new Uint8Array(0) };
/** The block type of one result, per value type byte. */
const SINGLE = new Map([...VALUE_TYPE_UNITS.keys()].map((type) => [type, { params: new Uint8Array(0), results: Uint8Array.of(type) }]));
