import { ArtifactFormatError, decodeArtifact } from '../../shared/artifact.js';
import { classifyError, type MemoryState } from './classify.js';
import { WASI_MODULE } from './hostFunctions.js';
import { JobError } from '../../shared/jobError.js';
import type { ExecuteLimits } from '../../shared/limits.js';
import { Meter } from './meter.js';
import { clampMemory } from './rewrite.js';
import { placeInput, readOutput, runExports } from './runAbi.js';
import { LogSink, OutputSink } from './sinks.js';
import type { Abi } from './validate.js';
import { ProcExit, WasiShim } from './wasi.js';

export interface ExecuteResult {
  output: Uint8Array;
  /** stderr (and, for the `run` ABI, stdout too), cut at `maxLogBytes`. */
  log: Uint8Array;
  /** True when the log was cut. */
  logTruncated: boolean;
  /** Fuel the job used: a function of the module, its input and its limits only. */
  fuelUsed: number;
}

function corrupted(message: string, cause?: unknown): JobError {
  return new JobError('E_CORRUPTED_ARTIFACT', message, { cause });
}

interface LoadedModule {
  module: WebAssembly.Module;
  maxPages: number | undefined;
}

/**
 * The last module this thread compiled, with the exact artifact bytes and limit it came from.
 * A worker that runs the same artifact again skips decode, checksum, clamp and compile: the same
 * bytes under the same limit give the same module (a `WebAssembly.Module` is immutable code; every
 * job still gets a fresh instance and memory). One entry bounds what an idle thread keeps.
 */
let lastLoaded: { artifact: Uint8Array; maxPages: number; loaded: LoadedModule } | undefined;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** `loadModule`, reusing the last result for the same artifact bytes and limit. */
async function loadModuleCached(artifact: Uint8Array, maxPages: number): Promise<LoadedModule> {
  if (lastLoaded && lastLoaded.maxPages === maxPages && sameBytes(lastLoaded.artifact, artifact)) return lastLoaded.loaded;
  const loaded = await loadModule(artifact, maxPages);
  // A copy: the caller's buffer is theirs to change after the job.
  lastLoaded = { artifact: new Uint8Array(artifact), maxPages, loaded };
  return loaded;
}

/** The module inside an artifact, clamped to the execute memory limit and compiled. */
async function loadModule(artifact: Uint8Array, maxPages: number): Promise<LoadedModule> {
  let bytes: Uint8Array;
  try {
    bytes = decodeArtifact(artifact).module;
  } catch (error) {
    if (error instanceof ArtifactFormatError) throw corrupted(error.message, error);
    throw error;
  }
  let memory;
  try {
    ({ bytes, memory } = clampMemory(bytes, maxPages));
  } catch (error) {
    // The checksum held, yet the module does not parse: only a prepare bug or an old format does that.
    throw corrupted(`artifact module does not parse: ${(error as Error).message}`, error);
  }
  if (memory !== undefined && memory.initial > maxPages) {
    throw new JobError('E_OUT_OF_MEMORY', `memory starts with ${memory.initial} pages, more than ${maxPages} pages (maxMemoryPages)`);
  }
  try {
    return { module: await WebAssembly.compile(bytes), maxPages: memory?.maximum };
  } catch (error) {
    throw corrupted(`artifact module does not compile: ${(error as Error).message}`, error);
  }
}

/**
 * Runs a prepared module on an input under one of the two ABIs and returns what it wrote. Every
 * failure caused by the artifact, the module or its input is a thrown `JobError`.
 *
 * An input above `maxInputBytes` is E_TRAP ("input too large"): like a trap it depends only on the
 * code and input, so it is deterministic; the host should refuse such inputs before sending them.
 *
 * The job runs on `fuel` (default `limits.maxFuel`) and `limits.maxStackHeight` of logical stack;
 * a failure after the module started carries the fuel it used.
 *
 * @example
 * const { output, fuelUsed } = await execute(artifact, Buffer.from('hi'), 'run', DEFAULT_EXECUTE_LIMITS);
 */
export async function execute(artifact: Uint8Array, input: Uint8Array, abi: Abi, limits: ExecuteLimits, fuel = limits.maxFuel): Promise<ExecuteResult> {
  if (input.byteLength > limits.maxInputBytes) {
    throw new JobError('E_TRAP', `input too large: ${input.byteLength} bytes, more than ${limits.maxInputBytes} bytes (maxInputBytes)`);
  }
  const { module, maxPages } = await loadModuleCached(artifact, limits.maxMemoryPages);
  const log = new LogSink(limits.maxLogBytes);
  const output = new OutputSink(limits.maxOutputBytes);
  const meter = new Meter(fuel, limits.maxStackHeight);
  // The run ABI returns its output from `run`: whatever it prints is diagnostics, so it goes to the log.
  const stdio = abi === 'wasi' ? { stdin: input, stdout: output, stderr: log } : { stdin: new Uint8Array(0), stdout: log, stderr: log };
  const shim = new WasiShim(stdio, (bytes) => meter.chargeBytes(bytes));
  const state: MemoryState = { memory: undefined, maxPages };
  let result: Uint8Array;
  try {
    try {
      const instance = await WebAssembly.instantiate(module, { [WASI_MODULE]: meter.meterImports(shim.imports()) });
      meter.attach(instance.exports);
      const memory = instance.exports.memory;
      state.memory = memory instanceof WebAssembly.Memory ? memory : undefined;
      shim.memory.attach(state.memory);
      meter.start(instance.exports);
      result = abi === 'run' ? callRun(instance, input, limits.maxOutputBytes, meter) : callStart(instance, output);
    } catch (error) {
      if (!(error instanceof ProcExit)) throw error;
      result = exited(error, abi, output);
    }
    // A module may catch the host's out-of-fuel exception (catch_all) and return: still out of fuel.
    meter.check();
  } catch (error) {
    throw withFuel(classifyError(error, state, meter), meter);
  }
  return { output: result, log: log.contents(), logTruncated: log.truncated, fuelUsed: meter.fuelUsed() };
}

/** A job failure carries the fuel used up to it. */
function withFuel(error: unknown, meter: Meter): unknown {
  if (error instanceof JobError && error.code !== 'E_CORRUPTED_ARTIFACT') error.fuelUsed = meter.fuelUsed();
  return error;
}

function callRun(instance: WebAssembly.Instance, input: Uint8Array, maxOutputBytes: number, meter: Meter): Uint8Array {
  const abi = runExports(instance.exports);
  // Placing the input and copying the output out are host work by the byte, as for WASI calls.
  const ptr = placeInput(abi, input, (bytes) => meter.chargeBytes(bytes));
  return readOutput(abi, abi.run(ptr, input.byteLength), maxOutputBytes, (bytes) => meter.chargeBytes(bytes));
}

function callStart(instance: WebAssembly.Instance, output: OutputSink): Uint8Array {
  const start = instance.exports._start;
  if (typeof start !== 'function') throw new JobError('E_TRAP', 'wasi ABI: the module does not export a function `_start`');
  start();
  return output.contents();
}

/** `proc_exit(0)` ends a WASI command successfully; any other exit is a failure of the job. */
function exited(exit: ProcExit, abi: Abi, output: OutputSink): Uint8Array {
  if (abi === 'run') throw new JobError('E_TRAP', `run ABI: the module called proc_exit(${exit.exitCode}) instead of returning from run`);
  if (exit.exitCode !== 0) throw new JobError('E_TRAP', `the module exited with code ${exit.exitCode}`);
  return output.contents();
}
