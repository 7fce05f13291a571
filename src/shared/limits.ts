/**
 * Limits a job thread enforces on the code and data it is handed. They are plain data: the host
 * sends them once in `WorkerInfo` and they cross into the job thread with every task.
 */

const MiB = 1024 * 1024;

/** Bounds checked while preparing a module; they are part of the parameters hashed into an artifact. */
export interface PrepareLimits {
  /** Size of the submitted code as received (compressed or not). */
  maxCodeBytes: number;
  /** Size of the module after gzip or brotli decompression: beyond it the code is a decompression bomb. */
  maxDecompressedBytes: number;
  /** Linear memory, in 64 KiB pages: the initial size must fit, and the maximum is clamped to it. */
  maxMemoryPages: number;
  /** Elements of any table: the initial size must fit, and the maximum is clamped to it. */
  maxTableElements: number;
  /** Functions, imported and defined. */
  maxFunctions: number;
  /** Size of the artifact written for the host (header plus module). */
  maxArtifactBytes: number;
}

/** Bounds checked while executing a prepared module. */
export interface ExecuteLimits {
  /** Linear memory, in 64 KiB pages; a trap with the memory at this size is reported as out of memory. */
  maxMemoryPages: number;
  maxInputBytes: number;
  /** Bytes returned by `run` or written to stdout. */
  maxOutputBytes: number;
  /** Bytes kept of stderr; more is dropped and the log marked truncated. */
  maxLogBytes: number;
  /**
   * Fuel a job gets when its call names none, and the most a call may name: about one unit per
   * WebAssembly instruction (src/shared/meter/costs.ts). Past it the job fails with E_OUT_OF_FUEL.
   */
  maxFuel: number;
  /**
   * The logical stack, in units of 8 bytes: a call takes its callee's locals, operand stack and a
   * frame header. Past it the job fails with E_STACK_OVERFLOW. At most `maxStackHeightFor(jobStackMb)`.
   */
  maxStackHeight: number;
}

export const DEFAULT_PREPARE_LIMITS: Readonly<PrepareLimits> = Object.freeze({
  maxCodeBytes: 16 * MiB,
  maxDecompressedBytes: 64 * MiB,
  maxMemoryPages: 1024,
  maxTableElements: 100_000,
  maxFunctions: 100_000,
  maxArtifactBytes: 80 * MiB,
});

export const DEFAULT_EXECUTE_LIMITS: Readonly<ExecuteLimits> = Object.freeze({
  maxMemoryPages: 1024,
  maxInputBytes: 16 * MiB,
  maxOutputBytes: 16 * MiB,
  maxLogBytes: 64 * 1024,
  maxFuel: 2_000_000_000,
  maxStackHeight: 262_144,
});

/** Size of a WebAssembly page. */
export const WASM_PAGE_BYTES = 65_536;
