import { ArtifactFormatError, decodeArtifact } from '../../shared/artifact.js';
import { classifyError, nearMaximum, type MemoryState } from './classify.js';
import { WASI_MODULE } from '../../shared/hostFunctions.js';
import { JobError, type JobPartial } from '../../shared/jobError.js';
import { SYNC_COMPILE_BYTES, WASM_PAGE_BYTES, type ExecuteLimits } from '../../shared/limits.js';
import { FsError } from './memoryFs.js';
import { Meter } from './meter.js';
import { MEMORY_IMPORT, memoryAsImport } from '../../shared/rewrite.js';
import { JobMemory, type MemoryShape } from './jobMemory.js';
import { placeInput, readOutput, runExports } from './runAbi.js';
import { LogSink, OutputSink } from './sinks.js';
import type { Abi } from '../../shared/prevalidate.js';
import { DEFAULT_ARGS, ProcExit, WasiShim, processCpuNs } from './wasi.js';

export interface ExecuteResult extends JobPartial {
  /** stderr (and, for the `run` ABI, stdout too), cut at `maxLogBytes`. */
  log: Uint8Array;
  /** Fuel the job used: a function of the module, its input and its limits only. */
  fuelUsed: number;
}

function corrupted(message: string, cause?: unknown): JobError {
  return new JobError('E_CORRUPTED_ARTIFACT', message, { cause });
}

interface LoadedModule {
  module: WebAssembly.Module;
  maxPages: number | undefined;
  /** The memory the module imports (`memoryAsImport`), `undefined` for a module without one. */
  memory: MemoryShape | undefined;
  /** The WASI functions the module imports: the only ones a job builds. */
  wasiImports: string[];
}

/** The memory this thread's last job ended with, zeroed and given to the next job of its shape. */
export const jobMemory = new JobMemory();

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
async function loadModuleCached(artifact: Uint8Array, maxPages: number, compiling?: () => void): Promise<LoadedModule> {
  if (lastLoaded && lastLoaded.maxPages === maxPages && sameBytes(lastLoaded.artifact, artifact)) return lastLoaded.loaded;
  const loaded = await loadModule(artifact, maxPages, compiling);
  // A copy: the caller's buffer is theirs to change after the job.
  lastLoaded = { artifact: new Uint8Array(artifact), maxPages, loaded };
  return loaded;
}

/**
 * Loads a primed spare's module ahead of its job (`MessageType.Prime`): the job that names the
 * same artifact bytes under the same limit then finds it compiled (`loadModuleCached`). Only an
 * artifact of at most SYNC_COMPILE_BYTES, whose module this thread compiles synchronously.
 * Throws what loading it throws (a corrupted artifact): the job then meets the same.
 */
export async function preloadModule(artifact: Uint8Array, maxPages: number): Promise<void> {
  if (artifact.byteLength <= SYNC_COMPILE_BYTES) await loadModuleCached(artifact, maxPages);
}

/** The module inside an artifact, clamped to the execute memory limit and compiled. */
async function loadModule(artifact: Uint8Array, maxPages: number, compiling?: () => void): Promise<LoadedModule> {
  let bytes: Uint8Array;
  try {
    bytes = decodeArtifact(artifact).module;
  } catch (error) {
    if (error instanceof ArtifactFormatError) throw corrupted(error.message, error);
    throw error;
  }
  let memory;
  try {
    // The job's memory is given to the module rather than made by it, so that it can be reused.
    ({ bytes, memory } = memoryAsImport(bytes, maxPages));
  } catch (error) {
    // The checksum held, yet the module does not parse: only a prepare bug or an old format does that.
    throw corrupted(`artifact module does not parse: ${(error as Error).message}`, error);
  }
  if (memory !== undefined && memory.initial > maxPages) {
    throw new JobError('E_OUT_OF_MEMORY', `memory starts with ${memory.initial} pages, more than ${maxPages} pages (maxMemoryPages)`);
  }
  try {
    let module: WebAssembly.Module;
    if (bytes.byteLength <= SYNC_COMPILE_BYTES) module = new WebAssembly.Module(bytes);
    else {
      const compiled = WebAssembly.compile(bytes);
      compiling?.();
      module = await compiled;
    }
    const wasiImports = WebAssembly.Module.imports(module).flatMap((entry) => (entry.module === WASI_MODULE && entry.kind === 'function' ? [entry.name] : []));
    return { module, maxPages: memory?.maximum, memory, wasiImports };
  } catch (error) {
    throw corrupted(`artifact module does not compile: ${(error as Error).message}`, error);
  }
}

/** What a job's WASI world gets beyond its input, and how its CPU time is read. */
export interface ExecuteOptions {
  /** argv, argv[0] included. Default `["main"]`. */
  args?: readonly string[];
  /** `NAME=value` strings. Default none. */
  env?: readonly string[];
  /** The files the job's directory starts with (names checked by the caller). */
  files?: readonly (readonly [string, Uint8Array])[];
  /**
   * Called once the module is compiled, just before the job's own execution starts. It may
   * return the reading of `cpuNs` it took there: the job's CPU-time clocks count from it
   * (else `cpuNs` is read once more for them).
   */
  started?: () => bigint | undefined;
  /**
   * Called when the module's compile has gone to V8's background threads (a module above
   * SYNC_COMPILE_BYTES that this thread did not compile last): the caller's watch of the
   * compile starts there. A module compiled before, or a small one, does not call it.
   */
  compiling?: () => void;
  /** CPU time of this thread, ns (the job's CPU-time clocks). Default: the process's. */
  cpuNs?: () => bigint;
  /** The job's fuel, at most `limits.maxFuel`. Default `limits.maxFuel`. */
  fuel?: number;
  /** Memory the output sink starts in (a pooled buffer); the output may be a view of it. */
  outputStore?: ArrayBuffer;
  /**
   * Runs the job once its module is compiled (instantiation, the run, collecting what it wrote:
   * all synchronous) and returns what `run` returns, or throws: the caller's bound on it
   * (`inlineRunner.ts` stops it past its CPU or wall-clock limit). Default: `run()`.
   */
  guard?: (run: () => ExecuteResult) => ExecuteResult;
}


/**
 * Runs a prepared module on an input under one of the two ABIs and returns what it wrote. Every
 * failure caused by the artifact, the module or its input is a thrown `JobError`; one that happens
 * while the module runs carries what it had produced (`error.partial`).
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
export async function execute(artifact: Uint8Array, input: Uint8Array, abi: Abi, limits: ExecuteLimits, options: ExecuteOptions = {}): Promise<ExecuteResult> {
  if (input.byteLength > limits.maxInputBytes) {
    throw new JobError('E_TRAP', `input too large: ${input.byteLength} bytes, more than ${limits.maxInputBytes} bytes (maxInputBytes)`);
  }
  const loaded = await loadModuleCached(artifact, limits.maxMemoryPages, options.compiling);
  const cpuStartNs = options.started?.();
  const run = (): ExecuteResult => runLoaded(loaded, input, abi, limits, options, cpuStartNs);
  return options.guard ? options.guard(run) : run();
}

/** The job itself, once its module is compiled: all of it synchronous, so that a guard can bound it whole. */
function runLoaded(loaded: LoadedModule, input: Uint8Array, abi: Abi, limits: ExecuteLimits, options: ExecuteOptions, cpuStartNs: bigint | undefined): ExecuteResult {
  const { module, maxPages, memory: shape, wasiImports } = loaded;
  const log = new LogSink(limits.maxLogBytes);
  const output = new OutputSink(limits.maxOutputBytes, abi === 'wasi' ? options.outputStore : undefined);
  const meter = new Meter(options.fuel ?? limits.maxFuel, limits.maxStackHeight);
  const shim = newShim(abi, input, output, log, limits, options, meter, cpuStartNs);
  const state: MemoryState = { memory: undefined, maxPages };
  let result: Uint8Array | undefined;
  let failure: unknown;
  let given: WebAssembly.Memory | undefined;
  try {
    // Inside the try: a memory V8 cannot reserve is the job's E_OUT_OF_MEMORY (classifyError).
    given = shape && jobMemory.take(shape);
    const instance = instantiate(module, meter.meterImports(shim.imports(wasiImports)), given);
    meter.attach(instance.exports);
    const memory = instance.exports.memory;
    state.memory = memory instanceof WebAssembly.Memory ? memory : undefined;
    shim.memory.attach(state.memory);
    meter.start(instance.exports);
    result = abi === 'run' ? callRun(instance, input, limits.maxOutputBytes, meter, options.outputStore) : callStart(instance, output);
    // A wasm catch_all catches what an import throws: a module may catch the host's out-of-fuel
    // error or its own proc_exit and return. Out of fuel is still out of fuel, and an exit is
    // still the exit it asked for (every WASI call after it throws again, `WasiShim.exitCode`).
    meter.check();
    if (shim.fatal !== undefined) throw shim.fatal;
    if (shim.exitCode !== undefined) throw new ProcExit(shim.exitCode);
  } catch (error) {
    // The process ended at its first proc_exit: a trap in what the module ran after catching it
    // changes nothing. Running out of fuel does: the job was stopped for it.
    // So is a job error a WASI call threw first (output too large): whatever the module did after
    // catching it (a trap, a loop out of fuel) happened after the job's end.
    const classified = error instanceof ProcExit ? error : (shim.fatal ?? classifyError(error, state, meter));
    const exitCode = shim.exitCode ?? (error instanceof ProcExit ? error.exitCode : undefined);
    if (exitCode !== undefined && (classified instanceof ProcExit || classified instanceof JobError) && !meter.outOfFuel) {
      try {
        result = exited(new ProcExit(exitCode), abi, output, state);
      } catch (exitError) {
        failure = exitError;
      }
    } else {
      failure = classified;
    }
  }
  const ended = {
    output: result ?? (abi === 'wasi' ? output.contents() : new Uint8Array(0)),
    log: log.contents(),
    logTruncated: log.truncated,
    files: shim.fs.changedFiles(),
    memoryPages: state.memory === undefined ? undefined : state.memory.buffer.byteLength / WASM_PAGE_BYTES,
    maxMemoryPages: maxPages ?? limits.maxMemoryPages,
  };
  // Nothing above refers to the memory: the output, log and files are copies.
  if (given !== undefined && shape !== undefined) jobMemory.giveBack(given, shape);
  if (failure === undefined) return { ...ended, fuelUsed: meter.fuelUsed() };
  if (failure instanceof JobError) {
    failure.partial = ended;
    if (failure.code !== 'E_CORRUPTED_ARTIFACT') failure.fuelUsed = meter.fuelUsed();
  }
  throw failure;
}

/** The job's WASI world: stdio (the `run` ABI's stdout is diagnostics, so it goes to the log), argv, environment, files; the bytes its calls move are charged to the job's fuel. */
function newShim(abi: Abi, input: Uint8Array, output: OutputSink, log: LogSink, limits: ExecuteLimits, options: ExecuteOptions, meter: Meter, cpuStartNs: bigint | undefined): WasiShim {
  try {
    return new WasiShim({
      stdin: abi === 'wasi' ? input : new Uint8Array(0),
      stdout: abi === 'wasi' ? output : log,
      stderr: log,
      args: options.args ?? DEFAULT_ARGS,
      env: options.env ?? [],
      files: options.files ?? [],
      fsLimits: limits,
      cpuNs: options.cpuNs ?? processCpuNs,
      ...(cpuStartNs === undefined ? {} : { cpuStartNs }),
      charge: (bytes) => meter.chargeBytes(bytes),
      chargeItems: (items) => meter.chargeItems(items),
    });
  } catch (error) {
    // The host checks the files against the same limits before it sends them.
    if (error instanceof FsError) throw new JobError('E_TRAP', `the job's files do not fit its directory (errno ${error.errno})`, { cause: error });
    throw error;
  }
}

/**
 * Instantiates the module against its WASI imports (each charged its call, `Meter.meterImports`) and its memory.
 * The instrumenter turned the start function into an export (`Meter.start` runs it metered), so
 * nothing of the module runs here. Prepare has linked every artifact against these imports, so a
 * link failure here means an artifact prepared otherwise: it is the module's failure (E_TRAP,
 * deterministic), with V8's message and no stack.
 */
function instantiate(module: WebAssembly.Module, wasi: WebAssembly.ModuleImports, memory: WebAssembly.Memory | undefined): WebAssembly.Instance {
  const imports: WebAssembly.Imports = { [WASI_MODULE]: wasi };
  if (memory !== undefined) imports[MEMORY_IMPORT.module] = { [MEMORY_IMPORT.name]: memory };
  try {
    return new WebAssembly.Instance(module, imports);
  } catch (error) {
    // A TypeError is V8 finding an import module that is not an object: a link failure too.
    if (error instanceof WebAssembly.LinkError || error instanceof TypeError) {
      throw new JobError('E_TRAP', `the module does not link against the ${WASI_MODULE} imports: ${error.message}`);
    }
    throw error;
  }
}

function callRun(instance: WebAssembly.Instance, input: Uint8Array, maxOutputBytes: number, meter: Meter, store: ArrayBuffer | undefined): Uint8Array {
  const abi = runExports(instance.exports);
  // Placing the input and copying the output out are host work by the byte, as for WASI calls.
  const ptr = placeInput(abi, input, (bytes) => meter.chargeBytes(bytes));
  return readOutput(abi, abi.run(ptr, input.byteLength), maxOutputBytes, (bytes) => meter.chargeBytes(bytes), store);
}

function callStart(instance: WebAssembly.Instance, output: OutputSink): Uint8Array {
  const start = instance.exports._start;
  if (typeof start !== 'function') throw new JobError('E_TRAP', 'wasi ABI: the module does not export a function `_start`');
  start();
  return output.contents();
}

/** `proc_exit(0)` ends a WASI command successfully; any other code is E_EXIT, saying so when memory ran out first. */
function exited(exit: ProcExit, abi: Abi, output: OutputSink, state: MemoryState): Uint8Array {
  if (abi === 'run') throw new JobError('E_TRAP', `run ABI: the module called proc_exit(${exit.exitCode}) instead of returning from run`);
  if (exit.exitCode === 0) return output.contents();
  const memory = memoryNote(state);
  throw new JobError('E_EXIT', `the module exited with code ${exit.exitCode}${memory}`, { exitCode: exit.exitCode });
}

/** `; its memory was at its maximum ...` when the module's memory had (nearly) reached its limit. */
function memoryNote(state: MemoryState): string {
  if (!nearMaximum(state)) return '';
  const pages = state.memory!.buffer.byteLength / WASM_PAGE_BYTES;
  const mib = (pages * WASM_PAGE_BYTES) / (1 << 20);
  return ` with its memory at ${pages} of its maximum of ${state.maxPages} pages (${mib} MiB): an allocation has probably failed (limits.maxMemoryPages)`;
}
