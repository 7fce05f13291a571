import fs from 'node:fs';
import path from 'node:path';
import { CacheLockedError } from '../errors.js';
import { loadAddon } from '../shared/addon.js';

const LOCK_FILE = 'warden.lock';

/** How long a lock whose recorded owner is dead may still be held (by that owner's child, before its exec). */
const DEAD_OWNER_WAIT_MS = 2000;

/** What `Atomics.wait` sleeps on between tries. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** The pid the lock file names ('' when unreadable: the message then names no pid). */
function ownerOf(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Whether `pid` names a live process (a reused pid counts as alive: the lock is then refused, as it should be). */
function isAlive(pid: string): boolean {
  if (!/^\d+$/.test(pid)) return true;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

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

  /**
   * Takes the lock or throws `E_CACHE_LOCKED` naming the owner. A lock whose recorded owner is
   * dead is waited for, up to `DEAD_OWNER_WAIT_MS`: a host killed while it started a worker
   * leaves the lock's file description in that child until the child's exec closes it (every
   * fork or vfork copies the fd table, close-on-exec fds included), a few ms on a loaded machine.
   */
  static acquire(cacheDir: string): CacheLock {
    const file = path.join(cacheDir, LOCK_FILE);
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    const addon = loadAddon();
    let result = addon.tryLock(fd);
    const deadline = Date.now() + DEAD_OWNER_WAIT_MS;
    while (result === 'EAGAIN' && !isAlive(ownerOf(file)) && Date.now() < deadline) {
      Atomics.wait(SLEEPER, 0, 0, 10);
      result = addon.tryLock(fd);
    }
    if (result !== 'OK') {
      const owner = ownerOf(file);
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
