import { JobError } from '../../shared/jobError.js';
import { WASM_PAGE_BYTES } from '../../shared/limits.js';
import { bigArrayBuffer } from '../../shared/hugePages.js';
import { adopt } from '../bufferPool.js';

/** The `run` ABI's view of an instance (docs/api.md, `ExecuteOptions.abi`; examples/README.md). */
export interface RunExports {
  memory: WebAssembly.Memory;
  run: (ptr: number, len: number) => unknown;
  alloc: ((len: number) => unknown) | undefined;
  heapBase: WebAssembly.Global | undefined;
}

function abiError(message: string): JobError {
  return new JobError('E_TRAP', `run ABI: ${message}`);
}

/** Picks the exports the `run` ABI needs; a missing one is the module's fault (E_TRAP). */
export function runExports(exports: WebAssembly.Exports): RunExports {
  const { memory, run, alloc, __heap_base: heapBase } = exports;
  if (!(memory instanceof WebAssembly.Memory)) throw abiError('the module does not export a memory named `memory`');
  if (typeof run !== 'function') throw abiError('the module does not export a function `run`');
  if (alloc !== undefined && typeof alloc !== 'function') throw abiError('`alloc` is exported but is not a function');
  if (heapBase !== undefined && !(heapBase instanceof WebAssembly.Global)) throw abiError('`__heap_base` is exported but is not a global');
  return {
    memory,
    run: run as RunExports['run'],
    alloc: alloc as RunExports['alloc'],
    heapBase: heapBase as WebAssembly.Global | undefined,
  };
}

/** Where the input goes: `alloc(len)` when exported, else `__heap_base`. */
function inputAddress(abi: RunExports, length: number): number {
  if (abi.alloc !== undefined) {
    const ptr = abi.alloc(length);
    if (typeof ptr !== 'number') throw abiError('`alloc` must return an i32');
    return ptr >>> 0;
  }
  if (abi.heapBase !== undefined) return Number(abi.heapBase.value) >>> 0;
  throw abiError('the module exports neither `alloc` nor `__heap_base`, so the input has no place');
}

/**
 * Copies the input into the module's memory and returns its address. Memory is grown to fit an
 * input at `__heap_base` (a grow past the maximum is E_OUT_OF_MEMORY); `alloc` must return room.
 */
export function placeInput(abi: RunExports, input: Uint8Array, charge: (bytes: number) => void = () => {}): number {
  const ptr = inputAddress(abi, input.byteLength);
  charge(input.byteLength);
  // An empty input occupies no memory, wherever it points.
  if (input.byteLength === 0) return ptr;
  const missing = ptr + input.byteLength - abi.memory.buffer.byteLength;
  if (missing > 0 && abi.alloc === undefined) {
    try {
      abi.memory.grow(Math.ceil(missing / WASM_PAGE_BYTES));
    } catch {
      throw new JobError('E_OUT_OF_MEMORY', `input of ${input.byteLength} bytes at __heap_base ${ptr} does not fit in the memory's maximum`);
    }
  }
  const size = abi.memory.buffer.byteLength;
  if (ptr + input.byteLength > size) throw abiError(`alloc returned [${ptr}, ${ptr + input.byteLength}), outside memory of ${size} bytes`);
  new Uint8Array(abi.memory.buffer, ptr, input.byteLength).set(input);
  return ptr;
}

/** Unpacks `ptr | (len << 32)` and copies the output out of memory (into `store` when it fits: memory already touched). */
export function readOutput(abi: RunExports, result: unknown, maxOutputBytes: number, charge: (bytes: number) => void = () => {}, store?: ArrayBuffer): Uint8Array {
  if (typeof result !== 'bigint') throw abiError('`run` must return an i64 packing ptr | (len << 32)');
  const packed = BigInt.asUintN(64, result);
  const ptr = Number(packed & 0xffff_ffffn);
  const length = Number(packed >> 32n);
  if (length > maxOutputBytes) {
    throw new JobError('E_OUTPUT_TOO_LARGE', `output of ${length} bytes exceeds ${maxOutputBytes} bytes (maxOutputBytes)`);
  }
  const size = abi.memory.buffer.byteLength;
  if (ptr + length > size) throw abiError(`run returned output [${ptr}, ${ptr + length}), outside memory of ${size} bytes`);
  charge(length);
  const out = store === undefined || store.byteLength < length ? new Uint8Array(adopt(bigArrayBuffer(length))) : new Uint8Array(store, 0, length);
  out.set(new Uint8Array(abi.memory.buffer, ptr, length));
  return out;
}
