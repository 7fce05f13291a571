/**
 * The piscina peer's task: the same trivial job a warden execute job runs on its worker's main thread
 * (src/worker/jobs/execute.ts, `run` ABI) — compile the module, instantiate it, place the input
 * at `alloc(len)`, call `run(ptr, len)`, copy the output out — minus the sandbox, the artifact
 * file and the IPC. With `cached`, the module is compiled once per thread, as warden's worker does.
 * With `identity`, the task returns its input and runs no wasm at all: what is left is piscina's
 * own overhead per task (issue 13's second peer for row 1).
 */
export interface PiscinaTask {
  wasm: Uint8Array;
  input: Uint8Array;
  cached: boolean;
  identity?: boolean;
}

interface RunAbi {
  memory: WebAssembly.Memory;
  run: (ptr: number, len: number) => bigint;
  alloc: (len: number) => number;
}

/** Modules compiled once per thread, found by their exact bytes (as warden's worker finds its last one). */
const compiled: { wasm: Buffer; module: WebAssembly.Module }[] = [];

function compiledOnce(wasm: Uint8Array): WebAssembly.Module {
  const bytes = Buffer.from(wasm.buffer, wasm.byteOffset, wasm.byteLength);
  let entry = compiled.find((c) => c.wasm.equals(bytes));
  if (!entry) {
    entry = { wasm: Buffer.from(bytes), module: new WebAssembly.Module(bytes) };
    compiled.push(entry);
  }
  return entry.module;
}

export default async function runTask({ wasm, input, cached, identity }: PiscinaTask): Promise<Uint8Array> {
  if (identity) return input;
  const module = cached ? compiledOnce(wasm) : await WebAssembly.compile(wasm);
  const instance = await WebAssembly.instantiate(module, {});
  const { memory, run, alloc } = instance.exports as unknown as RunAbi;
  const ptr = alloc(input.byteLength) >>> 0;
  new Uint8Array(memory.buffer, ptr, input.byteLength).set(input);
  const packed = BigInt.asUintN(64, run(ptr, input.byteLength));
  const out = Number(packed & 0xffff_ffffn);
  const length = Number(packed >> 32n);
  return new Uint8Array(memory.buffer.slice(out, out + length));
}
