/**
 * A small model of a WebAssembly module and its binary encoding, for the differential property
 * test of prepare (test/fuzz/prepareDifferential.test.ts): names as raw bytes (BOMs, odd or invalid
 * UTF-8), limits anywhere in their range, every import kind, custom sections anywhere. Written
 * apart from src/shared/wasmReader.ts on purpose: the test must not share the code it checks.
 */

/** Function types the model uses, by index in its type section. */
export const TYPES = {
  /** ()->() */
  void: 0,
  /** (i32,i32)->i64, the `run` ABI */
  run: 1,
  /** (i32,i32,i32,i32)->i32, `fd_write` */
  fdWrite: 2,
  /** (i32)->(), `proc_exit` */
  procExit: 3,
  /** (i64)->f32, nobody's */
  odd: 4,
} as const;

const TYPE_SECTION = [
  [0x60, 0, 0],
  [0x60, 2, 0x7f, 0x7f, 1, 0x7e],
  [0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f],
  [0x60, 1, 0x7f, 0],
  [0x60, 1, 0x7e, 1, 0x7d],
];

export type ImportKind = 'func' | 'table' | 'memory' | 'global' | 'tag';

export interface ModelImport {
  module: Uint8Array;
  field: Uint8Array;
  kind: ImportKind;
  /** For a function import: one of `TYPES`. */
  type: number;
}

export interface ModelLimits {
  initial: number;
  maximum: number | undefined;
}

/** Defined functions, in this order after the imported ones: `_start`-like, `run`-like, one that traps. */
export const DEFINED = { start: 0, run: 1, trap: 2 } as const;

export interface ModelExport {
  name: Uint8Array;
  /** A defined function (`DEFINED`), or memory 0. */
  what: keyof typeof DEFINED | 'memory';
}

export interface WasmModel {
  imports: ModelImport[];
  memory: (ModelLimits & { shared: boolean }) | undefined;
  tables: ModelLimits[];
  exports: ModelExport[];
  /** A start section calling the function that traps. */
  start: boolean;
  /** An active data segment that ends one byte past the initial memory. */
  dataOutOfBounds: boolean;
  /** Custom sections, each placed before the known section of that rank (13: at the end). */
  customs: { name: Uint8Array; before: number }[];
}

function u32(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function vec(items: number[][]): number[] {
  return [...u32(items.length), ...items.flat()];
}

function name(bytes: Uint8Array): number[] {
  return [...u32(bytes.length), ...bytes];
}

function limits({ initial, maximum }: ModelLimits, shared = false): number[] {
  const flags = (maximum === undefined ? 0 : 1) | (shared ? 2 : 0);
  return [flags, ...u32(initial), ...(maximum === undefined ? [] : u32(maximum))];
}

function importDescriptor(i: ModelImport): number[] {
  switch (i.kind) {
    case 'func':
      return [0x00, ...u32(i.type)];
    case 'table':
      return [0x01, 0x70, 0x00, 0x01];
    case 'memory':
      return [0x02, 0x00, 0x01];
    case 'global':
      return [0x03, 0x7f, 0x00];
    case 'tag':
      return [0x04, 0x00, ...u32(TYPES.void)];
  }
}

/** The module's binary encoding. */
export function encodeModel(model: WasmModel): Uint8Array {
  const importedFunctions = model.imports.filter((i) => i.kind === 'func').length;
  const functionIndex = (what: keyof typeof DEFINED) => importedFunctions + DEFINED[what];
  const known: [number, number[]][] = [
    [1, vec(TYPE_SECTION)],
    [2, vec(model.imports.map((i) => [...name(i.module), ...name(i.field), ...importDescriptor(i)]))],
    [3, vec([u32(TYPES.void), u32(TYPES.run), u32(TYPES.void)])],
    ...(model.tables.length > 0 ? [[4, vec(model.tables.map((t) => [0x70, ...limits(t)]))] as [number, number[]]] : []),
    ...(model.memory ? [[5, vec([limits(model.memory, model.memory.shared)])] as [number, number[]]] : []),
    [7, vec(model.exports.map((e) => [...name(e.name), ...(e.what === 'memory' ? [0x02, 0x00] : [0x00, ...u32(functionIndex(e.what))])]))],
    ...(model.start ? [[8, u32(functionIndex('trap'))] as [number, number[]]] : []),
    [10, vec([[2, 0x00, 0x0b], [4, 0x00, 0x42, 0x00, 0x0b], [3, 0x00, 0x00, 0x0b]].map((body) => body))],
    ...(model.dataOutOfBounds ? [[11, vec([[0x00, 0x41, ...sleb(model.memory ? model.memory.initial * 65536 - 1 : 0), 0x0b, 2, 0x61, 0x62]])] as [number, number[]]] : []),
  ];
  const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const customsBefore = (rank: number) => model.customs.filter((c) => c.before === rank).map((c) => section(0, name(c.name)));
  known.forEach(([id, content], rank) => {
    bytes.push(...customsBefore(rank).flat(), ...section(id, content));
  });
  bytes.push(...model.customs.filter((c) => c.before >= known.length).flatMap((c) => section(0, name(c.name))));
  return Uint8Array.from(bytes);
}

function section(id: number, content: number[]): number[] {
  return [id, ...u32(content.length), ...content];
}

/** Signed LEB128 of an i32 constant (wrapping as the i32 it stands for). */
function sleb(value: number): number[] {
  let v = value | 0;
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/**
 * A valid run-ABI module of about `dataBytes` bytes: a memory just large enough, one active data
 * segment of that many bytes of `fill`, and a `run` that returns nothing. Encoded directly (wabt
 * takes seconds over a text of tens of MiB).
 */
export function dataModule(dataBytes: number, fill = 0x61): Uint8Array {
  const pages = Math.ceil(dataBytes / 65536) + 1;
  const data = [1, 0x00, 0x41, 0x00, 0x0b, ...u32(dataBytes)];
  const head = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 2, 0x7f, 0x7f, 1, 0x7e]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, ...u32(pages)]])),
    ...section(7, vec([[...name(new TextEncoder().encode('memory')), 0x02, 0x00], [...name(new TextEncoder().encode('run')), 0x00, 0x00]])),
    ...section(10, vec([[4, 0x00, 0x42, 0x00, 0x0b]])),
    11, ...u32(data.length + dataBytes), ...data,
  ];
  const out = new Uint8Array(head.length + dataBytes);
  out.set(head);
  out.fill(fill, head.length);
  return out;
}
