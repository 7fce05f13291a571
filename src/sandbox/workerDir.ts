import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import type { WorkerKind } from '../protocol/messages.js';
import { WorkerDirError } from '../errors.js';
import { WorkerDirFile } from './workerDirFiles.js';

/** Prefix of every worker dir inside the cache dir; anything with it at startup is stale. */
export const WORKER_DIR_PREFIX = 'worker-dir-';

export { WorkerDirFile };

/** Creates `<cache>/worker-dir-<kind>-<random>/` (0700) for a worker about to be spawned. */
export async function createWorkerDir(cacheDir: string, kind: WorkerKind): Promise<string> {
  const dir = path.join(cacheDir, `${WORKER_DIR_PREFIX}${kind}-${crypto.randomBytes(6).toString('hex')}`);
  await fsp.mkdir(dir, { mode: 0o700 });
  if (kind === 'prepare') await createTmpArtifact(dir);
  return dir;
}

/**
 * Prepare workers get `tmp-artifact` created empty by the host, so the worker needs no right
 * to create files: its only writable path is this one file.
 */
async function createTmpArtifact(dir: string): Promise<void> {
  const handle = await fsp.open(path.join(dir, WorkerDirFile.tmpArtifact), fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600);
  await handle.close();
}

/**
 * Execute jobs: copies the cached artifact in as `artifact` (a reflink where the filesystem
 * has them), never a link. A hard link would share the cache file's inode with every worker
 * dir that holds it: its link count tells a worker how many others run that module, and its
 * times when the cache last used it. The copy is made when a worker's artifact changes, not
 * per job: the dir keeps it for the next job of the same artifact.
 */
export async function copyArtifact(dir: string, artifactPath: string): Promise<void> {
  await fsp.copyFile(artifactPath, path.join(dir, WorkerDirFile.artifact), fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
}

/**
 * Empties a worker dir after a job without following links: everything in it is removed,
 * except that a prepare worker's `tmp-artifact` is kept (it is the mount point the worker
 * writes through) and truncated. An entry that is not what the host put there is removed.
 * Throws `WorkerDirError` (code `E_CLEAR_WORKER_DIR`); the caller then kills the worker.
 *
 * `keepArtifactIno` (execute): the `artifact` copy stays for the next job if it is still the
 * file the host put there, a regular file of that inode. Returns whether it stayed.
 */
export async function clearWorkerDir(dir: string, kind: WorkerKind, keepArtifactIno?: number): Promise<boolean> {
  try {
    if (kind === 'execute') return await clearExecuteDir(dir, keepArtifactIno);
    for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
      const entryPath = path.join(dir, entry.name);
      if (entry.name === WorkerDirFile.tmpArtifact && entry.isFile()) {
        await truncateNoFollow(entryPath);
        continue;
      }
      await removeEntry(entryPath);
    }
    // tmp-artifact is bind-mounted into the worker by inode: a new file would not be the one
    // the worker writes, so a missing one means the dir is broken and the worker must go.
    if (kind === 'prepare' && !fs.existsSync(path.join(dir, WorkerDirFile.tmpArtifact))) {
      throw new Error(`${WorkerDirFile.tmpArtifact} is missing or not a regular file`);
    }
    return false;
  } catch (cause) {
    throw new WorkerDirError(`cannot clear worker dir ${dir}: ${(cause as Error).message}`, { cause, details: { dir } });
  }
}

/**
 * The execute dir after a job holds the `artifact` link the host made, nothing else (the worker
 * cannot create files). The hot path: unlink it (or check it is the link to keep) and list the
 * dir at the same time (two syscalls, one wait), and remove whatever else the listing shows, as
 * for any dir.
 */
async function clearExecuteDir(dir: string, keepIno: number | undefined): Promise<boolean> {
  const artifact = path.join(dir, WorkerDirFile.artifact);
  const [names, done] = await Promise.all([
    fsp.readdir(dir),
    keepIno === undefined
      ? fsp.unlink(artifact).then(
          () => true,
          (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
        )
      : fsp.lstat(artifact).then(
          (stats) => stats.isFile() && stats.ino === keepIno,
          () => false,
        ),
  ]);
  for (const name of names) {
    // The listing may have been taken before the unlink: `artifact` is done unless unlink
    // refused it; a link to keep is done if it is still the host's.
    if (name === WorkerDirFile.artifact && done) continue;
    await removeEntry(path.join(dir, name));
  }
  return keepIno !== undefined && done;
}

/** fs.rm never follows symlinks: it removes the link, not its target. */
async function removeEntry(entryPath: string): Promise<void> {
  await fsp.rm(entryPath, { recursive: true, force: true });
}

/** Allocation a file may hold beyond its size before the host calls it foul (filesystem rounding and metadata). */
export const ALLOCATION_SLACK_BYTES = 1024 * 1024;

async function truncateNoFollow(file: string): Promise<void> {
  const handle = await fsp.open(file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error(`${file} is not a regular file`);
    // Blocks allocated past the size (fallocate with FALLOC_FL_KEEP_SIZE) count against the
    // disk but not against RLIMIT_FSIZE: a worker that made them is not given another job.
    if (stats.blocks * 512 > stats.size + ALLOCATION_SLACK_BYTES) {
      throw new Error(`${file} has ${stats.blocks * 512} bytes allocated for ${stats.size} bytes of content`);
    }
    await handle.truncate(0);
  } finally {
    await handle.close();
  }
}

/**
 * Removes a worker dir when its worker is gone. Never throws: a dir that cannot be removed
 * (a mount inside it, EIO) is left for the next startup's purge, and the host carries on.
 * Returns the error, if any, for the caller to report.
 */
export async function removeWorkerDir(dir: string): Promise<Error | undefined> {
  try {
    await fsp.rm(dir, { recursive: true, force: true });
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

/** Removes every `worker-dir-*` left in the cache dir by a host that did not shut down cleanly. */
export async function purgeStaleWorkerDirs(cacheDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await fsp.readdir(cacheDir, { withFileTypes: true })) {
    if (!entry.name.startsWith(WORKER_DIR_PREFIX)) continue;
    // One dir that cannot be removed (a mount inside it) must not stop the host starting.
    if ((await removeWorkerDir(path.join(cacheDir, entry.name))) === undefined) removed.push(entry.name);
  }
  return removed;
}
