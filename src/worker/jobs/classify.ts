import { JobError } from '../../shared/jobError.js';
import { WASM_PAGE_BYTES } from '../../shared/limits.js';
import type { Meter } from './meter.js';

/** What is known of the job's memory when an error unwinds it. */
export interface MemoryState {
  memory: WebAssembly.Memory | undefined;
  /** The maximum in pages the memory can reach (its declared maximum, clamped to the limits). */
  maxPages: number | undefined;
}

/** `WebAssembly.Exception` (exception handling) is in V8 but not in the TypeScript lib of Node 20. */
const WasmException = (WebAssembly as unknown as { Exception?: abstract new (...args: never[]) => object }).Exception;

/**
 * Whether the memory was (nearly) exhausted: within 1/8 of its maximum. `memory.grow` failures are
 * invisible from JS, and an allocator asks for more than one page at a time, so a module whose
 * `malloc` failed usually traps with some headroom left, not exactly at the maximum.
 */
export function nearMaximum({ memory, maxPages }: MemoryState): boolean {
  if (memory === undefined || maxPages === undefined) return false;
  const pages = memory.buffer.byteLength / WASM_PAGE_BYTES;
  return maxPages - pages <= Math.max(1, maxPages / 8);
}

/**
 * Turns what a running module threw into a `JobError`. A trap of the metering checks is
 * E_OUT_OF_FUEL or E_STACK_OVERFLOW: they trap only with their counter below zero, and nothing
 * else can make it so. A trap with the memory at or near its maximum is reported as
 * E_OUT_OF_MEMORY: the usual end of a module whose `memory.grow` failed (it returns -1, and the
 * module then aborts or writes out of bounds). Anything not from the module (a bug in warden) is
 * returned as is, to be rethrown.
 */
export function classifyError(error: unknown, state: MemoryState, meter?: Meter): unknown {
  if (meter?.outOfFuel) {
    if (error instanceof JobError && error.code === 'E_OUT_OF_FUEL') return error;
    return new JobError('E_OUT_OF_FUEL', `the job ran out of fuel (${meter.budget})`, { cause: error });
  }
  if (error instanceof JobError) return error;
  if (meter?.stackExhausted && error instanceof WebAssembly.RuntimeError) {
    return new JobError('E_STACK_OVERFLOW', `the job's calls went deeper than ${meter.maxStackHeight} units of stack (maxStackHeight)`, { cause: error });
  }
  if (error instanceof WebAssembly.RuntimeError) {
    if (nearMaximum(state)) {
      const pages = state.memory!.buffer.byteLength / WASM_PAGE_BYTES;
      return new JobError('E_OUT_OF_MEMORY', `trapped with memory at ${pages} of its maximum of ${state.maxPages} pages (${error.message})`, { cause: error });
    }
    return new JobError('E_TRAP', `wasm trap: ${error.message}`, { cause: error });
  }
  if (error instanceof RangeError) {
    // The logical limit is set to come first (src/shared/meter/stackCapacity.ts): V8's own limit
    // reached means that bound failed on this machine, not something the code alone decides.
    if (/call stack/i.test(error.message)) return new JobError('E_NATIVE_STACK_OVERFLOW', `V8's stack overflowed before the logical limit: ${error.message}`, { cause: error });
    // V8 fails to reserve or allocate the memory a module asks for.
    if (/out of memory|cannot allocate/i.test(error.message)) return new JobError('E_OUT_OF_MEMORY', error.message, { cause: error });
    return new JobError('E_TRAP', error.message, { cause: error });
  }
  if (error instanceof WebAssembly.LinkError) return new JobError('E_TRAP', `link error: ${error.message}`, { cause: error });
  if (WasmException !== undefined && error instanceof WasmException) return new JobError('E_TRAP', 'uncaught WebAssembly exception', { cause: error });
  return error;
}
