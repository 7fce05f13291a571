import { ARTIFACT_HEADER_BYTES, encodeArtifact } from '../../shared/artifact.js';
import { maybeDecompress } from './decompress.js';
import { JobError } from '../../shared/jobError.js';
import type { PrepareLimits } from '../../shared/limits.js';
import { instrument } from '../../shared/meter/instrument.js';
import { validateModule, type ModuleFacts } from './validate.js';

export interface PrepareResult {
  /** The artifact to write to `tmp-artifact`. */
  artifact: Buffer;
  /** Size of the validated, clamped and metered module inside the artifact. */
  moduleBytes: number;
  /** Export names, in module order. */
  exports: string[];
  facts: ModuleFacts;
}

/**
 * Turns submitted code into an artifact: decompress (bounded), validate against the limits, inject
 * fuel metering and the logical stack limit, compile once to prove the module compiles, and encode. Throws `JobError` (E_PREVALIDATION, E_DECOMPRESS,
 * E_PREPARATION) for anything wrong with the code.
 *
 * @example
 * const { artifact } = prepare(wasm, DEFAULT_PREPARE_LIMITS, hashParams(DEFAULT_PREPARE_LIMITS));
 */
export function prepare(code: Uint8Array, limits: PrepareLimits, paramsHash: string): PrepareResult {
  const module = maybeDecompress(code, limits);
  const validated = validateModule(module, limits);
  const { facts } = validated;
  if (facts.abis.length === 0) {
    throw new JobError('E_PREVALIDATION', 'module exports neither `_start` (wasi ABI) nor `run` and `memory` (run ABI)');
  }
  // Metering is a pure function of the validated bytes (the host can run it again to check).
  const bytes = instrument(validated.bytes);
  // Checked before compiling: the artifact's size is known now, and compiling is the costly step.
  const artifactBytes = ARTIFACT_HEADER_BYTES + bytes.byteLength;
  if (artifactBytes > limits.maxArtifactBytes) {
    throw new JobError('E_PREPARATION', `artifact of ${artifactBytes} bytes exceeds ${limits.maxArtifactBytes} bytes (maxArtifactBytes)`);
  }
  try {
    new WebAssembly.Module(bytes);
  } catch (error) {
    // Validation passed, so this is V8 refusing to compile (an implementation limit, most likely).
    throw new JobError('E_PREPARATION', `module does not compile: ${(error as Error).message}`, { cause: error });
  }
  return {
    artifact: encodeArtifact(bytes, paramsHash),
    moduleBytes: bytes.byteLength,
    exports: facts.exports.map((e) => e.name),
    facts,
  };
}
