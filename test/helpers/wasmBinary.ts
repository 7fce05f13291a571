/**
 * WebAssembly modules written byte by byte, for tests that need an exact instruction encoding
 * (every opcode of the metering table, LEB forms) where text would be ambiguous or unsupported.
 */

export function u32(value: number): number[] {
  const out: number[] = [];
  let rest = value >>> 0;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    out.push(byte);
  } while (rest !== 0);
  return out;
}

function section(id: number, content: number[]): number[] {
  const out = [id, ...u32(content.length)];
  for (const byte of content) out.push(byte);
  return out;
}

function vector(items: number[][]): number[] {
  const out = u32(items.length);
  for (const item of items) for (const byte of item) out.push(byte);
  return out;
}

export interface FunctionSpec {
  /** Value type bytes. */
  params: number[];
  results: number[];
  /** Declared locals as value type bytes, one per local. */
  locals?: number[];
  /** The instructions, without the final `end`. */
  body: number[];
  /** Exported under this name. */
  export?: string;
}

export interface ModuleSpec {
  functions: FunctionSpec[];
  /** A memory of this many pages (exported as "memory"). */
  memoryPages?: number;
  /** A funcref table of this many elements. */
  tableSize?: number;
  /** One passive data segment (4 bytes) and one passive element segment (one ref.null). */
  passiveSegments?: boolean;
  /** Tags (exception handling), as type indices into the function types. */
  tags?: { params: number[] }[];
  /** Extra function types, after those of `functions`. */
  extraTypes?: { params: number[]; results: number[] }[];
}

/** Appends without spreading into arguments: a large body would exceed the call stack. */
function append(out: number[], bytes: number[]): void {
  for (const byte of bytes) out.push(byte);
}

/** Encodes a module: one type per function (then `extraTypes`, then one per tag), in order. */
export function encodeModule(spec: ModuleSpec): Uint8Array {
  const types = [...spec.functions.map((f) => ({ params: f.params, results: f.results })), ...(spec.extraTypes ?? []), ...(spec.tags ?? []).map((t) => ({ params: t.params, results: [] }))];
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  append(out, section(1, vector(types.map((t) => [0x60, ...vector(t.params.map((p) => [p])), ...vector(t.results.map((r) => [r]))]))));
  append(out, section(3, vector(spec.functions.map((_, i) => u32(i)))));
  if (spec.tableSize !== undefined) append(out, section(4, vector([[0x70, 0x00, ...u32(spec.tableSize)]])));
  if (spec.memoryPages !== undefined) append(out, section(5, vector([[0x00, ...u32(spec.memoryPages)]])));
  if (spec.tags) {
    const first = spec.functions.length + (spec.extraTypes?.length ?? 0);
    append(out, section(13, vector(spec.tags.map((_, i) => [0x00, ...u32(first + i)]))));
  }
  const exports: number[][] = [];
  spec.functions.forEach((f, i) => {
    if (f.export) exports.push([...vector([...new TextEncoder().encode(f.export)].map((b) => [b])), 0x00, ...u32(i)]);
  });
  if (spec.memoryPages !== undefined) exports.push([...vector([...new TextEncoder().encode('memory')].map((b) => [b])), 0x02, 0x00]);
  if (exports.length > 0) append(out, section(7, vector(exports)));
  // A passive element segment of funcref expressions: flags 5, type funcref, one ref.null func.
  if (spec.passiveSegments) append(out, section(9, vector([[0x05, 0x70, ...u32(1), 0xd0, 0x70, 0x0b]])));
  if (spec.passiveSegments) append(out, section(12, u32(1)));
  const bodies = spec.functions.map((f) => {
    const locals = (f.locals ?? []).map((type) => [0x01, type]);
    const body = vector(locals);
    append(body, f.body);
    body.push(0x0b);
    const sized = u32(body.length);
    append(sized, body);
    return sized;
  });
  append(out, section(10, vector(bodies)));
  if (spec.passiveSegments) append(out, section(11, vector([[0x01, ...u32(4), 1, 2, 3, 4]])));
  return Uint8Array.from(out);
}

/** Value type bytes by signature letter (src/shared/meter/opcodes.ts). */
export const LETTER_TYPES: Record<string, number> = { i: 0x7f, I: 0x7e, f: 0x7d, F: 0x7c, v: 0x7b, r: 0x70 };
