import fsp from 'node:fs/promises';
import createDebug from 'debug';
import { errnoOf } from './artifactCacheErrors.js';

const debug = createDebug('warden:cache');

/** Last use is written to the file's mtime at most this often per entry: not one write per job. */
export const PERSIST_LAST_USE_MS = 1000;

/** What the writer needs of an index entry. */
export interface LastUse {
  /** In-memory last use (ms since the epoch): exact. */
  lastUsed: number;
  /** The last use last written to the mtime (or read from it at open). */
  persisted: number;
  /** The latest pending mtime write of this entry. */
  writing?: Promise<void>;
}

/**
 * Keeps the last use of each artifact in its file's mtime, so LRU order survives a restart,
 * without a write per job: at most one `utimes` per entry per second, in the background. The
 * mtime may thus lag the true last use by up to a second.
 */
export class LastUseWriter {
  #pending = new Set<Promise<void>>();

  /** Writes `entry.lastUsed` to `file`'s mtime if the one on disk is a second old or more. */
  record(file: string, entry: LastUse): void {
    if (entry.lastUsed - entry.persisted < PERSIST_LAST_USE_MS) return;
    entry.persisted = entry.lastUsed;
    // Chained per entry, each writing the newest time when it starts: two writes in flight
    // on the thread pool could otherwise land out of order and leave the older time on disk.
    const write = (entry.writing ?? Promise.resolve())
      .then(() => fsp.utimes(file, new Date(entry.persisted), new Date(entry.persisted)))
      .catch((error: unknown) => {
        // Gone meanwhile (pruned, deleted): nothing to record.
        if (errnoOf(error) !== 'ENOENT') debug('cannot record last use of %s: %o', file, error);
      });
    entry.writing = write;
    this.#pending.add(write);
    void write.finally(() => this.#pending.delete(write));
  }

  /** Waits until every write started so far has settled. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }
}
