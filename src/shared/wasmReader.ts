/**
 * Just enough of the WebAssembly binary format to walk sections and read their headers: LEB128
 * integers, names and limits. Full validation is V8's job (`WebAssembly.validate`, inside the
 * prepare sandbox); this reader only finds what warden limits or rewrites, fails with a message
 * that says where, and reads every value exactly as V8 reads it (a name keeps a leading BOM).
 *
 * It runs on untrusted bytes on the host too, so each step is bounded: every read moves forward,
 * a walk visits each byte at most once, and nothing is kept per custom section.
 */
import { JobError } from './jobError.js';

/** Section ids of the binary format (core spec §5.5.2, plus the exception-handling tag section). */
export const SectionId = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

/** Kinds of import and export descriptors. */
export const ExternalKind = { function: 0, table: 1, memory: 2, global: 3, tag: 4 } as const;

export const EXTERNAL_KIND_NAMES = ['function', 'table', 'memory', 'global', 'tag'] as const;

/** A section as found in the module: `start..end` spans id, size and content. */
export interface Section {
  id: number;
  start: number;
  contentStart: number;
  end: number;
}

/** Table and memory limits; `maximum` is `undefined` when the module declares none. */
export interface Limits {
  initial: number;
  maximum: number | undefined;
  /** The raw flags byte, kept so callers can refuse shared or 64-bit forms with a precise message. */
  flags: number;
}

/**
 * Names are UTF-8 as V8 reads them: invalid sequences are refused (`fatal`), and a leading U+FEFF
 * is part of the name (`ignoreBOM`: without it TextDecoder silently drops it, and
 * `"\uFEFFwasi_snapshot_preview1"` would pass for the import module it is not).
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Bytes visited by every reader, for the fuzz tests' bound on prevalidation work (a counter, so the
 * bound holds however loaded the machine is). Only ever grows. @internal
 */
export const readerWork = { bytes: 0 };

export function malformed(message: string): JobError {
  return new JobError('E_PREVALIDATION', `malformed module: ${message}`);
}

/** A cursor over `bytes[offset, end)` that throws E_PREVALIDATION instead of reading past the end. */
export class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public offset = 0,
    readonly end = bytes.byteLength,
  ) {}

  get atEnd(): boolean {
    return this.offset >= this.end;
  }

  u8(): number {
    if (this.offset >= this.end) throw malformed(`unexpected end at offset ${this.offset}`);
    readerWork.bytes++;
    return this.bytes[this.offset++]!;
  }

  /** Unsigned LEB128 of at most 32 bits (at most 5 bytes, the last carrying 4 bits). */
  u32(): number {
    const at = this.offset;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.u8();
      if (shift === 28 && byte > 0x0f) throw malformed(`LEB128 integer too large at offset ${at}`);
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw malformed(`LEB128 integer too long at offset ${at}`);
  }

  skip(length: number): void {
    if (length > this.end - this.offset) throw malformed(`${length} bytes at offset ${this.offset} run past the end`);
    readerWork.bytes += length;
    this.offset += length;
  }

  /** A length-prefixed UTF-8 name. */
  name(): string {
    const length = this.u32();
    const start = this.offset;
    this.skip(length);
    try {
      return utf8.decode(this.bytes.subarray(start, start + length));
    } catch {
      throw malformed(`name at offset ${start} is not valid UTF-8`);
    }
  }

  limits(): Limits {
    const at = this.offset;
    const flags = this.u8();
    if (flags > 0x07) throw malformed(`limits flags 0x${flags.toString(16)} at offset ${at}`);
    // 64-bit limits (flag 0x04) are read as u32 too: callers refuse them before using the numbers.
    const initial = this.u32();
    const maximum = flags & 0x01 ? this.u32() : undefined;
    if (maximum !== undefined && maximum < initial) throw malformed(`limits at offset ${at}: maximum ${maximum} is below the initial size ${initial}`);
    return { initial, maximum, flags };
  }
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/**
 * Where each known section may appear (V8 and the core spec: the tag section comes between memory
 * and global, data count between element and code). A non-custom section appears at most once,
 * in this order.
 */
const SECTION_ORDER: ReadonlyMap<number, number> = new Map(
  [SectionId.type, SectionId.import, SectionId.function, SectionId.table, SectionId.memory, SectionId.tag, SectionId.global,
    SectionId.export, SectionId.start, SectionId.element, SectionId.dataCount, SectionId.code, SectionId.data].map((id, rank) => [id, rank]),
);

const SECTION_NAMES = Object.fromEntries(Object.entries(SectionId).map(([name, id]) => [id, name])) as Record<number, string>;

/**
 * Custom sections a module may have. V8 has no bound, but every custom section is a header the
 * reader must walk: toolchains emit a few (`name`, `producers`, `target_features`, a dozen
 * `.debug_*`), so this many only come from bytes built to cost time.
 */
export const MAX_CUSTOM_SECTIONS = 1024;

/**
 * Checks magic and version, then walks the section headers: each custom section has a name (valid
 * UTF-8), each other section is known and appears at most once and in order, and there are at most
 * `MAX_CUSTOM_SECTIONS` custom sections. Returns the non-custom sections in order (at most 13);
 * custom sections are checked and skipped, never listed. Linear in the module's size and bounded in
 * what it keeps, whatever the bytes.
 */
export function readSections(bytes: Uint8Array): Section[] {
  if (bytes.byteLength < HEADER.length || !HEADER.every((byte, i) => bytes[i] === byte)) {
    const magicOk = HEADER.slice(0, 4).every((byte, i) => bytes[i] === byte);
    throw new JobError('E_PREVALIDATION', magicOk ? 'unsupported WebAssembly binary version (only 1 is supported)' : 'not a WebAssembly module (no \\0asm magic)');
  }
  const reader = new Reader(bytes, HEADER.length);
  const sections: Section[] = [];
  let customSections = 0;
  let lastRank = -1;
  while (!reader.atEnd) {
    const start = reader.offset;
    const id = reader.u8();
    const size = reader.u32();
    const contentStart = reader.offset;
    reader.skip(size);
    const section = { id, start, contentStart, end: reader.offset };
    if (id === SectionId.custom) {
      if (++customSections > MAX_CUSTOM_SECTIONS) throw malformed(`more than ${MAX_CUSTOM_SECTIONS} custom sections (at offset ${start})`);
      // The name must fit in the section: V8 refuses a custom section without one.
      sectionReader(bytes, section).name();
      continue;
    }
    const rank = SECTION_ORDER.get(id);
    if (rank === undefined) throw malformed(`unknown section id ${id} at offset ${start}`);
    if (rank <= lastRank) {
      const seen = sections.some((s) => s.id === id);
      throw malformed(`${SECTION_NAMES[id]} section at offset ${start} ${seen ? 'appears twice' : 'is out of order'}`);
    }
    lastRank = rank;
    sections.push(section);
  }
  return sections;
}

/** A reader over one section's content. */
export function sectionReader(bytes: Uint8Array, section: Section): Reader {
  return new Reader(bytes, section.contentStart, section.end);
}

/** Unsigned LEB128 encoding of a u32. */
export function encodeU32(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}
