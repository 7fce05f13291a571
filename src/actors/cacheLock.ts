import fs from 'node:fs';
import path from 'node:path';
import { CacheLockedError } from '../errors.js';
import { loadAddon } from '../shared/addon.js';

const LOCK_FILE = 'warden.lock';

/**
 * An exclusive lock on a cache dir, so two hosts never share one: `flock(2)` on
 * `<cache>/warden.lock`, held for the host's lifetime. The kernel drops it when the holder
 * dies however it dies, so a crashed host leaves no stale lock and no takeover race. The
 * file holds the owner's pid, for the error message only.
 */
export class CacheLock {
  #fd: number | undefined;

  private constructor(readonly file: string, fd: number) {
    this.#fd = fd;
  }

  /** Takes the lock or throws `E_CACHE_LOCKED` naming the owner. */
  static acquire(cacheDir: string): CacheLock {
    const file = path.join(cacheDir, LOCK_FILE);
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    const result = loadAddon().tryLock(fd);
    if (result !== 'OK') {
      let owner = '';
      try {
        owner = fs.readFileSync(file, 'utf8').trim();
      } catch {
        // unreadable: the message just names no pid
      }
      fs.closeSync(fd);
      throw new CacheLockedError(
        result === 'EAGAIN'
          ? `cache dir ${cacheDir} is in use by another warden host${owner ? ` (pid ${owner})` : ''}`
          : `could not lock cache dir ${cacheDir}: ${result}`,
        { details: { cacheDir, owner, errno: result } },
      );
    }
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, String(process.pid), 0);
    return new CacheLock(file, fd);
  }

  /** Releases the lock (closing the fd drops the flock). Idempotent. */
  release(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    fs.closeSync(fd);
  }
}
