/**
 * How deep the logical stack may go on a job thread with a given native stack, so that warden's
 * E_STACK_OVERFLOW always comes before V8's own stack overflow (docs/architecture.md, "Metering").
 */
import { BYTES_PER_UNIT, MAX_FRAME_UNITS } from './costs.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Node keeps V8's stack limit this far above the end of a thread's stack, for C++ code (kStackBufferSize). */
export const V8_STACK_BUFFER_BYTES = 192 * KiB;
/**
 * Native stack kept for what is not wasm: the JS frames under the first wasm call (the job
 * thread's loop, execute, the ABI call) and a host function's frames over the last one.
 */
export const HOST_STACK_RESERVE_BYTES = 256 * KiB;

/**
 * The largest `maxStackHeight` a job thread of `jobStackMb` MiB can honour: its stack, less V8's
 * buffer, the host's reserve, and one largest frame (the call that trips the check is already
 * on the native stack when it runs). 0 when the stack is too small for any.
 */
export function maxStackHeightFor(jobStackMb: number): number {
  const usable = jobStackMb * MiB - V8_STACK_BUFFER_BYTES - HOST_STACK_RESERVE_BYTES - MAX_FRAME_UNITS * BYTES_PER_UNIT * MARGIN;
  return Math.max(0, Math.floor(usable / (BYTES_PER_UNIT * MARGIN)));
}

/**
 * Native bytes per unit counted are at most 8 on every shape measured (the worst, a function of
 * 200 results under Liftoff: 7.9); the capacity assumes 9, an eighth more, for shapes not measured.
 */
const MARGIN = 9 / 8;
