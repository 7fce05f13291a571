/**
 * The derivation of a prepared module from submitted code: one pure, deterministic pipeline that
 * the prepare worker runs to build its artifact and the host runs again to check it. An artifact
 * enters the cache only if its module is, byte for byte, what this function derives from the code
 * its key names, so no worker (honest, broken or taken over) can put anything else there.
 *
 * Everything here is plain JavaScript over bytes: the host runs it on untrusted code and never
 * hands those bytes to V8. Each step is bounded and linear in the size of the code.
 */
import { ARTIFACT_HEADER_BYTES, hashParams } from './artifact.js';
import { maybeDecompress } from './decompress.js';
import { METER_VERSION } from './meter/costs.js';
import { instrument } from './meter/instrument.js';
import { JobError } from './jobError.js';
import type { PrepareLimits } from './limits.js';
import { prevalidate, type ModuleFacts } from './prevalidate.js';
import { clampLimits } from './rewrite.js';
import { readSections } from './wasmReader.js';

/**
 * The version of this pipeline, hashed into the preparation parameters (`preparationParams`): an
 * artifact is a function of the code, the limits and the derivation, so a change of what is
 * derived (or refused) must give new cache keys rather than reuse artifacts derived otherwise.
 * 2: strict section layout, names read with their BOM, memory bounds as V8's, links checked.
 * 3: fuel metering and the logical stack limit injected (their own version, `METER_VERSION`, is
 * hashed as well).
 */
export const DERIVATION_VERSION = 3;

/** A derived module and what was learned on the way. */
export interface DerivedModule {
  /** The module as submitted (decompressed): what V8 validates before anything is rewritten. */
  original: Uint8Array;
  /**
   * The module the artifact holds: `original` with its memory and table maxima clamped, then
   * metered (fuel and the logical stack limit injected, `src/shared/meter/`).
   */
  module: Uint8Array;
  facts: ModuleFacts;
}

/** What the caller adds to the pipeline; must not change its result, only refuse. */
export interface DeriveChecks {
  /**
   * Called with the original module once its section layout is known to be sound, before any of
   * its content is read or rewritten. The prepare worker has V8 validate it here; the host, which
   * must not hand untrusted bytes to V8, passes nothing.
   */
  original?(module: Uint8Array): void;
}

/**
 * Derives the module a prepare job stores from `code` under `limits`:
 * 1. decompress (gzip or brotli, bounded by `maxDecompressedBytes`);
 * 2. walk the sections (order, uniqueness, custom section names, a bounded count);
 * 3. `checks.original` (the worker: V8 validates the bytes as submitted);
 * 4. check the content against the limits and the ABI (imports, memory, tables, functions, exports);
 * 5. rewrite the memory and table maxima to the limits;
 * 6. meter: inject fuel and the logical stack limit (`instrument`, a pure function of the bytes);
 * 7. check the artifact's size.
 * Throws `JobError` (E_PREVALIDATION, E_DECOMPRESS, E_PREPARATION) for anything wrong with the code.
 *
 * @example
 * const { module, facts } = deriveModule(code, DEFAULT_PREPARE_LIMITS);
 */
export function deriveModule(code: Uint8Array, limits: PrepareLimits, checks: DeriveChecks = {}): DerivedModule {
  const original = maybeDecompress(code, limits);
  const sections = readSections(original);
  checks.original?.(original);
  const { facts, clamps } = prevalidate(original, sections, limits);
  const module = instrument(clampLimits(original, sections, clamps));
  const artifactBytes = ARTIFACT_HEADER_BYTES + module.byteLength;
  if (artifactBytes > limits.maxArtifactBytes) {
    throw new JobError('E_PREPARATION', `artifact of ${artifactBytes} bytes exceeds ${limits.maxArtifactBytes} bytes (maxArtifactBytes)`);
  }
  return { original, module, facts };
}

/** What an artifact depends on besides the code: the limits, this derivation's version and the metering's. */
export function preparationParams(limits: PrepareLimits): Record<string, unknown> {
  return { ...limits, derivation: DERIVATION_VERSION, meterVersion: METER_VERSION };
}

/** The params hash of artifacts prepared under `limits` (in the artifact, and a prefix of its cache key). */
export function preparationParamsHash(limits: PrepareLimits): string {
  return hashParams(preparationParams(limits));
}
