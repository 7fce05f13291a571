/**
 * Every instruction the metering decoder knows: the WebAssembly features Node 20's V8 (11.3)
 * accepts without flags, which are the core spec's MVP, sign extension, non-trapping float to
 * int, bulk memory, reference types, multi-value, fixed-width SIMD (0xfd), threads' atomics
 * (0xfe), tail calls and exception handling (the legacy try/catch/delegate form). For each: its
 * immediates (to find where the next instruction starts) and its stack signature (to find the
 * highest the operand stack can reach). test/shared/meter/opcodes.test.ts checks every entry
 * against V8: each signature must validate exactly, and the gaps must be refused.
 *
 * Features V8 11.3 accepts only behind flags (relaxed SIMD, typed function references, GC,
 * memory64, multi-memory, extended constant expressions, exnref) are refused by name.
 */

/** Immediate encodings. */
export const Imm = {
  none: 0,
  /** 0x40, a value type, or an s33 type index. */
  blockType: 1,
  /** One u32 (a label, function, local, global, table, tag, data or element index). */
  index: 2,
  /** Two u32s. */
  index2: 3,
  /** A vector of u32 labels and a default label. */
  brTable: 4,
  /** Alignment and offset, two u32s. */
  memArg: 5,
  i32: 6,
  i64: 7,
  /** 4 bytes. */
  f32: 8,
  /** 8 bytes. */
  f64: 9,
  /** A vector of value types (select t*). */
  selectT: 10,
  /** A heap type, as s33 (ref.null). */
  heapType: 11,
  /** 16 bytes (v128.const). */
  v128: 12,
  /** One lane byte. */
  lane: 13,
  /** A memarg then a lane byte. */
  memArgLane: 14,
  /** 16 lane bytes (i8x16.shuffle). */
  shuffle: 15,
  /** One reserved byte that must be 0 (atomic.fence). */
  zeroByte: 16,
} as const;
export type Imm = (typeof Imm)[keyof typeof Imm];

/**
 * What an instruction does to the operand stack, as `pops:pushes` in letters: i i32, I i64, f f32,
 * F f64, v v128, r a reference. `null` for the instructions whose effect depends on the module
 * (control, calls, locals, globals, drop, select), handled one by one by the decoder.
 */
export type Signature = string | null;

export interface OpInfo {
  name: string;
  imm: Imm;
  sig: Signature;
}

/** Single-byte opcodes. */
export const OPS: ReadonlyMap<number, OpInfo> = new Map();
/** 0xfc-prefixed (saturating truncation, bulk memory, table operations), by sub-opcode. */
export const FC_OPS: ReadonlyMap<number, OpInfo> = new Map();
/** 0xfd-prefixed (fixed-width SIMD), by sub-opcode. */
export const FD_OPS: ReadonlyMap<number, OpInfo> = new Map();
/** 0xfe-prefixed (threads: atomics), by sub-opcode. */
export const FE_OPS: ReadonlyMap<number, OpInfo> = new Map();

function define(table: ReadonlyMap<number, OpInfo>, code: number, name: string, imm: Imm, sig: Signature): void {
  (table as Map<number, OpInfo>).set(code, { name, imm, sig });
}

/** `names` get consecutive opcodes from `first`, all with the same immediate and signature. */
function run(table: ReadonlyMap<number, OpInfo>, first: number, names: string, imm: Imm, sig: Signature): void {
  names.split(' ').forEach((name, i) => define(table, first + i, name, imm, sig));
}

// Control, calls, variables: effects decided by the decoder.
define(OPS, 0x00, 'unreachable', Imm.none, null);
define(OPS, 0x01, 'nop', Imm.none, null);
run(OPS, 0x02, 'block loop if', Imm.blockType, null);
define(OPS, 0x05, 'else', Imm.none, null);
define(OPS, 0x06, 'try', Imm.blockType, null);
run(OPS, 0x07, 'catch throw rethrow', Imm.index, null);
define(OPS, 0x0b, 'end', Imm.none, null);
define(OPS, 0x0c, 'br', Imm.index, null);
define(OPS, 0x0d, 'br_if', Imm.index, null);
define(OPS, 0x0e, 'br_table', Imm.brTable, null);
define(OPS, 0x0f, 'return', Imm.none, null);
define(OPS, 0x10, 'call', Imm.index, null);
define(OPS, 0x11, 'call_indirect', Imm.index2, null);
define(OPS, 0x12, 'return_call', Imm.index, null);
define(OPS, 0x13, 'return_call_indirect', Imm.index2, null);
define(OPS, 0x18, 'delegate', Imm.index, null);
define(OPS, 0x19, 'catch_all', Imm.none, null);
define(OPS, 0x1a, 'drop', Imm.none, null);
define(OPS, 0x1b, 'select', Imm.none, null);
define(OPS, 0x1c, 'select', Imm.selectT, null);
run(OPS, 0x20, 'local.get local.set local.tee global.get global.set', Imm.index, null);
define(OPS, 0x25, 'table.get', Imm.index, 'i:r');
define(OPS, 0x26, 'table.set', Imm.index, 'ir:');

// Memory.
run(OPS, 0x28, 'i32.load', Imm.memArg, 'i:i');
run(OPS, 0x29, 'i64.load', Imm.memArg, 'i:I');
run(OPS, 0x2a, 'f32.load', Imm.memArg, 'i:f');
run(OPS, 0x2b, 'f64.load', Imm.memArg, 'i:F');
run(OPS, 0x2c, 'i32.load8_s i32.load8_u i32.load16_s i32.load16_u', Imm.memArg, 'i:i');
run(OPS, 0x30, 'i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u', Imm.memArg, 'i:I');
define(OPS, 0x36, 'i32.store', Imm.memArg, 'ii:');
define(OPS, 0x37, 'i64.store', Imm.memArg, 'iI:');
define(OPS, 0x38, 'f32.store', Imm.memArg, 'if:');
define(OPS, 0x39, 'f64.store', Imm.memArg, 'iF:');
run(OPS, 0x3a, 'i32.store8 i32.store16', Imm.memArg, 'ii:');
run(OPS, 0x3c, 'i64.store8 i64.store16 i64.store32', Imm.memArg, 'iI:');
define(OPS, 0x3f, 'memory.size', Imm.index, ':i');
define(OPS, 0x40, 'memory.grow', Imm.index, 'i:i');

// Constants.
define(OPS, 0x41, 'i32.const', Imm.i32, ':i');
define(OPS, 0x42, 'i64.const', Imm.i64, ':I');
define(OPS, 0x43, 'f32.const', Imm.f32, ':f');
define(OPS, 0x44, 'f64.const', Imm.f64, ':F');

// Numeric.
define(OPS, 0x45, 'i32.eqz', Imm.none, 'i:i');
run(OPS, 0x46, 'i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u i32.ge_s i32.ge_u', Imm.none, 'ii:i');
define(OPS, 0x50, 'i64.eqz', Imm.none, 'I:i');
run(OPS, 0x51, 'i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u i64.ge_s i64.ge_u', Imm.none, 'II:i');
run(OPS, 0x5b, 'f32.eq f32.ne f32.lt f32.gt f32.le f32.ge', Imm.none, 'ff:i');
run(OPS, 0x61, 'f64.eq f64.ne f64.lt f64.gt f64.le f64.ge', Imm.none, 'FF:i');
run(OPS, 0x67, 'i32.clz i32.ctz i32.popcnt', Imm.none, 'i:i');
run(OPS, 0x6a, 'i32.add i32.sub i32.mul i32.div_s i32.div_u i32.rem_s i32.rem_u i32.and i32.or i32.xor i32.shl i32.shr_s i32.shr_u i32.rotl i32.rotr', Imm.none, 'ii:i');
run(OPS, 0x79, 'i64.clz i64.ctz i64.popcnt', Imm.none, 'I:I');
run(OPS, 0x7c, 'i64.add i64.sub i64.mul i64.div_s i64.div_u i64.rem_s i64.rem_u i64.and i64.or i64.xor i64.shl i64.shr_s i64.shr_u i64.rotl i64.rotr', Imm.none, 'II:I');
run(OPS, 0x8b, 'f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest f32.sqrt', Imm.none, 'f:f');
run(OPS, 0x92, 'f32.add f32.sub f32.mul f32.div f32.min f32.max f32.copysign', Imm.none, 'ff:f');
run(OPS, 0x99, 'f64.abs f64.neg f64.ceil f64.floor f64.trunc f64.nearest f64.sqrt', Imm.none, 'F:F');
run(OPS, 0xa0, 'f64.add f64.sub f64.mul f64.div f64.min f64.max f64.copysign', Imm.none, 'FF:F');
define(OPS, 0xa7, 'i32.wrap_i64', Imm.none, 'I:i');
run(OPS, 0xa8, 'i32.trunc_f32_s i32.trunc_f32_u', Imm.none, 'f:i');
run(OPS, 0xaa, 'i32.trunc_f64_s i32.trunc_f64_u', Imm.none, 'F:i');
run(OPS, 0xac, 'i64.extend_i32_s i64.extend_i32_u', Imm.none, 'i:I');
run(OPS, 0xae, 'i64.trunc_f32_s i64.trunc_f32_u', Imm.none, 'f:I');
run(OPS, 0xb0, 'i64.trunc_f64_s i64.trunc_f64_u', Imm.none, 'F:I');
run(OPS, 0xb2, 'f32.convert_i32_s f32.convert_i32_u', Imm.none, 'i:f');
run(OPS, 0xb4, 'f32.convert_i64_s f32.convert_i64_u', Imm.none, 'I:f');
define(OPS, 0xb6, 'f32.demote_f64', Imm.none, 'F:f');
run(OPS, 0xb7, 'f64.convert_i32_s f64.convert_i32_u', Imm.none, 'i:F');
run(OPS, 0xb9, 'f64.convert_i64_s f64.convert_i64_u', Imm.none, 'I:F');
define(OPS, 0xbb, 'f64.promote_f32', Imm.none, 'f:F');
define(OPS, 0xbc, 'i32.reinterpret_f32', Imm.none, 'f:i');
define(OPS, 0xbd, 'i64.reinterpret_f64', Imm.none, 'F:I');
define(OPS, 0xbe, 'f32.reinterpret_i32', Imm.none, 'i:f');
define(OPS, 0xbf, 'f64.reinterpret_i64', Imm.none, 'I:F');
run(OPS, 0xc0, 'i32.extend8_s i32.extend16_s', Imm.none, 'i:i');
run(OPS, 0xc2, 'i64.extend8_s i64.extend16_s i64.extend32_s', Imm.none, 'I:I');

// Reference types.
define(OPS, 0xd0, 'ref.null', Imm.heapType, ':r');
define(OPS, 0xd1, 'ref.is_null', Imm.none, 'r:i');
define(OPS, 0xd2, 'ref.func', Imm.index, ':r');

// 0xfc: saturating truncation, bulk memory, tables.
run(FC_OPS, 0, 'i32.trunc_sat_f32_s i32.trunc_sat_f32_u', Imm.none, 'f:i');
run(FC_OPS, 2, 'i32.trunc_sat_f64_s i32.trunc_sat_f64_u', Imm.none, 'F:i');
run(FC_OPS, 4, 'i64.trunc_sat_f32_s i64.trunc_sat_f32_u', Imm.none, 'f:I');
run(FC_OPS, 6, 'i64.trunc_sat_f64_s i64.trunc_sat_f64_u', Imm.none, 'F:I');
define(FC_OPS, 8, 'memory.init', Imm.index2, 'iii:');
define(FC_OPS, 9, 'data.drop', Imm.index, ':');
define(FC_OPS, 10, 'memory.copy', Imm.index2, 'iii:');
define(FC_OPS, 11, 'memory.fill', Imm.index, 'iii:');
define(FC_OPS, 12, 'table.init', Imm.index2, 'iii:');
define(FC_OPS, 13, 'elem.drop', Imm.index, ':');
define(FC_OPS, 14, 'table.copy', Imm.index2, 'iii:');
define(FC_OPS, 15, 'table.grow', Imm.index, 'ri:i');
define(FC_OPS, 16, 'table.size', Imm.index, ':i');
define(FC_OPS, 17, 'table.fill', Imm.index, 'iri:');

// 0xfd: fixed-width SIMD.
define(FD_OPS, 0, 'v128.load', Imm.memArg, 'i:v');
run(FD_OPS, 1, 'v128.load8x8_s v128.load8x8_u v128.load16x4_s v128.load16x4_u v128.load32x2_s v128.load32x2_u', Imm.memArg, 'i:v');
run(FD_OPS, 7, 'v128.load8_splat v128.load16_splat v128.load32_splat v128.load64_splat', Imm.memArg, 'i:v');
define(FD_OPS, 11, 'v128.store', Imm.memArg, 'iv:');
define(FD_OPS, 12, 'v128.const', Imm.v128, ':v');
define(FD_OPS, 13, 'i8x16.shuffle', Imm.shuffle, 'vv:v');
define(FD_OPS, 14, 'i8x16.swizzle', Imm.none, 'vv:v');
run(FD_OPS, 15, 'i8x16.splat i16x8.splat i32x4.splat', Imm.none, 'i:v');
define(FD_OPS, 18, 'i64x2.splat', Imm.none, 'I:v');
define(FD_OPS, 19, 'f32x4.splat', Imm.none, 'f:v');
define(FD_OPS, 20, 'f64x2.splat', Imm.none, 'F:v');
run(FD_OPS, 21, 'i8x16.extract_lane_s i8x16.extract_lane_u', Imm.lane, 'v:i');
define(FD_OPS, 23, 'i8x16.replace_lane', Imm.lane, 'vi:v');
run(FD_OPS, 24, 'i16x8.extract_lane_s i16x8.extract_lane_u', Imm.lane, 'v:i');
define(FD_OPS, 26, 'i16x8.replace_lane', Imm.lane, 'vi:v');
define(FD_OPS, 27, 'i32x4.extract_lane', Imm.lane, 'v:i');
define(FD_OPS, 28, 'i32x4.replace_lane', Imm.lane, 'vi:v');
define(FD_OPS, 29, 'i64x2.extract_lane', Imm.lane, 'v:I');
define(FD_OPS, 30, 'i64x2.replace_lane', Imm.lane, 'vI:v');
define(FD_OPS, 31, 'f32x4.extract_lane', Imm.lane, 'v:f');
define(FD_OPS, 32, 'f32x4.replace_lane', Imm.lane, 'vf:v');
define(FD_OPS, 33, 'f64x2.extract_lane', Imm.lane, 'v:F');
define(FD_OPS, 34, 'f64x2.replace_lane', Imm.lane, 'vF:v');
run(FD_OPS, 35, 'i8x16.eq i8x16.ne i8x16.lt_s i8x16.lt_u i8x16.gt_s i8x16.gt_u i8x16.le_s i8x16.le_u i8x16.ge_s i8x16.ge_u', Imm.none, 'vv:v');
run(FD_OPS, 45, 'i16x8.eq i16x8.ne i16x8.lt_s i16x8.lt_u i16x8.gt_s i16x8.gt_u i16x8.le_s i16x8.le_u i16x8.ge_s i16x8.ge_u', Imm.none, 'vv:v');
run(FD_OPS, 55, 'i32x4.eq i32x4.ne i32x4.lt_s i32x4.lt_u i32x4.gt_s i32x4.gt_u i32x4.le_s i32x4.le_u i32x4.ge_s i32x4.ge_u', Imm.none, 'vv:v');
run(FD_OPS, 65, 'f32x4.eq f32x4.ne f32x4.lt f32x4.gt f32x4.le f32x4.ge', Imm.none, 'vv:v');
run(FD_OPS, 71, 'f64x2.eq f64x2.ne f64x2.lt f64x2.gt f64x2.le f64x2.ge', Imm.none, 'vv:v');
define(FD_OPS, 77, 'v128.not', Imm.none, 'v:v');
run(FD_OPS, 78, 'v128.and v128.andnot v128.or v128.xor', Imm.none, 'vv:v');
define(FD_OPS, 82, 'v128.bitselect', Imm.none, 'vvv:v');
define(FD_OPS, 83, 'v128.any_true', Imm.none, 'v:i');
run(FD_OPS, 84, 'v128.load8_lane v128.load16_lane v128.load32_lane v128.load64_lane', Imm.memArgLane, 'iv:v');
run(FD_OPS, 88, 'v128.store8_lane v128.store16_lane v128.store32_lane v128.store64_lane', Imm.memArgLane, 'iv:');
run(FD_OPS, 92, 'v128.load32_zero v128.load64_zero', Imm.memArg, 'i:v');
run(FD_OPS, 94, 'f32x4.demote_f64x2_zero f64x2.promote_low_f32x4', Imm.none, 'v:v');
run(FD_OPS, 96, 'i8x16.abs i8x16.neg i8x16.popcnt', Imm.none, 'v:v');
run(FD_OPS, 99, 'i8x16.all_true i8x16.bitmask', Imm.none, 'v:i');
run(FD_OPS, 101, 'i8x16.narrow_i16x8_s i8x16.narrow_i16x8_u', Imm.none, 'vv:v');
run(FD_OPS, 103, 'f32x4.ceil f32x4.floor f32x4.trunc f32x4.nearest', Imm.none, 'v:v');
run(FD_OPS, 107, 'i8x16.shl i8x16.shr_s i8x16.shr_u', Imm.none, 'vi:v');
run(FD_OPS, 110, 'i8x16.add i8x16.add_sat_s i8x16.add_sat_u i8x16.sub i8x16.sub_sat_s i8x16.sub_sat_u', Imm.none, 'vv:v');
run(FD_OPS, 116, 'f64x2.ceil f64x2.floor', Imm.none, 'v:v');
run(FD_OPS, 118, 'i8x16.min_s i8x16.min_u i8x16.max_s i8x16.max_u', Imm.none, 'vv:v');
define(FD_OPS, 122, 'f64x2.trunc', Imm.none, 'v:v');
define(FD_OPS, 123, 'i8x16.avgr_u', Imm.none, 'vv:v');
run(FD_OPS, 124, 'i16x8.extadd_pairwise_i8x16_s i16x8.extadd_pairwise_i8x16_u i32x4.extadd_pairwise_i16x8_s i32x4.extadd_pairwise_i16x8_u', Imm.none, 'v:v');
run(FD_OPS, 128, 'i16x8.abs i16x8.neg', Imm.none, 'v:v');
define(FD_OPS, 130, 'i16x8.q15mulr_sat_s', Imm.none, 'vv:v');
run(FD_OPS, 131, 'i16x8.all_true i16x8.bitmask', Imm.none, 'v:i');
run(FD_OPS, 133, 'i16x8.narrow_i32x4_s i16x8.narrow_i32x4_u', Imm.none, 'vv:v');
run(FD_OPS, 135, 'i16x8.extend_low_i8x16_s i16x8.extend_high_i8x16_s i16x8.extend_low_i8x16_u i16x8.extend_high_i8x16_u', Imm.none, 'v:v');
run(FD_OPS, 139, 'i16x8.shl i16x8.shr_s i16x8.shr_u', Imm.none, 'vi:v');
run(FD_OPS, 142, 'i16x8.add i16x8.add_sat_s i16x8.add_sat_u i16x8.sub i16x8.sub_sat_s i16x8.sub_sat_u', Imm.none, 'vv:v');
define(FD_OPS, 148, 'f64x2.nearest', Imm.none, 'v:v');
run(FD_OPS, 149, 'i16x8.mul i16x8.min_s i16x8.min_u i16x8.max_s i16x8.max_u', Imm.none, 'vv:v');
define(FD_OPS, 155, 'i16x8.avgr_u', Imm.none, 'vv:v');
run(FD_OPS, 156, 'i16x8.extmul_low_i8x16_s i16x8.extmul_high_i8x16_s i16x8.extmul_low_i8x16_u i16x8.extmul_high_i8x16_u', Imm.none, 'vv:v');
run(FD_OPS, 160, 'i32x4.abs i32x4.neg', Imm.none, 'v:v');
run(FD_OPS, 163, 'i32x4.all_true i32x4.bitmask', Imm.none, 'v:i');
run(FD_OPS, 167, 'i32x4.extend_low_i16x8_s i32x4.extend_high_i16x8_s i32x4.extend_low_i16x8_u i32x4.extend_high_i16x8_u', Imm.none, 'v:v');
run(FD_OPS, 171, 'i32x4.shl i32x4.shr_s i32x4.shr_u', Imm.none, 'vi:v');
define(FD_OPS, 174, 'i32x4.add', Imm.none, 'vv:v');
define(FD_OPS, 177, 'i32x4.sub', Imm.none, 'vv:v');
run(FD_OPS, 181, 'i32x4.mul i32x4.min_s i32x4.min_u i32x4.max_s i32x4.max_u i32x4.dot_i16x8_s', Imm.none, 'vv:v');
run(FD_OPS, 188, 'i32x4.extmul_low_i16x8_s i32x4.extmul_high_i16x8_s i32x4.extmul_low_i16x8_u i32x4.extmul_high_i16x8_u', Imm.none, 'vv:v');
run(FD_OPS, 192, 'i64x2.abs i64x2.neg', Imm.none, 'v:v');
run(FD_OPS, 195, 'i64x2.all_true i64x2.bitmask', Imm.none, 'v:i');
run(FD_OPS, 199, 'i64x2.extend_low_i32x4_s i64x2.extend_high_i32x4_s i64x2.extend_low_i32x4_u i64x2.extend_high_i32x4_u', Imm.none, 'v:v');
run(FD_OPS, 203, 'i64x2.shl i64x2.shr_s i64x2.shr_u', Imm.none, 'vi:v');
define(FD_OPS, 206, 'i64x2.add', Imm.none, 'vv:v');
define(FD_OPS, 209, 'i64x2.sub', Imm.none, 'vv:v');
define(FD_OPS, 213, 'i64x2.mul', Imm.none, 'vv:v');
run(FD_OPS, 214, 'i64x2.eq i64x2.ne i64x2.lt_s i64x2.gt_s i64x2.le_s i64x2.ge_s', Imm.none, 'vv:v');
run(FD_OPS, 220, 'i64x2.extmul_low_i32x4_s i64x2.extmul_high_i32x4_s i64x2.extmul_low_i32x4_u i64x2.extmul_high_i32x4_u', Imm.none, 'vv:v');
run(FD_OPS, 224, 'f32x4.abs f32x4.neg', Imm.none, 'v:v');
define(FD_OPS, 227, 'f32x4.sqrt', Imm.none, 'v:v');
run(FD_OPS, 228, 'f32x4.add f32x4.sub f32x4.mul f32x4.div f32x4.min f32x4.max f32x4.pmin f32x4.pmax', Imm.none, 'vv:v');
run(FD_OPS, 236, 'f64x2.abs f64x2.neg', Imm.none, 'v:v');
define(FD_OPS, 239, 'f64x2.sqrt', Imm.none, 'v:v');
run(FD_OPS, 240, 'f64x2.add f64x2.sub f64x2.mul f64x2.div f64x2.min f64x2.max f64x2.pmin f64x2.pmax', Imm.none, 'vv:v');
run(
  FD_OPS,
  248,
  'i32x4.trunc_sat_f32x4_s i32x4.trunc_sat_f32x4_u f32x4.convert_i32x4_s f32x4.convert_i32x4_u i32x4.trunc_sat_f64x2_s_zero i32x4.trunc_sat_f64x2_u_zero f64x2.convert_low_i32x4_s f64x2.convert_low_i32x4_u',
  Imm.none,
  'v:v',
);

// 0xfe: atomics (threads). Valid on an unshared memory too, which is the only kind warden allows.
define(FE_OPS, 0x00, 'memory.atomic.notify', Imm.memArg, 'ii:i');
define(FE_OPS, 0x01, 'memory.atomic.wait32', Imm.memArg, 'iiI:i');
define(FE_OPS, 0x02, 'memory.atomic.wait64', Imm.memArg, 'iII:i');
define(FE_OPS, 0x03, 'atomic.fence', Imm.zeroByte, ':');
run(FE_OPS, 0x10, 'i32.atomic.load', Imm.memArg, 'i:i');
run(FE_OPS, 0x11, 'i64.atomic.load', Imm.memArg, 'i:I');
run(FE_OPS, 0x12, 'i32.atomic.load8_u i32.atomic.load16_u', Imm.memArg, 'i:i');
run(FE_OPS, 0x14, 'i64.atomic.load8_u i64.atomic.load16_u i64.atomic.load32_u', Imm.memArg, 'i:I');
define(FE_OPS, 0x17, 'i32.atomic.store', Imm.memArg, 'ii:');
define(FE_OPS, 0x18, 'i64.atomic.store', Imm.memArg, 'iI:');
run(FE_OPS, 0x19, 'i32.atomic.store8 i32.atomic.store16', Imm.memArg, 'ii:');
run(FE_OPS, 0x1b, 'i64.atomic.store8 i64.atomic.store16 i64.atomic.store32', Imm.memArg, 'iI:');
// Read-modify-write: seven widths per operation, from 0x1e; cmpxchg takes one operand more.
['add', 'sub', 'and', 'or', 'xor', 'xchg', 'cmpxchg'].forEach((op, n) => {
  const first = 0x1e + n * 7;
  const [a, b] = op === 'cmpxchg' ? ['ii', 'II'] : ['i', 'I'];
  define(FE_OPS, first, `i32.atomic.rmw.${op}`, Imm.memArg, `i${a}:i`);
  define(FE_OPS, first + 1, `i64.atomic.rmw.${op}`, Imm.memArg, `i${b}:I`);
  define(FE_OPS, first + 2, `i32.atomic.rmw8.${op}_u`, Imm.memArg, `i${a}:i`);
  define(FE_OPS, first + 3, `i32.atomic.rmw16.${op}_u`, Imm.memArg, `i${a}:i`);
  define(FE_OPS, first + 4, `i64.atomic.rmw8.${op}_u`, Imm.memArg, `i${b}:I`);
  define(FE_OPS, first + 5, `i64.atomic.rmw16.${op}_u`, Imm.memArg, `i${b}:I`);
  define(FE_OPS, first + 6, `i64.atomic.rmw32.${op}_u`, Imm.memArg, `i${b}:I`);
});

/**
 * Opcodes of proposals V8 11.3 has only behind flags, named so a refusal says which feature the
 * module needs (anything else unknown is refused as an unknown opcode).
 */
export const FLAGGED_FEATURES: ReadonlyMap<number, string> = new Map([
  [0x0a, 'exception handling with exnref (throw_ref)'],
  [0x1f, 'exception handling with exnref (try_table)'],
  [0x14, 'typed function references (call_ref)'],
  [0x15, 'typed function references (return_call_ref)'],
  [0xd3, 'typed function references (ref.as_non_null)'],
  [0xd4, 'typed function references (br_on_null)'],
  [0xd5, 'typed function references (ref.eq)'],
  [0xd6, 'typed function references (br_on_non_null)'],
  [0xfb, 'garbage collection (GC)'],
]);

/** Value type bytes V8 11.3 accepts without flags, with their width in logical stack units. */
export const VALUE_TYPE_UNITS: ReadonlyMap<number, number> = new Map([
  [0x7f, 1], // i32
  [0x7e, 1], // i64
  [0x7d, 1], // f32
  [0x7c, 1], // f64
  [0x7b, 4], // v128
  [0x70, 1], // funcref
  [0x6f, 1], // externref
]);

/** Width in logical stack units of each signature letter. */
export const LETTER_UNITS: Readonly<Record<string, number>> = { i: 1, I: 1, f: 1, F: 1, r: 1, v: 4 };

/** A prefixed opcode as one number: `prefix << 16 | sub-opcode` (the keys of costs.ts). */
export function opKey(prefix: number, code: number): number {
  return prefix === 0 ? code : (prefix << 16) | code;
}
