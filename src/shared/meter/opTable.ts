/**
 * The opcode table of `opcodes.ts` and the costs of `costs.ts`, compiled into flat arrays the
 * decoder indexes once per instruction.
 */
import { FUEL_BY_OPCODE, FUEL_DEFAULT } from './costs.js';
import { FC_OPS, FD_OPS, FE_OPS, LETTER_UNITS, OPS, opKey, type OpInfo } from './opcodes.js';

export interface CompiledOps {
  /** 1 where the opcode exists. */
  defined: Uint8Array;
  imm: Uint8Array;
  /** Values popped, or -1 when the decoder works the effect out itself. */
  pops: Int16Array;
  /** Units of the value pushed, 0 for none. */
  push: Uint8Array;
  fuel: Uint32Array;
  names: string[];
}

function compile(table: ReadonlyMap<number, OpInfo>, prefix: number): CompiledOps {
  const size = Math.max(...table.keys()) + 1;
  const ops: CompiledOps = {
    defined: new Uint8Array(size),
    imm: new Uint8Array(size),
    pops: new Int16Array(size),
    push: new Uint8Array(size),
    fuel: new Uint32Array(size),
    names: [],
  };
  for (const [code, info] of table) {
    ops.defined[code] = 1;
    ops.imm[code] = info.imm;
    ops.names[code] = info.name;
    ops.fuel[code] = FUEL_BY_OPCODE.get(opKey(prefix, code)) ?? FUEL_DEFAULT;
    if (info.sig === null) {
      ops.pops[code] = -1;
      continue;
    }
    const [pops, pushes] = info.sig.split(':') as [string, string];
    if (pushes.length > 1) throw new Error(`opcode table: ${info.name} pushes more than one value`);
    ops.pops[code] = pops.length;
    ops.push[code] = pushes.length === 0 ? 0 : LETTER_UNITS[pushes]!;
  }
  return ops;
}

export const SINGLE_OPS = compile(OPS, 0);
/** By prefix byte minus 0xfc. */
export const PREFIXED_OPS: readonly CompiledOps[] = [compile(FC_OPS, 0xfc), compile(FD_OPS, 0xfd), compile(FE_OPS, 0xfe)];
