import { PreparationError } from '../errors.js';
import { ArtifactFormatError, decodeArtifact } from '../shared/artifact.js';
import { cacheIoError } from './artifactCacheErrors.js';
import { FileRefusedError, readRegularFile } from './artifactCacheFiles.js';
import { paramsPrefixOf } from './artifactCacheKeys.js';
import type { InstallOptions } from './artifactCacheTypes.js';

/**
 * Checks a cached artifact's bytes: format and checksum (`decodeArtifact`), and that its
 * params hash is the one its key names, so a file under the wrong name is caught too.
 * Throws `ArtifactFormatError`.
 */
export function checkCachedArtifact(key: string, bytes: Uint8Array): void {
  const { paramsHash } = decodeArtifact(bytes);
  if (!paramsHash.startsWith(paramsPrefixOf(key))) {
    throw new ArtifactFormatError(`artifact params hash ${paramsHash} does not match its key ${key}`);
  }
}

/**
 * Reads and checks what a prepare worker left in its `tmp-artifact`, returning the verified
 * bytes (the caller copies these, never the file).
 *
 * A bad output is blamed on the job, so it is `E_PREPARATION` (deterministic) with
 * `details.reason`: an honest worker always writes a valid artifact, so a bad one means the
 * code broke the worker. I/O failures of the host are `E_CACHE_IO` instead.
 */
export async function readWorkerArtifact(key: string, sourcePath: string, options: InstallOptions): Promise<Buffer> {
  const refuse = (reason: string, message: string, cause?: unknown): PreparationError => workerArtifactRefused(key, sourcePath, reason, message, { cause });
  const bytes = await readWorkerFile(key, sourcePath, options.maxBytes);
  let paramsHash: string;
  let module: Uint8Array;
  try {
    ({ paramsHash, module } = decodeArtifact(bytes));
  } catch (error) {
    if (error instanceof ArtifactFormatError) throw refuse('bad-format', error.message, error);
    throw error;
  }
  if (paramsHash !== options.expectedParamsHash) {
    throw refuse('params-mismatch', `prepared under params ${paramsHash}, expected ${options.expectedParamsHash}`);
  }
  try {
    options.inspect?.(module);
  } catch (error) {
    throw refuse('bad-module', (error as Error).message, error);
  }
  return bytes;
}

/** The error of a prepare worker's artifact the host refused (`details.reason` says why). */
export function workerArtifactRefused(
  key: string,
  sourcePath: string,
  reason: string,
  message: string,
  { cause, details = {} }: { cause?: unknown; details?: Record<string, unknown> } = {},
): PreparationError {
  return new PreparationError(`prepare worker output for ${key} refused: ${message}`, { cause, details: { reason, key, path: sourcePath, ...details } });
}

/**
 * Reads a prepare worker's `tmp-artifact` as an untrusted file (no symlink, a regular file, at most
 * `maxBytes`), without looking at its content. Refusals are `E_PREPARATION` as in
 * `readWorkerArtifact`; I/O failures of the host are `E_CACHE_IO`.
 */
export async function readWorkerFile(key: string, sourcePath: string, maxBytes: number): Promise<Buffer> {
  try {
    return (await readRegularFile(sourcePath, maxBytes)).bytes;
  } catch (error) {
    if (error instanceof FileRefusedError) throw workerArtifactRefused(key, sourcePath, error.reason, error.message, { cause: error, details: error.details });
    throw cacheIoError('read prepared artifact', sourcePath, error);
  }
}
