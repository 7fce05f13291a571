import { encodeArtifact } from '../../shared/artifact.js';
import { deriveModule } from '../../shared/derive.js';
import { JobError } from '../../shared/jobError.js';
import type { PrepareLimits } from '../../shared/limits.js';
import type { ModuleFacts } from '../../shared/prevalidate.js';
import { checkLinks } from './link.js';

export interface PrepareResult {
  /** The artifact to write to `tmp-artifact`. */
  artifact: Buffer;
  /** Size of the validated, clamped and metered module inside the artifact. */
  moduleBytes: number;
  /** Export names, in module order. */
  exports: string[];
  facts: ModuleFacts;
}

/** V8's verdict on `bytes`; `stage` says which bytes they were, for the message. */
function validateWithV8(bytes: Uint8Array, stage: string): void {
  if (WebAssembly.validate(bytes)) return;
  throw new JobError('E_PREVALIDATION', `invalid WebAssembly module${stage}: ${compileErrorMessage(bytes)}`);
}

/** `WebAssembly.validate` says only yes or no; compiling an invalid module gives V8's reason. */
function compileErrorMessage(bytes: Uint8Array): string {
  try {
    new WebAssembly.Module(bytes);
    return 'rejected by WebAssembly.validate';
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Turns submitted code into an artifact: the derivation the host checks (`deriveModule`), with V8
 * validating the bytes as submitted before anything is rewritten and the derived bytes after, then
 * compiling the module (within `compileTimeoutMs` of CPU time) and linking it against the ABI's
 * imports without running it. Throws `JobError` (E_PREVALIDATION, E_DECOMPRESS, E_PREPARATION,
 * E_TIMEOUT) for anything wrong with the code.
 *
 * @example
 * const { artifact } = prepare(wasm, DEFAULT_PREPARE_LIMITS, hashParams(preparationParams(DEFAULT_PREPARE_LIMITS)));
 */
export function prepare(code: Uint8Array, limits: PrepareLimits, paramsHash: string, compileTimeoutMs = Infinity): PrepareResult {
  const { original, module, facts } = deriveModule(code, limits, { original: (bytes) => validateWithV8(bytes, '') });
  if (module !== original) validateWithV8(module, ' once its limits were rewritten and it was metered');
  // Process-wide CPU: V8 compiles on background threads as well as this one (a prepare worker
  // compiles eagerly, every function, src/worker/main.ts).
  const before = process.cpuUsage();
  checkLinks(module);
  // Each execute compiles the module again before its own CPU budget starts, under this same
  // bound: an artifact that prepared is known to compile within it (on a machine as loaded).
  const { user, system } = process.cpuUsage(before);
  const compileMs = (user + system) / 1000;
  if (compileMs > compileTimeoutMs) {
    throw new JobError('E_TIMEOUT', `compiling the module used ${Math.round(compileMs)} ms of CPU time, more than ${compileTimeoutMs} ms (compileTimeoutMs)`);
  }
  return {
    artifact: encodeArtifact(module, paramsHash),
    moduleBytes: module.byteLength,
    exports: facts.exports.map((e) => e.name),
    facts,
  };
}
