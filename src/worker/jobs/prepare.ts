import { ARTIFACT_HEADER_BYTES, encodeArtifact } from '../../shared/artifact.js';
import { maybeDecompress } from './decompress.js';
import { JobError } from '../../shared/jobError.js';
import type { PrepareLimits } from '../../shared/limits.js';
import { validateModule, type ModuleFacts } from './validate.js';

export interface PrepareResult {
  /** The artifact to write to `tmp-artifact`. */
  artifact: Buffer;
  /** Size of the validated (possibly rewritten) module inside the artifact. */
  moduleBytes: number;
  /** Export names, in module order. */
  exports: string[];
  facts: ModuleFacts;
}

/**
 * Turns submitted code into an artifact: decompress (bounded), validate against the limits, compile
 * once to prove the module compiles within `compileTimeoutMs` of CPU time, and encode. Throws `JobError` (E_PREVALIDATION, E_DECOMPRESS,
 * E_PREPARATION) for anything wrong with the code.
 *
 * @example
 * const { artifact } = prepare(wasm, DEFAULT_PREPARE_LIMITS, hashParams(DEFAULT_PREPARE_LIMITS));
 */
export function prepare(code: Uint8Array, limits: PrepareLimits, paramsHash: string, compileTimeoutMs = Infinity): PrepareResult {
  const module = maybeDecompress(code, limits);
  const { bytes, facts } = validateModule(module, limits);
  if (facts.abis.length === 0) {
    throw new JobError('E_PREVALIDATION', 'module exports neither `_start` (wasi ABI) nor `run` and `memory` (run ABI)');
  }
  // Checked before compiling: the artifact's size is known now, and compiling is the costly step.
  const artifactBytes = ARTIFACT_HEADER_BYTES + bytes.byteLength;
  if (artifactBytes > limits.maxArtifactBytes) {
    throw new JobError('E_PREPARATION', `artifact of ${artifactBytes} bytes exceeds ${limits.maxArtifactBytes} bytes (maxArtifactBytes)`);
  }
  // Process-wide CPU: V8 compiles on background threads as well as this one.
  const before = process.cpuUsage();
  try {
    new WebAssembly.Module(bytes);
  } catch (error) {
    // Validation passed, so this is V8 refusing to compile (an implementation limit, most likely).
    throw new JobError('E_PREPARATION', `module does not compile: ${(error as Error).message}`, { cause: error });
  }
  // Each execute compiles the module again before its own CPU budget starts, under this same
  // bound: an artifact that prepared is known to compile within it (on a machine as loaded).
  const { user, system } = process.cpuUsage(before);
  const compileMs = (user + system) / 1000;
  if (compileMs > compileTimeoutMs) {
    throw new JobError('E_TIMEOUT', `compiling the module used ${Math.round(compileMs)} ms of CPU time, more than ${compileTimeoutMs} ms (compileTimeoutMs)`);
  }
  return {
    artifact: encodeArtifact(bytes, paramsHash),
    moduleBytes: bytes.byteLength,
    exports: facts.exports.map((e) => e.name),
    facts,
  };
}
