/**
 * A growable byte buffer with the WebAssembly integer encodings. The instrumenter writes a whole
 * module through a few of these: one allocation per doubling, not one per instruction.
 */
export class ByteWriter {
  #bytes: Uint8Array;
  #length = 0;

  constructor(capacity = 1024) {
    this.#bytes = new Uint8Array(Math.max(16, capacity));
  }

  get length(): number {
    return this.#length;
  }

  #reserve(extra: number): void {
    const needed = this.#length + extra;
    if (needed <= this.#bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(needed, this.#bytes.byteLength * 2));
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }

  byte(value: number): void {
    if (this.#length === this.#bytes.byteLength) this.#reserve(1);
    this.#bytes[this.#length++] = value;
  }

  /** Copies `source[start, end)`. */
  copy(source: Uint8Array, start = 0, end = source.byteLength): void {
    const length = end - start;
    if (length <= 0) return;
    this.#reserve(length);
    const bytes = this.#bytes;
    // Most copies are the few bytes between two edits: a loop allocates no subarray.
    if (length <= 64) {
      let at = this.#length;
      for (let i = start; i < end; i++) bytes[at++] = source[i]!;
    } else {
      bytes.set(source.subarray(start, end), this.#length);
    }
    this.#length += length;
  }

  /** Unsigned LEB128 of a u32. */
  u32(value: number): void {
    this.#reserve(5);
    let rest = value >>> 0;
    do {
      let byte = rest & 0x7f;
      rest >>>= 7;
      if (rest !== 0) byte |= 0x80;
      this.#bytes[this.#length++] = byte;
    } while (rest !== 0);
  }

  /** Signed LEB128 of an integer within ±2^53 (i32.const and i64.const immediates). */
  sleb(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`sleb of ${value}`);
    this.#reserve(10);
    let rest = value;
    for (;;) {
      const byte = ((rest % 128) + 128) % 128;
      rest = Math.floor(rest / 128);
      const done = (rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0);
      this.#bytes[this.#length++] = done ? byte : byte | 0x80;
      if (done) return;
    }
  }

  /**
   * Leaves room for a u32 written later with `patchU32`: sizes of sections and function bodies
   * are known only once their content is written, and writing it in place saves a copy.
   */
  placeholderU32(): number {
    this.#reserve(5);
    const at = this.#length;
    this.#length += 5;
    return at;
  }

  /** A u32 in the 5 bytes `placeholderU32` left: LEB128 padded to 5 bytes, which the format allows. */
  patchU32(at: number, value: number): void {
    let rest = value >>> 0;
    for (let n = 0; n < 4; n++) {
      this.#bytes[at + n] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.#bytes[at + 4] = rest;
  }

  /** The bytes written so far, as a view (valid until the next write). */
  view(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  /** The bytes written so far, in a buffer of their own. */
  toBytes(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }

  clear(): void {
    this.#length = 0;
  }
}
