import fs from 'node:fs';
import path from 'node:path';
import { CacheLockedError } from '../errors.js';

const LOCK_FILE = 'warden.lock';

/** The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), to tell a live owner from a reused pid. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function ownerIsAlive(content: string): boolean {
  const [pidText, startTime] = content.trim().split(':');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return startTime !== undefined && startTimeOf(pid) === startTime;
}

/** An exclusive lock on a cache dir, so two hosts never share one. */
export class CacheLock {
  private constructor(readonly file: string, readonly token: string) {}

  /**
   * Takes the lock or throws `E_CACHE_LOCKED` naming the live owner. A lock left by a host
   * that died (its pid gone or reused) is taken over.
   */
  static acquire(cacheDir: string): CacheLock {
    const file = path.join(cacheDir, LOCK_FILE);
    const token = `${process.pid}:${startTimeOf(process.pid) ?? '0'}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, token, { flag: 'wx', mode: 0o600 });
        return new CacheLock(file, token);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let content = '';
      try {
        content = fs.readFileSync(file, 'utf8');
      } catch {
        continue; // removed meanwhile: try again
      }
      if (ownerIsAlive(content)) {
        throw new CacheLockedError(`cache dir ${cacheDir} is in use by another warden host (pid ${content.split(':')[0]})`, {
          details: { cacheDir, owner: content.trim() },
        });
      }
      // Stale: replace it atomically by renaming our own file over it, then check we won.
      const mine = `${file}.${process.pid}`;
      fs.writeFileSync(mine, token, { mode: 0o600 });
      fs.renameSync(mine, file);
      if (fs.readFileSync(file, 'utf8') === token) return new CacheLock(file, token);
    }
    throw new CacheLockedError(`could not take the lock on cache dir ${cacheDir}`, { details: { cacheDir } });
  }

  /** Releases the lock if it is still ours. Idempotent. */
  release(): void {
    try {
      if (fs.readFileSync(this.file, 'utf8') === this.token) fs.unlinkSync(this.file);
    } catch {
      // already gone
    }
  }
}
