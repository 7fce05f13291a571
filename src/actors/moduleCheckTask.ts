/**
 * The host's check of a prepare worker's artifact, run on a thread of the host's check pool
 * (`moduleCheck.ts`, piscina) so that its work, linear in the size of the code but up to tens of
 * MiB, never runs on the event loop. Plain data in and out: the verdict crosses a thread.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { ArtifactFormatError, decodeArtifact } from '../shared/artifact.js';
import { deriveModule } from '../shared/derive.js';
import { JobError } from '../shared/jobError.js';
import type { PrepareLimits } from '../shared/limits.js';

export interface ModuleCheckTask {
  /** The code as submitted (a copy: the caller keeps its own). */
  code: Uint8Array;
  limits: PrepareLimits;
  paramsHash: string;
  /** What the worker left in its `tmp-artifact`, read by the host (moved here, and back when accepted). */
  artifact: Uint8Array;
}

/** Why a worker's artifact was refused: its format, its params, or its module not being the code's. */
export type ModuleCheckRefusal = 'bad-format' | 'params-mismatch' | 'not-derived-from-code';

export type ModuleCheckVerdict =
  | { ok: true; artifact: Uint8Array; exports: string[] }
  | { ok: false; reason: ModuleCheckRefusal; message: string };

/**
 * Accepts the worker's artifact only if it is, byte for byte, the artifact of the module derived
 * from the code (`deriveModule`, the same pipeline the worker ran, minus V8). The export names come
 * from the host's own derivation, never from the worker.
 */
export function checkArtifact(task: ModuleCheckTask): ModuleCheckVerdict {
  let decoded;
  try {
    decoded = decodeArtifact(task.artifact);
  } catch (error) {
    if (error instanceof ArtifactFormatError) return { ok: false, reason: 'bad-format', message: error.message };
    throw error;
  }
  if (decoded.paramsHash !== task.paramsHash) {
    return { ok: false, reason: 'params-mismatch', message: `prepared under params ${decoded.paramsHash}, expected ${task.paramsHash}` };
  }
  let derived;
  try {
    derived = deriveModule(task.code, task.limits);
  } catch (error) {
    if (!(error instanceof JobError)) throw error;
    // The worker said the code prepares; the derivation says it does not.
    return { ok: false, reason: 'not-derived-from-code', message: `the code does not prepare (${error.code}: ${error.message})` };
  }
  const expected = Buffer.from(derived.module.buffer, derived.module.byteOffset, derived.module.byteLength);
  if (!expected.equals(decoded.module)) {
    return { ok: false, reason: 'not-derived-from-code', message: 'its module is not the one derived from the code' };
  }
  return { ok: true, artifact: task.artifact, exports: derived.facts.exports.map((e) => e.name) };
}

/** The thread's entry (piscina's default export): the verdict, with an accepted artifact moved back rather than copied. */
export default function run(task: ModuleCheckTask): ModuleCheckVerdict {
  const verdict = checkArtifact(task);
  if (!verdict.ok || !movable(verdict.artifact)) return verdict;
  // piscina moves what a result names under its transferable symbol, and hands on its value.
  return move({ [transferableSymbol]: verdict.artifact.buffer, [valueSymbol]: verdict }) as unknown as ModuleCheckVerdict;
}

/** A view that can be moved without taking bytes of anything else with it: it spans its whole buffer, or its buffer is no pool's. */
export function movable(view: Uint8Array): boolean {
  return view.buffer instanceof ArrayBuffer && view.byteLength > Buffer.poolSize;
}
