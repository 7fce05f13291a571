/**
 * The instruction sequences the instrumenter injects, written straight into the output. Each
 * leaves the operand stack as it found it.
 */
import type { ByteWriter } from './byteWriter.js';
import { CHARGE_FUEL } from './costs.js';

/** `global.get index` */
export function globalGet(out: ByteWriter, index: number): void {
  out.byte(0x23);
  out.u32(index);
}

/** `global.set index` */
export function globalSet(out: ByteWriter, index: number): void {
  out.byte(0x24);
  out.u32(index);
}

/** `i32.const value` */
export function i32Const(out: ByteWriter, value: number): void {
  out.byte(0x41);
  out.sleb(value);
}

function i64Const(out: ByteWriter, value: number): void {
  out.byte(0x42);
  out.sleb(value);
}

/** `if (condition) unreachable` */
export function trapIf(out: ByteWriter): void {
  out.byte(0x04); // if
  out.byte(0x40);
  out.byte(0x00); // unreachable
  out.byte(0x0b); // end
}

/** `fuel -= cost; if (fuel < 0) unreachable`: nothing for a segment that costs nothing. */
export function chargeFuel(out: ByteWriter, fuel: number, cost: number): void {
  if (cost === 0) return;
  globalGet(out, fuel);
  i64Const(out, cost + CHARGE_FUEL);
  out.byte(0x7d); // i64.sub
  globalSet(out, fuel);
  checkFuel(out, fuel);
}

function checkFuel(out: ByteWriter, fuel: number): void {
  globalGet(out, fuel);
  i64Const(out, 0);
  out.byte(0x53); // i64.lt_s
  trapIf(out);
}

/** With the length on top of the stack: `scratch = length; fuel -= length >>> shift; if (fuel < 0) unreachable`. */
export function chargeLength(out: ByteWriter, fuel: number, scratch: number, shift: number): void {
  out.byte(0x22); // local.tee
  out.u32(scratch);
  globalGet(out, fuel);
  out.byte(0x20); // local.get
  out.u32(scratch);
  out.byte(0xad); // i64.extend_i32_u
  if (shift > 0) {
    i64Const(out, shift);
    out.byte(0x88); // i64.shr_u
  }
  out.byte(0x7d); // i64.sub
  globalSet(out, fuel);
  checkFuel(out, fuel);
}

/** `stack -= frame; if (stack < 0) unreachable`: a call takes its frame from the logical stack. */
export function prologue(out: ByteWriter, stack: number, frame: number): void {
  globalGet(out, stack);
  i32Const(out, frame);
  out.byte(0x6b); // i32.sub
  globalSet(out, stack);
  globalGet(out, stack);
  i32Const(out, 0);
  out.byte(0x48); // i32.lt_s
  trapIf(out);
}

/** `stack += frame`: the frame given back, on every way out of the function. */
export function epilogue(out: ByteWriter, stack: number, frame: number): void {
  globalGet(out, stack);
  i32Const(out, frame);
  out.byte(0x6a); // i32.add
  globalSet(out, stack);
}
