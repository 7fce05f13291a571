/**
 * One run of a metered module as warden's worker runs it (counters set, start function, then the
 * `run` ABI), for the raw peers of row 5: in the bench's process (compute.ts) and in a plain
 * node child fed over a socket (computeChild.ts).
 */
import { Meter } from '../src/worker/jobs/meter.js';

export function runMetered(module: WebAssembly.Module, input: Uint8Array): { output: Uint8Array; fuelUsed: number } {
  const instance = new WebAssembly.Instance(module, {});
  const meter = new Meter(1e15, 262_144);
  meter.attach(instance.exports);
  meter.start(instance.exports);
  const { memory, run, alloc } = instance.exports as unknown as { memory: WebAssembly.Memory; run: (p: number, l: number) => bigint; alloc: (l: number) => number };
  const ptr = alloc(input.byteLength) >>> 0;
  new Uint8Array(memory.buffer, ptr, input.byteLength).set(input);
  const packed = BigInt.asUintN(64, run(ptr, input.byteLength));
  const out = Number(packed & 0xffff_ffffn);
  return { output: new Uint8Array(memory.buffer.slice(out, out + Number(packed >> 32n))), fuelUsed: meter.fuelUsed() };
}
