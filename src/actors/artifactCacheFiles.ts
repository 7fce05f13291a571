import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import { cacheIoError, errnoOf } from './artifactCacheErrors.js';
import { TEMP_FILE_PREFIX } from './artifactCacheKeys.js';

/** Why a file was refused before its content was looked at. */
export type RefusedReason = 'missing' | 'symlink' | 'not-regular-file' | 'unreadable' | 'too-large';

/** A file that is not a readable regular file within the size bound. @internal */
export class FileRefusedError extends Error {
  override name = 'FileRefusedError';
  constructor(
    message: string,
    readonly reason: RefusedReason,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

// O_NOFOLLOW: a symlink planted in place of the file is refused (ELOOP), never followed.
// O_NONBLOCK: opening a FIFO must not wait for a writer (it would hang a libuv thread, and the
// host with it); on a regular file the flag has no effect.
// O_CLOEXEC is not in fs.constants because libuv sets it on every open on Linux.
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

const REFUSED_ERRNO: Record<string, RefusedReason> = {
  ENOENT: 'missing',
  ENOTDIR: 'missing',
  ELOOP: 'symlink',
  ENXIO: 'not-regular-file', // a unix socket
  ENODEV: 'not-regular-file',
  EACCES: 'unreadable',
  EPERM: 'unreadable',
};

/**
 * Reads a file that someone else may control: never through a symlink, never from anything
 * but a regular file, never more than `maxBytes`. The size is checked on the open fd before
 * reading, and the read stops at `maxBytes + 1` bytes in case the file grows meanwhile.
 *
 * Throws `FileRefusedError` for what the file is; any other error (EIO, EMFILE...) is the fs
 * error itself, for the caller to attribute.
 */
export async function readRegularFile(file: string, maxBytes: number): Promise<{ bytes: Buffer; stats: fs.Stats }> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, READ_FLAGS);
  } catch (error) {
    const reason = REFUSED_ERRNO[errnoOf(error) ?? ''];
    if (reason !== undefined) throw new FileRefusedError(`cannot open ${file}: ${errnoOf(error)}`, reason, { errno: errnoOf(error) });
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new FileRefusedError(`${file} is not a regular file`, 'not-regular-file', { mode: stats.mode & fs.constants.S_IFMT });
    const tooLarge = (size: number): FileRefusedError =>
      new FileRefusedError(`${file} holds ${size} bytes, more than the limit of ${maxBytes}`, 'too-large', { size, maxBytes });
    if (stats.size > maxBytes) throw tooLarge(stats.size);
    // The disk it takes, too: blocks allocated past the size (fallocate's FALLOC_FL_KEEP_SIZE)
    // escape RLIMIT_FSIZE. 1 MiB of slack for filesystem rounding and metadata.
    if (stats.blocks * 512 > maxBytes + 1024 * 1024) {
      throw new FileRefusedError(`${file} has ${stats.blocks * 512} bytes allocated, more than the limit of ${maxBytes}`, 'too-large', {
        size: stats.size,
        allocated: stats.blocks * 512,
        maxBytes,
      });
    }
    // One spare byte, so a read returning 0 there proves the end of the file.
    let buffer = Buffer.allocUnsafe(stats.size + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > maxBytes) throw tooLarge(length);
        const grown = Buffer.allocUnsafe(Math.min(buffer.length * 2, maxBytes + 1));
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw tooLarge(length);
    return { bytes: buffer.subarray(0, length), stats };
  } finally {
    await handle.close();
  }
}

/**
 * Writes `bytes` as `dir/name` so that the name only ever points at a complete, durable file:
 * a new temp file (O_EXCL, 0600) in the same dir, fsync, rename over the name, fsync the dir.
 * Its mtime is set to `mtime` (the cache keeps the last use there). On failure the temp file
 * is removed and `E_CACHE_IO` thrown; a concurrent write of the same name is safe (both
 * renames are atomic, the last one wins).
 */
export async function writeFileAtomically(dir: string, name: string, bytes: Uint8Array, mtime: Date): Promise<void> {
  const temp = path.join(dir, `${TEMP_FILE_PREFIX}${crypto.randomBytes(6).toString('hex')}-${name}`);
  const target = path.join(dir, name);
  let handle: fsp.FileHandle | undefined;
  let step = 'create temp file';
  try {
    handle = await fsp.open(temp, CREATE_FLAGS, 0o600);
    step = 'write temp file';
    await handle.writeFile(bytes);
    step = 'set mtime';
    await handle.utimes(mtime, mtime);
    step = 'fsync temp file';
    await handle.sync();
    step = 'close temp file';
    const closing = handle;
    handle = undefined;
    await closing.close();
    step = 'rename';
    await fsp.rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw cacheIoError(step, step === 'rename' ? target : temp, error);
  }
  try {
    await syncDir(dir);
  } catch (error) {
    // Without the dir fsync the rename may not survive a crash: report the install as failed
    // and take the file back, so what the caller believes matches the disk.
    await fsp.rm(target, { force: true }).catch(() => undefined);
    throw cacheIoError('fsync dir', dir, error);
  }
}

/** fsync on a directory makes the names created, renamed or removed in it durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes a file; one already gone is fine. Other errors are thrown as `E_CACHE_IO`. */
export async function unlinkIfPresent(file: string, step: string): Promise<void> {
  try {
    await fsp.unlink(file);
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw cacheIoError(step, file, error);
  }
}

/** Creates a dir 0700 (tightening an existing one), refusing a symlink or a non-dir. Throws `E_CACHE_IO`. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const stats = await fsp.lstat(dir);
    if (!stats.isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
    if ((stats.mode & 0o777) !== 0o700) await fsp.chmod(dir, 0o700);
  } catch (error) {
    throw cacheIoError('create artifacts dir', dir, error);
  }
}
