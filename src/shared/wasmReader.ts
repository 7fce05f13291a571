/**
 * Just enough of the WebAssembly binary format to walk sections and read their headers: LEB128
 * integers, names and limits. Full validation is V8's job (`WebAssembly.validate`); this reader only
 * finds what warden limits or rewrites, and fails with a message that says where.
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

const utf8 = new TextDecoder('utf-8', { fatal: true });

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
    const flags = this.u8();
    if (flags > 0x07) throw malformed(`limits flags 0x${flags.toString(16)} at offset ${this.offset - 1}`);
    // 64-bit limits (flag 0x04) are read as u32 too: callers refuse them before using the numbers.
    const initial = this.u32();
    const maximum = flags & 0x01 ? this.u32() : undefined;
    return { initial, maximum, flags };
  }
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** Checks magic and version, then lists the sections without looking inside them. */
export function readSections(bytes: Uint8Array): Section[] {
  if (bytes.byteLength < HEADER.length || !HEADER.every((byte, i) => bytes[i] === byte)) {
    const magicOk = HEADER.slice(0, 4).every((byte, i) => bytes[i] === byte);
    throw new JobError('E_PREVALIDATION', magicOk ? 'unsupported WebAssembly binary version (only 1 is supported)' : 'not a WebAssembly module (no \\0asm magic)');
  }
  const reader = new Reader(bytes, HEADER.length);
  const sections: Section[] = [];
  while (!reader.atEnd) {
    const start = reader.offset;
    const id = reader.u8();
    const size = reader.u32();
    const contentStart = reader.offset;
    reader.skip(size);
    sections.push({ id, start, contentStart, end: reader.offset });
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
