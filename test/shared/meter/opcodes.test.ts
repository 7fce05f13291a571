/**
 * The metering decoder's opcode table against V8 itself: every instruction it knows must validate
 * with exactly the stack signature and immediates the table gives (so the decoder finds the same
 * instruction boundaries and the same stack heights as V8), instrumenting it must keep the module
 * valid, and every opcode it does not know must be one V8 refuses too (so nothing V8 runs goes
 * unmetered).
 */
import test from 'ava';
import { FC_OPS, FD_OPS, FE_OPS, FLAGGED_FEATURES, Imm, OPS, type OpInfo } from '../../../src/shared/meter/opcodes.js';
import { instrument } from '../../../src/shared/meter/instrument.js';
import { JobError } from '../../../src/shared/jobError.js';
import { LETTER_TYPES, encodeModule, u32 } from '../../helpers/wasmBinary.js';

/** Natural alignment (log2) of an atomic access, which atomics require exactly. */
function atomicAlignment(name: string): number {
  if (/(load|store|rmw)8/.test(name)) return 0;
  if (/(load|store|rmw)16/.test(name)) return 1;
  if (/(load|store|rmw)32|wait32|notify/.test(name)) return 2;
  return name.startsWith('i64') || name.includes('wait64') ? 3 : 2;
}

function immediates(info: OpInfo, prefix: number): number[] {
  const memArg = () => [prefix === 0xfe ? atomicAlignment(info.name) : 0, 0];
  switch (info.imm) {
    case Imm.none:
      return [];
    case Imm.index:
      return [0];
    case Imm.index2:
      return [0, 0];
    case Imm.memArg:
      return memArg();
    case Imm.i32:
    case Imm.i64:
      return [0];
    case Imm.f32:
      return [0, 0, 0, 0];
    case Imm.f64:
      return new Array(8).fill(0);
    case Imm.heapType:
      return [0x70];
    case Imm.v128:
    case Imm.shuffle:
      return new Array(16).fill(0);
    case Imm.lane:
      return [0];
    case Imm.memArgLane:
      return [...memArg(), 0];
    case Imm.zeroByte:
      return [0];
    default:
      throw new Error(`no immediate for ${info.name}`);
  }
}

/** A module whose one function takes the op's operands as params and returns its result. */
function moduleFor(info: OpInfo, prefix: number, code: number): Uint8Array {
  const [pops, pushes] = info.sig!.split(':') as [string, string];
  const params = [...pops].map((letter) => LETTER_TYPES[letter]!);
  const opcode = prefix === 0 ? [code] : [prefix, ...u32(code)];
  const body = [...params.flatMap((_, i) => [0x20, ...u32(i)]), ...opcode, ...immediates(info, prefix)];
  return encodeModule({
    functions: [{ params, results: [...pushes].map((letter) => LETTER_TYPES[letter]!), body, export: 'f' }],
    memoryPages: 1,
    tableSize: 1,
    passiveSegments: true,
  });
}

function compileError(bytes: Uint8Array): string | undefined {
  try {
    new WebAssembly.Module(bytes);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const TABLES: [string, ReadonlyMap<number, OpInfo>, number][] = [
  ['single-byte', OPS, 0],
  ['0xfc', FC_OPS, 0xfc],
  ['0xfd (SIMD)', FD_OPS, 0xfd],
  ['0xfe (atomics)', FE_OPS, 0xfe],
];

for (const [label, table, prefix] of TABLES) {
  test(`${label}: every instruction with a signature validates in V8 with exactly that signature, before and after instrumenting`, (t) => {
    let checked = 0;
    for (const [code, info] of table) {
      if (info.sig === null) continue;
      const bytes = moduleFor(info, prefix, code);
      t.is(compileError(bytes), undefined, `${info.name} (0x${code.toString(16)}) with signature ${info.sig}`);
      t.is(compileError(instrument(bytes)), undefined, `${info.name} instrumented`);
      checked++;
    }
    t.true(checked > 0);
  });
}

test('every prefixed opcode the table lacks is refused by V8 as well', (t) => {
  for (const [, table, prefix] of TABLES.slice(1)) {
    const top = prefix === 0xfd ? 0x120 : Math.max(...table.keys()) + 8;
    for (let code = 0; code < top; code++) {
      if (table.has(code)) continue;
      const bytes = encodeModule({ functions: [{ params: [], results: [], body: [prefix, ...u32(code)] }], memoryPages: 1 });
      const message = compileError(bytes);
      t.regex(message ?? 'validated', /invalid|not available|enable with|unknown/i, `0x${prefix.toString(16)} 0x${code.toString(16)}`);
      const error = t.throws(() => instrument(bytes), { instanceOf: JobError }, `0x${prefix.toString(16)} 0x${code.toString(16)}`);
      t.is(error?.code, 'E_PREVALIDATION');
    }
  }
});

test('every single-byte opcode the table lacks is refused by V8, and by the instrumenter with the feature named when it has one', (t) => {
  for (let code = 0; code < 0x100; code++) {
    if (OPS.has(code) || (code >= 0xfc && code <= 0xfe)) continue;
    const bytes = encodeModule({ functions: [{ params: [], results: [], body: [code] }], memoryPages: 1 });
    t.regex(compileError(bytes) ?? 'validated', /invalid|not available|enable with|unknown|opcode/i, `0x${code.toString(16)}`);
    const error = t.throws(() => instrument(bytes), { instanceOf: JobError });
    t.is(error?.code, 'E_PREVALIDATION');
    const feature = FLAGGED_FEATURES.get(code);
    if (feature) t.true(error!.message.includes(feature), error!.message);
  }
});

test('relaxed SIMD is refused by name', (t) => {
  // i8x16.relaxed_swizzle
  const bytes = encodeModule({ functions: [{ params: [], results: [], body: [0xfd, ...u32(0x100)] }] });
  t.regex(t.throws(() => instrument(bytes), { instanceOf: JobError })!.message, /relaxed SIMD/);
});
