/**
 * Signed LEB128 immediates, checked as strictly as V8 checks them (at most ceil(N / 7) bytes, and
 * the unused bits of the last byte a sign extension): the instrumenter must see an instruction end
 * exactly where V8 does, or it would meter a different program than the one that runs.
 */
import { malformed, type Reader } from '../wasmReader.js';

/** Skips a signed LEB128 of `bits` bits (32 or 64). */
export function skipSigned(reader: Reader, bits: 32 | 64): void {
  const at = reader.offset;
  const maxBytes = Math.ceil(bits / 7);
  for (let n = 1; n <= maxBytes; n++) {
    const byte = reader.u8();
    if ((byte & 0x80) === 0) {
      if (n === maxBytes) checkLastByte(byte, bits - 7 * (maxBytes - 1), at);
      return;
    }
  }
  throw malformed(`signed LEB128 integer too long at offset ${at}`);
}

/** Reads a signed LEB128 of 33 bits (a block type) as a number. */
export function readS33(reader: Reader): number {
  const at = reader.offset;
  let result = 0;
  for (let n = 0; n < 5; n++) {
    const byte = reader.u8();
    result += (byte & 0x7f) * 2 ** (7 * n);
    if ((byte & 0x80) === 0) {
      if (n === 4) checkLastByte(byte, 33 - 28, at);
      const bits = 7 * (n + 1);
      // Sign-extend from the last byte's bit 6.
      return byte & 0x40 ? result - 2 ** bits : result;
    }
  }
  throw malformed(`signed LEB128 integer too long at offset ${at}`);
}

/** The last byte carries `used` significant bits; the rest must repeat the sign bit. */
function checkLastByte(byte: number, used: number, at: number): void {
  const sign = (byte >> (used - 1)) & 1;
  const rest = byte >> used;
  const expected = sign ? 0x7f >> used : 0;
  if (rest !== expected) throw malformed(`signed LEB128 integer out of range at offset ${at}`);
}
