import fsp from 'node:fs/promises';
import path from 'node:path';
import createDebug from 'debug';
import { checkCachedArtifact } from './artifactCacheCheck.js';
import { cacheIoError } from './artifactCacheErrors.js';
import { readRegularFile } from './artifactCacheFiles.js';
import { keyOfFileName, TEMP_FILE_PREFIX } from './artifactCacheKeys.js';
import type { RemovedOnOpen } from './artifactCacheTypes.js';

const debug = createDebug('warden:cache');

/** How many artifacts are verified at once on open: enough to overlap I/O and hashing. */
const VERIFY_CONCURRENCY = 4;

/** An artifact that passed verification on open. */
export interface ScannedArtifact {
  key: string;
  size: number;
  /** From the file's mtime, where the cache keeps the last use across restarts. */
  lastUsed: number;
}

/**
 * Reads the artifacts dir at open: removes temp files of interrupted installs and every
 * artifact that fails verification (anything named like an artifact that is not a valid
 * one: a symlink, a dir, a truncated or altered file), and returns the rest. Files with
 * other names are left alone. Throws `E_CACHE_IO` only if the dir cannot be read or a file
 * cannot be removed.
 */
export async function scanArtifactsDir(dir: string, maxBytes: number): Promise<{ artifacts: ScannedArtifact[]; removed: RemovedOnOpen[] }> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (error) {
    throw cacheIoError('read artifacts dir', dir, error);
  }
  const artifacts: ScannedArtifact[] = [];
  const removed: RemovedOnOpen[] = [];
  const remove = async (name: string, kind: RemovedOnOpen['kind'], key: string | undefined, reason: string): Promise<void> => {
    const file = path.join(dir, name);
    const size = await fsp.lstat(file).then((stats) => stats.size, () => 0);
    try {
      // rm never follows symlinks, and takes a dir planted under an artifact's name too.
      await fsp.rm(file, { recursive: true, force: true });
    } catch (error) {
      throw cacheIoError('remove on open', file, error);
    }
    debug('removed %s on open: %s', name, reason);
    removed.push({ name, kind, key, size, reason });
  };
  const verify = async (name: string, key: string): Promise<void> => {
    try {
      const { bytes, stats } = await readRegularFile(path.join(dir, name), maxBytes);
      checkCachedArtifact(key, bytes);
      artifacts.push({ key, size: bytes.length, lastUsed: Math.round(stats.mtimeMs) });
    } catch (error) {
      // Whatever makes an artifact unreadable makes it useless: it is prepared again on demand.
      await remove(name, 'artifact', key, (error as Error).message);
    }
  };
  const pending: Array<() => Promise<void>> = [];
  for (const name of names) {
    const key = keyOfFileName(name);
    if (name.startsWith(TEMP_FILE_PREFIX)) pending.push(() => remove(name, 'temp', undefined, 'left by an interrupted install'));
    else if (key !== undefined) pending.push(() => verify(name, key));
    else debug('ignoring unknown file %s in %s', name, dir);
  }
  const runner = async (): Promise<void> => {
    for (let task = pending.shift(); task !== undefined; task = pending.shift()) await task();
  };
  await Promise.all(Array.from({ length: VERIFY_CONCURRENCY }, runner));
  return { artifacts, removed };
}
