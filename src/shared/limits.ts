/**
 * Limits a job thread enforces on the code and data it is handed. They are plain data: the host
 * sends them once in `WorkerInfo` and they cross into the job thread with every task.
 */

const MiB = 1024 * 1024;

/** Bounds checked while preparing a module; they are part of the parameters hashed into an artifact. */
export interface PrepareLimits {
  /** Size of the submitted code as received: the compressed size for gzip or brotli code. */
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
  /** Files and directories the job's directory may hold at once (given, created, left). */
  maxFiles: number;
  /** Bytes of file content the job's directory may hold at once (a file counted once per name). */
  maxFilesBytes: number;
  /** UTF-8 bytes of a path in the job's directory, from its root. */
  maxPathBytes: number;
  /** UTF-8 bytes of argv and the environment together, each string with its NUL (as the job sees them). */
  maxArgsBytes: number;
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
  maxMemoryPages: 4096,
  maxTableElements: 100_000,
  maxFunctions: 100_000,
  maxArtifactBytes: 80 * MiB,
});

export const DEFAULT_EXECUTE_LIMITS: Readonly<ExecuteLimits> = Object.freeze({
  // 256 MiB: real programs (compilers, databases, synthesis) need far more than 64 MiB, and
  // memory is only committed as the module grows it. Not more by default: past 64 MiB each
  // memory.grow costs V8 a full GC, so growth page by page slows down quadratically and cannot
  // be terminated until it stops (docs/api.md, "maxMemoryPages").
  maxMemoryPages: 4096,
  maxInputBytes: 16 * MiB,
  maxOutputBytes: 16 * MiB,
  maxLogBytes: 64 * 1024,
  maxFiles: 1000,
  maxFilesBytes: 16 * MiB,
  maxPathBytes: 4096,
  maxArgsBytes: 256 * 1024,
  maxFuel: 2_000_000_000,
  maxStackHeight: 262_144,
});

/** Size of a WebAssembly page. */
export const WASM_PAGE_BYTES = 65_536;

/** Why code is refused for its size: the limit counts it as submitted, and compressed code is accepted. */
export function codeTooLargeMessage(bytes: number, limits: Pick<PrepareLimits, 'maxCodeBytes' | 'maxDecompressedBytes'>): string {
  return (
    `code of ${bytes} bytes exceeds maxCodeBytes (${limits.maxCodeBytes}), which counts the code as submitted: ` +
    `gzip or brotli compressed code is accepted and counted compressed (it may decompress to maxDecompressedBytes, ${limits.maxDecompressedBytes})`
  );
}

/**
 * Modules up to this size compile synchronously on the calling thread: V8 validates them there
 * and compiles each function on its first call, where the asynchronous compile hands the work to
 * its background threads and wakes this one when it is done, several thread switches that cost
 * a small module more than its compile (in a fresh one-job process, ~0.4 ms of a job's ~3 ms).
 * Bounded by the size, the synchronous part needs no watch; larger modules compile
 * asynchronously, bounded by compileTimeoutMs (worker/inlineRunner.ts, worker/jobRunner.ts).
 * A spare is primed only with an artifact of at most this size (`MessageType.Prime`).
 */
export const SYNC_COMPILE_BYTES = 64 * 1024;
