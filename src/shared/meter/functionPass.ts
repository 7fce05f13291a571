/**
 * Instruments one function body. One pass decodes every instruction to find the control
 * structure, the fuel each straight-line segment costs and the highest the operand stack can
 * reach; it records edits at instruction boundaries, and a second walk copies the body with the
 * edits applied. The original instructions are copied byte for byte, except `return`, which
 * becomes a branch to the block that wraps the body (so the stack epilogue runs).
 *
 * The shape of an instrumented function:
 *
 * ```
 * (local ...original... [i32 scratch] [i32 saved])
 * stack -= frame; if stack < 0: unreachable      ; the logical stack check
 * [saved = stack]                                ; only with catch handlers
 * block (result ...function results...)
 *   fuel -= cost of the entry segment; if fuel < 0: unreachable
 *   ...original body: a charge after each loop, if, else, catch and catch_all for its segment,
 *      a charge of the length before each bulk operation, stack += frame before return_call,
 *      stack = saved at the start of each handler...
 * end                                            ; the original final `end`
 * stack += frame
 * end
 * ```
 *
 * A leaf function (one that calls nothing) gets no stack check, no wrapping block and no
 * epilogue: its frame is never under another, and the native stack keeps room for one largest
 * frame beyond the logical limit anyway (the one whose check trips), so a leaf's frame on top of
 * a full logical stack fits in it. Its frame size is still checked against MAX_FRAME_UNITS.
 *
 * A segment is the code a loop body, an if or else arm, a handler or the function body runs
 * before the next of these constructs begins; `block` and `try` bodies belong to the segment
 * around them. Every back edge goes to a loop, which charges again, so each execution of an
 * instruction is paid for before it runs (at worst paid for and then skipped by a branch out).
 */
import { JobError } from '../jobError.js';
import { Reader, malformed } from '../wasmReader.js';
import type { ByteWriter } from './byteWriter.js';
import { chargeFuel, chargeLength, epilogue, globalGet, globalSet, prologue } from './emit.js';
import { BULK_LENGTH_SHIFT, FRAME_OVERHEAD_UNITS, INSTRUMENT_STACK_UNITS, MAX_BODY_BYTES, MAX_FRAME_UNITS, MAX_LOCALS, MAX_NESTING } from './costs.js';
import { readS33, skipSigned } from './leb.js';
import { readBlockType, valueType, type FuncType, type ModuleInfo } from './moduleInfo.js';
import { FLAGGED_FEATURES, Imm, VALUE_TYPE_UNITS } from './opcodes.js';
import { PREFIXED_OPS, SINGLE_OPS, type CompiledOps } from './opTable.js';

/** The module-wide facts a function's instrumentation needs. */
export interface FunctionContext {
  info: ModuleInfo;
  fuelGlobal: number;
  stackGlobal: number;
  /** The encoded block type `[] -> results`, registering a new function type when one is needed. */
  resultBlockType(results: Uint8Array): Uint8Array;
}

const Frame = { function: 0, block: 1, loop: 2, if: 3, else: 4, try: 5, catch: 6 } as const;

interface ControlFrame {
  kind: number;
  type: FuncType;
  /** Operand stack length and height when the frame began (its params excluded). */
  base: number;
  baseHeight: number;
  unreachable: boolean;
  segment: number;
}

const Edit = { fuel: 0, returnToBranch: 1, epilogue: 2, restoreStack: 3, bulk: 4 } as const;

/** Units of a value whose type the decoder cannot know (popped in unreachable code): the widest. */
const UNKNOWN_UNITS = 4;

const I32 = 0x7f;
const EMPTY_TYPES = new Uint8Array(0);

/** Units by value type byte (0 for bytes that are no value type). */
const UNITS = new Uint8Array(256);
for (const [type, units] of VALUE_TYPE_UNITS) UNITS[type] = units;

function unitsOf(type: number): number {
  return UNITS[type]!;
}

/** `reader.u32()`, with the one-byte case (almost every index) inline. */
function u32(reader: Reader): number {
  const at = reader.offset;
  if (at < reader.end) {
    const byte = reader.bytes[at]!;
    if (byte < 0x80) {
      reader.offset = at + 1;
      return byte;
    }
  }
  return reader.u32();
}

function sumUnits(types: Uint8Array): number {
  let units = 0;
  for (const type of types) units += unitsOf(type);
  return units;
}

function refuse(funcIndex: number, at: number, what: string): JobError {
  return new JobError('E_PREVALIDATION', `function ${funcIndex} uses ${what} (offset ${at}), which warden cannot meter`);
}

/** Instruments function bodies one after another, reusing its buffers. */
export class FunctionInstrumenter {
  readonly #ctx: FunctionContext;
  // Per function state, reset by `#reset`.
  #bytes!: Uint8Array;
  #funcIndex = 0;
  #stack: number[] = [];
  #height = 0;
  #maxHeight = 0;
  /** The largest arguments-and-results area of the calls the function makes. */
  #callArea = 0;
  #control: ControlFrame[] = [];
  #framePool: ControlFrame[] = [];
  #segments: number[] = [];
  #editAt: number[] = [];
  #editSkip: number[] = [];
  #editKind: number[] = [];
  #editArg: number[] = [];
  #localCount = 0;
  #paramTypes!: Uint8Array;
  /** Declared locals as runs: end index (exclusive, counting params) and units. */
  #runEnd: number[] = [];
  #runUnits: number[] = [];
  #wideLocals = false;
  #needsScratch = false;
  #needsSaved = false;
  /** Whether the function calls anything (a call, call_indirect, return_call…): not a leaf. */
  #calls = false;

  constructor(ctx: FunctionContext) {
    this.#ctx = ctx;
  }

  /**
   * Writes the instrumented body of function `funcIndex`, found at `bytes[start, end)` (without
   * its size), to `out`.
   */
  instrument(bytes: Uint8Array, start: number, end: number, funcIndex: number, out: ByteWriter): void {
    this.#reset(bytes, funcIndex);
    if (end - start > MAX_BODY_BYTES) throw new JobError('E_PREVALIDATION', `function ${funcIndex} has a body of ${end - start} bytes, more than ${MAX_BODY_BYTES}`);
    const info = this.#ctx.info;
    const type = info.types[info.funcTypes[funcIndex]!]!;
    const reader = new Reader(bytes, start, end);
    const { declStart, codeStart, localUnits } = this.#readLocals(reader, type);
    this.#decode(reader, type);
    // A leaf's handlers need not restore the stack: no frame above it was counted.
    if (!this.#calls) this.#needsSaved = false;
    const extraLocals = (this.#needsScratch ? 1 : 0) + (this.#needsSaved ? 1 : 0);
    if (this.#localCount + extraLocals > MAX_LOCALS) {
      throw new JobError('E_PREVALIDATION', `function ${funcIndex} has ${this.#localCount} locals: metering needs ${extraLocals} more, beyond ${MAX_LOCALS}`);
    }
    const frame = FRAME_OVERHEAD_UNITS + localUnits + extraLocals + this.#maxHeight + this.#callArea + INSTRUMENT_STACK_UNITS;
    if (frame > MAX_FRAME_UNITS) {
      throw new JobError(
        'E_PREVALIDATION',
        `function ${funcIndex} needs a stack frame of ${frame} units (its locals and operand stack), more than ${MAX_FRAME_UNITS} (8 bytes each)`,
      );
    }
    this.#write(out, { declStart, codeStart, end, type, frame, extraLocals });
  }

  #reset(bytes: Uint8Array, funcIndex: number): void {
    this.#bytes = bytes;
    this.#funcIndex = funcIndex;
    this.#stack.length = 0;
    this.#height = 0;
    this.#maxHeight = 0;
    this.#callArea = 0;
    this.#control.length = 0;
    this.#segments.length = 0;
    this.#editAt.length = 0;
    this.#editSkip.length = 0;
    this.#editKind.length = 0;
    this.#editArg.length = 0;
    this.#runEnd.length = 0;
    this.#runUnits.length = 0;
    this.#needsScratch = false;
    this.#needsSaved = false;
    this.#calls = false;
  }

  #readLocals(reader: Reader, type: FuncType): { declStart: number; codeStart: number; localUnits: number } {
    const runs = u32(reader);
    const declStart = reader.offset;
    if (runs * 2 > reader.end - reader.offset) throw malformed(`function ${this.#funcIndex} declares ${runs} local runs, beyond its body`);
    this.#paramTypes = type.params;
    let count = type.params.length;
    let units = sumUnits(type.params);
    this.#wideLocals = units !== count;
    for (let n = 0; n < runs; n++) {
      const times = u32(reader);
      const localType = valueType(reader);
      count += times;
      if (count - type.params.length > MAX_LOCALS) throw new JobError('E_PREVALIDATION', `function ${this.#funcIndex} declares more than ${MAX_LOCALS} locals`);
      const each = unitsOf(localType);
      if (each !== 1) this.#wideLocals = true;
      units += each * times;
      this.#runEnd.push(count);
      this.#runUnits.push(each);
    }
    this.#localCount = count;
    return { declStart, codeStart: reader.offset, localUnits: units };
  }

  #localUnits(index: number): number {
    if (!this.#wideLocals) return 1;
    if (index < this.#paramTypes.length) return unitsOf(this.#paramTypes[index]!);
    // Binary search of the first run ending after `index`.
    let low = 0;
    let high = this.#runEnd.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.#runEnd[mid]! > index) high = mid;
      else low = mid + 1;
    }
    return this.#runUnits[low]!;
  }

  // Operand stack model: the units of every value, and their sum.

  #push(units: number): void {
    this.#stack.push(units);
    this.#height += units;
    if (this.#height > this.#maxHeight) {
      this.#maxHeight = this.#height;
      // Its frame would be refused anyway: refuse now, before the model grows with the code.
      if (this.#height > MAX_FRAME_UNITS) {
        throw new JobError('E_PREVALIDATION', `function ${this.#funcIndex} has an operand stack of more than ${MAX_FRAME_UNITS} units (8 bytes each)`);
      }
    }
  }

  #pushTypes(types: Uint8Array): void {
    for (const type of types) this.#push(unitsOf(type));
  }

  #pop(at: number): number {
    const frame = this.#control[this.#control.length - 1]!;
    if (this.#stack.length > frame.base) {
      const units = this.#stack.pop()!;
      this.#height -= units;
      return units;
    }
    // Below an unreachable frame's base the stack is polymorphic: any value can be popped.
    if (frame.unreachable) return 0;
    throw malformed(`function ${this.#funcIndex}: operand stack underflow at offset ${at}`);
  }

  #popN(n: number, at: number): void {
    for (let i = 0; i < n; i++) this.#pop(at);
  }

  #unreachable(): void {
    const frame = this.#control[this.#control.length - 1]!;
    frame.unreachable = true;
    this.#stack.length = frame.base;
    this.#height = frame.baseHeight;
  }

  #pushFrame(kind: number, type: FuncType, segment: number, at: number): void {
    this.#popN(type.params.length, at);
    // Frame objects are reused by depth: a large module has millions of blocks.
    const depth = this.#control.length;
    if (depth > MAX_NESTING) throw new JobError('E_PREVALIDATION', `function ${this.#funcIndex} nests blocks more than ${MAX_NESTING} deep (offset ${at})`);
    const frame = this.#framePool[depth] ?? (this.#framePool[depth] = { kind, type, base: 0, baseHeight: 0, unreachable: false, segment });
    frame.kind = kind;
    frame.type = type;
    frame.base = this.#stack.length;
    frame.baseHeight = this.#height;
    frame.unreachable = false;
    frame.segment = segment;
    this.#control.push(frame);
    this.#pushTypes(type.params);
  }

  /** Back to the frame's base, for its next arm or handler. */
  #resetFrame(frame: ControlFrame): void {
    this.#stack.length = frame.base;
    this.#height = frame.baseHeight;
    frame.unreachable = false;
  }

  #newSegment(at: number): number {
    this.#segments.push(0);
    const segment = this.#segments.length - 1;
    this.#edit(at, 0, Edit.fuel, segment);
    return segment;
  }

  #edit(at: number, skip: number, kind: number, arg: number): void {
    this.#editAt.push(at);
    this.#editSkip.push(skip);
    this.#editKind.push(kind);
    this.#editArg.push(arg);
  }

  #label(reader: Reader, at: number): number {
    const depth = u32(reader);
    if (depth >= this.#control.length) throw malformed(`function ${this.#funcIndex}: branch depth ${depth} at offset ${at} names no enclosing block`);
    return depth;
  }

  #tagType(reader: Reader, at: number): FuncType {
    const tag = u32(reader);
    const info = this.#ctx.info;
    if (tag >= info.tagTypes.length) throw malformed(`function ${this.#funcIndex}: tag ${tag} at offset ${at} does not exist`);
    return info.types[info.tagTypes[tag]!]!;
  }

  #calleeType(index: number, at: number): FuncType {
    const info = this.#ctx.info;
    if (index >= info.funcTypes.length) throw malformed(`function ${this.#funcIndex}: call at offset ${at} names function ${index}, which does not exist`);
    return info.types[info.funcTypes[index]!]!;
  }

  #indirectType(reader: Reader, at: number): FuncType {
    const info = this.#ctx.info;
    const typeIndex = u32(reader);
    u32(reader); // table
    if (typeIndex >= info.types.length) throw malformed(`function ${this.#funcIndex}: call_indirect at offset ${at} names type ${typeIndex}, which does not exist`);
    return info.types[typeIndex]!;
  }

  #call(type: FuncType, at: number): void {
    this.#reserveCall(type);
    this.#popN(type.params.length, at);
    this.#pushTypes(type.results);
  }

  /**
   * A caller's frame also holds an area for its calls: the arguments that do not fit in
   * registers are passed there (besides being on its operand stack), and the results that do not
   * fit come back through slots reserved there. Liftoff measures 3 slots per parameter and 2 per
   * result of a recursive function (test/fixtures/stack-probe.mjs, manyParams and manyResults).
   */
  #reserveCall(type: FuncType): void {
    this.#calls = true;
    const area = sumUnits(type.params) + sumUnits(type.results);
    if (area > this.#callArea) this.#callArea = area;
  }

  #decode(reader: Reader, type: FuncType): void {
    const info = this.#ctx.info;
    this.#segments.push(0);
    this.#edit(reader.offset, 0, Edit.fuel, 0);
    this.#pushFrame(Frame.function, { params: EMPTY_TYPES, results: type.results }, 0, reader.offset);
    for (;;) {
      const at = reader.offset;
      const op = reader.u8();
      let ops: CompiledOps = SINGLE_OPS;
      let code = op;
      if (op >= 0xfc && op <= 0xfe) {
        ops = PREFIXED_OPS[op - 0xfc]!;
        code = u32(reader);
      }
      if (code >= ops.defined.length || ops.defined[code] === 0) throw this.#unknown(op, code, at);
      const frame = this.#control[this.#control.length - 1]!;
      this.#segments[frame.segment]! += ops.fuel[code]!;
      const pops = ops.pops[code]!;
      if (pops >= 0) {
        this.#skipImmediate(reader, ops.imm[code]!);
        if (op === 0xfc && code >= 8) this.#bulk(code, at);
        this.#popN(pops, at);
        const push = ops.push[code]!;
        if (push !== 0) this.#push(push);
        continue;
      }
      switch (op) {
        case 0x00: // unreachable
          this.#unreachable();
          break;
        case 0x01: // nop
          break;
        case 0x02: // block
          this.#pushFrame(Frame.block, readBlockType(reader, info), frame.segment, at);
          break;
        case 0x03: {
          // loop: its body is a segment, charged on every iteration.
          const blockType = readBlockType(reader, info);
          this.#pushFrame(Frame.loop, blockType, this.#newSegment(reader.offset), at);
          break;
        }
        case 0x04: {
          const blockType = readBlockType(reader, info);
          this.#pop(at);
          this.#pushFrame(Frame.if, blockType, this.#newSegment(reader.offset), at);
          break;
        }
        case 0x05: {
          if (frame.kind !== Frame.if) throw malformed(`function ${this.#funcIndex}: else at offset ${at} without if`);
          this.#resetFrame(frame);
          this.#pushTypes(frame.type.params);
          frame.kind = Frame.else;
          frame.segment = this.#newSegment(reader.offset);
          break;
        }
        case 0x06: // try
          this.#pushFrame(Frame.try, readBlockType(reader, info), frame.segment, at);
          break;
        case 0x07: // catch
        case 0x19: {
          // catch_all
          if (frame.kind !== Frame.try && frame.kind !== Frame.catch) throw malformed(`function ${this.#funcIndex}: catch at offset ${at} outside try`);
          const tag = op === 0x07 ? this.#tagType(reader, at) : undefined;
          this.#resetFrame(frame);
          if (tag) this.#pushTypes(tag.params);
          frame.kind = Frame.catch;
          // The frames an exception unwound never ran their epilogue: the handler's function
          // takes the stack back to where its own prologue left it.
          this.#needsSaved = true;
          this.#edit(reader.offset, 0, Edit.restoreStack, 0);
          frame.segment = this.#newSegment(reader.offset);
          break;
        }
        case 0x08: // throw
          this.#popN(this.#tagType(reader, at).params.length, at);
          this.#unreachable();
          break;
        case 0x09: // rethrow
          this.#label(reader, at);
          this.#unreachable();
          break;
        case 0x18: // delegate
          if (frame.kind !== Frame.try) throw malformed(`function ${this.#funcIndex}: delegate at offset ${at} outside try`);
          this.#label(reader, at);
          this.#endFrame();
          break;
        case 0x0b: // end
          if (frame.kind === Frame.function) {
            if (reader.offset !== reader.end) throw malformed(`function ${this.#funcIndex}: code after the final end at offset ${at}`);
            return;
          }
          this.#endFrame();
          break;
        case 0x0c: // br
          this.#label(reader, at);
          this.#unreachable();
          break;
        case 0x0d: // br_if
          this.#label(reader, at);
          this.#pop(at);
          break;
        case 0x0e: {
          // br_table
          const targets = u32(reader);
          if (targets > reader.end - reader.offset) throw malformed(`function ${this.#funcIndex}: br_table at offset ${at} runs past the body`);
          for (let n = 0; n <= targets; n++) this.#label(reader, at);
          this.#pop(at);
          this.#unreachable();
          break;
        }
        case 0x0f: // return: a branch to the wrapping block, whose end runs the epilogue.
          this.#edit(at, 1, Edit.returnToBranch, this.#control.length - 1);
          this.#unreachable();
          break;
        case 0x10:
          this.#call(this.#calleeType(u32(reader), at), at);
          break;
        case 0x11: {
          const callee = this.#indirectType(reader, at);
          this.#pop(at);
          this.#call(callee, at);
          break;
        }
        case 0x12: {
          // return_call: this frame leaves the stack before the callee's enters.
          this.#edit(at, 0, Edit.epilogue, 0);
          const callee = this.#calleeType(u32(reader), at);
          this.#reserveCall(callee);
          this.#popN(callee.params.length, at);
          this.#unreachable();
          break;
        }
        case 0x13: {
          this.#edit(at, 0, Edit.epilogue, 0);
          const callee = this.#indirectType(reader, at);
          this.#reserveCall(callee);
          this.#pop(at);
          this.#popN(callee.params.length, at);
          this.#unreachable();
          break;
        }
        case 0x1a: // drop
          this.#pop(at);
          break;
        case 0x1b: {
          // select: the result has the operands' type.
          this.#pop(at);
          const a = this.#pop(at);
          const b = this.#pop(at);
          this.#push(a || b || UNKNOWN_UNITS);
          break;
        }
        case 0x1c: {
          // select t
          if (u32(reader) !== 1) throw malformed(`function ${this.#funcIndex}: select at offset ${at} must name one type`);
          const units = unitsOf(valueType(reader));
          this.#popN(3, at);
          this.#push(units);
          break;
        }
        case 0x20: // local.get
          this.#push(this.#localUnits(this.#local(reader, at)));
          break;
        case 0x21: // local.set
          this.#local(reader, at);
          this.#pop(at);
          break;
        case 0x22: {
          // local.tee
          const index = this.#local(reader, at);
          this.#pop(at);
          this.#push(this.#localUnits(index));
          break;
        }
        case 0x23: // global.get
          this.#push(unitsOf(info.globalTypes[this.#global(reader, at)]!));
          break;
        case 0x24: // global.set
          this.#global(reader, at);
          this.#pop(at);
          break;
        default:
          throw this.#unknown(op, code, at);
      }
    }
  }

  /**
   * Local and global indices are checked here, not only by V8: the instrumenter appends locals
   * and globals of its own, and an index just past the original ones must stay invalid rather
   * than reach them (the host runs this without V8).
   */
  #local(reader: Reader, at: number): number {
    const index = u32(reader);
    if (index >= this.#localCount) throw malformed(`function ${this.#funcIndex}: local ${index} at offset ${at} does not exist`);
    return index;
  }

  #global(reader: Reader, at: number): number {
    const index = u32(reader);
    if (index >= this.#ctx.info.globalTypes.length) throw malformed(`function ${this.#funcIndex}: global ${index} at offset ${at} does not exist`);
    return index;
  }

  #endFrame(): void {
    const frame = this.#control.pop()!;
    this.#stack.length = frame.base;
    this.#height = frame.baseHeight;
    this.#pushTypes(frame.type.results);
  }

  /** A bulk operation whose length operand is charged at run time, before it runs. */
  #bulk(code: number, at: number): void {
    const shift = BULK_LENGTH_SHIFT.get(0xfc << 16 | code);
    if (shift === undefined) return;
    this.#needsScratch = true;
    this.#edit(at, 0, Edit.bulk, shift);
  }

  #unknown(op: number, code: number, at: number): JobError {
    const flagged = FLAGGED_FEATURES.get(op);
    if (flagged) return refuse(this.#funcIndex, at, flagged);
    if (op === 0xfd && code >= 0x100) return refuse(this.#funcIndex, at, `relaxed SIMD (0xfd 0x${code.toString(16)})`);
    const name = op >= 0xfc && op <= 0xfe ? `0x${op.toString(16)} 0x${code.toString(16)}` : `0x${op.toString(16)}`;
    return new JobError('E_PREVALIDATION', `function ${this.#funcIndex}: unknown opcode ${name} at offset ${at}`);
  }

  #skipImmediate(reader: Reader, imm: number): void {
    switch (imm) {
      case Imm.none:
        return;
      case Imm.index:
        u32(reader);
        return;
      case Imm.index2:
        u32(reader);
        u32(reader);
        return;
      case Imm.memArg:
        this.#memArg(reader);
        return;
      case Imm.i32:
        skipSigned(reader, 32);
        return;
      case Imm.i64:
        skipSigned(reader, 64);
        return;
      case Imm.f32:
        reader.skip(4);
        return;
      case Imm.f64:
        reader.skip(8);
        return;
      case Imm.heapType:
        readS33(reader);
        return;
      case Imm.v128:
      case Imm.shuffle:
        reader.skip(16);
        return;
      case Imm.lane:
        reader.skip(1);
        return;
      case Imm.memArgLane:
        this.#memArg(reader);
        reader.skip(1);
        return;
      case Imm.zeroByte:
        if (reader.u8() !== 0) throw malformed(`function ${this.#funcIndex}: atomic.fence at offset ${reader.offset - 1} has a non-zero immediate`);
        return;
      default:
        throw new Error(`opcode table: immediate kind ${imm} has no decoder`);
    }
  }

  #memArg(reader: Reader): void {
    const at = reader.offset;
    // Bit 6 of the alignment selects a memory index (multi-memory, not enabled in V8 11.3).
    if (u32(reader) & 0x40) throw refuse(this.#funcIndex, at, 'multi-memory');
    u32(reader);
  }

  #write(out: ByteWriter, plan: { declStart: number; codeStart: number; end: number; type: FuncType; frame: number; extraLocals: number }): void {
    const bytes = this.#bytes;
    const { fuelGlobal: fuel, stackGlobal: stack } = this.#ctx;
    const scratch = this.#localCount;
    const saved = this.#localCount + (this.#needsScratch ? 1 : 0);
    const runs = this.#runEnd.length;
    out.u32(runs + (plan.extraLocals > 0 ? 1 : 0));
    out.copy(bytes, plan.declStart, plan.codeStart);
    if (plan.extraLocals > 0) {
      out.u32(plan.extraLocals);
      out.byte(I32);
    }
    const leaf = !this.#calls;
    if (!leaf) {
      prologue(out, stack, plan.frame);
      if (this.#needsSaved) {
        globalGet(out, stack);
        out.byte(0x21); // local.set
        out.u32(saved);
      }
      out.byte(0x02); // block
      out.copy(this.#ctx.resultBlockType(plan.type.results));
    }
    let position = plan.codeStart;
    for (let n = 0; n < this.#editAt.length; n++) {
      const at = this.#editAt[n]!;
      out.copy(bytes, position, at);
      position = at + this.#editSkip[n]!;
      const arg = this.#editArg[n]!;
      const kind = this.#editKind[n];
      // A leaf keeps its returns, and has no stack to restore.
      if (leaf && (kind === Edit.returnToBranch || kind === Edit.restoreStack)) {
        position = at;
        continue;
      }
      switch (kind) {
        case Edit.fuel:
          chargeFuel(out, fuel, this.#segments[arg]!);
          break;
        case Edit.returnToBranch:
          out.byte(0x0c); // br
          out.u32(arg);
          break;
        case Edit.epilogue:
          epilogue(out, stack, plan.frame);
          break;
        case Edit.restoreStack:
          out.byte(0x20); // local.get
          out.u32(saved);
          globalSet(out, stack);
          break;
        case Edit.bulk:
          chargeLength(out, fuel, scratch, arg);
          break;
      }
    }
    out.copy(bytes, position, plan.end);
    if (leaf) return;
    epilogue(out, stack, plan.frame);
    out.byte(0x0b); // end
  }
}
