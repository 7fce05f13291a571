import path from 'node:path';
import { EventEmitter } from 'eventemitter3';
import createDebug from 'debug';
import { ArtifactFormatError } from '../shared/artifact.js';
import { checkCachedArtifact, readWorkerArtifact } from './artifactCacheCheck.js';
import { cacheIoError } from './artifactCacheErrors.js';
import { ensurePrivateDir, FileRefusedError, readRegularFile, unlinkIfPresent, writeFileAtomically } from './artifactCacheFiles.js';
import { KeyLock } from './artifactCacheKeyLock.js';
import { LastUseWriter, type LastUse } from './artifactCacheLastUse.js';
import { artifactKey, assertByteCount, assertKey, assertParamsHash, fileNameOf, paramsPrefixOf } from './artifactCacheKeys.js';
import { scanArtifactsDir } from './artifactCacheScan.js';
import type {
  ArtifactCacheEvents,
  ArtifactCacheOptions,
  ArtifactDeleteReason,
  ArtifactEntry,
  InstallOptions,
  PrunedEntry,
  RemovedOnOpen,
} from './artifactCacheTypes.js';

export { CacheIoError } from './artifactCacheErrors.js';
export type * from './artifactCacheTypes.js';

const debug = createDebug('warden:cache');

/** The artifacts live in this subdir of the cache dir. */
export const ARTIFACTS_DIR = 'artifacts';

interface IndexEntry extends LastUse {
  size: number;
}

/**
 * The prepared artifacts, named by content hash and params hash, with atomic installs, a
 * checksum verified on open and on install, and least-recently-used pruning above a size
 * bound. Pinned entries (hard-linked into running execute jobs) are never pruned.
 *
 * The cache dir must be locked (`CacheLock`) by the caller: one host per cache.
 *
 * @example
 * const cache = await ArtifactCache.open(cacheDir, { maxBytes: 1 << 30 });
 * const key = ArtifactCache.keyFor(code, paramsHash);
 * if (!cache.has(key)) await cache.installFrom(key, tmpArtifactPath, { maxBytes: 64 << 20, expectedParamsHash: paramsHash });
 */
export class ArtifactCache extends EventEmitter<ArtifactCacheEvents> {
  readonly dir: string;
  readonly maxBytes: number;
  /** What `open` removed (temp files of interrupted installs, artifacts that failed verification). */
  readonly removedOnOpen: readonly RemovedOnOpen[];
  #now: () => number;
  #index = new Map<string, IndexEntry>();
  #pins = new Map<string, number>();
  #totalBytes = 0;
  #keyLock = new KeyLock();
  #lastUse = new LastUseWriter();

  private constructor(dir: string, maxBytes: number, now: () => number, removedOnOpen: RemovedOnOpen[]) {
    super();
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.#now = now;
    this.removedOnOpen = removedOnOpen;
  }

  /**
   * Opens (creating, 0700) `<cacheDir>/artifacts/`: removes temp files of interrupted installs,
   * verifies every artifact, removing those that fail, and indexes the rest with their last
   * use from the mtime. Removed artifacts are in `removedOnOpen`, and are also emitted as
   * `artifact:deleted` (`invalid-on-open`) on the next macrotask, so a listener attached right
   * after `await open()` sees them. Open does not prune: call `prune()` once listening.
   */
  static async open(cacheDir: string, options: ArtifactCacheOptions): Promise<ArtifactCache> {
    assertByteCount('maxBytes', options.maxBytes);
    const dir = path.resolve(cacheDir, ARTIFACTS_DIR);
    await ensurePrivateDir(dir);
    // The per-file bound, not the cache's: an artifact larger than the whole cache bound is
    // pruned by age like any other, never deleted as invalid.
    const { artifacts, removed } = await scanArtifactsDir(dir, options.maxArtifactBytes ?? Number.MAX_SAFE_INTEGER);
    const cache = new ArtifactCache(dir, options.maxBytes, options.now ?? Date.now, removed);
    for (const { key, size, lastUsed } of artifacts) cache.#setEntry(key, { size, lastUsed, persisted: lastUsed });
    debug('opened %s: %d artifacts, %d bytes, %d removed', dir, artifacts.length, cache.#totalBytes, removed.length);
    setImmediate(() => {
      for (const { key, name, size } of removed) {
        if (key !== undefined) cache.emit('artifact:deleted', { key, path: path.join(dir, name), size, reason: 'invalid-on-open' });
      }
    });
    return cache;
  }

  /** The cache key of `code` prepared under `paramsHash`: `<sha256(code) hex>-<first 16 hex of paramsHash>`. */
  static keyFor(code: Uint8Array, paramsHash: string): string {
    return artifactKey(code, paramsHash);
  }

  /** Where the artifact of `key` is (or would be) stored. */
  pathOf(key: string): string {
    assertKey(key);
    return path.join(this.dir, fileNameOf(key));
  }

  /** Total size of the cached artifacts in bytes. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  has(key: string): boolean {
    assertKey(key);
    return this.#index.has(key);
  }

  /** The entry for `key`, marked as used now; `undefined` when it is not cached. */
  lookup(key: string): ArtifactEntry | undefined {
    assertKey(key);
    const entry = this.#index.get(key);
    if (entry === undefined) return undefined;
    // Never backwards: a clock stepped back must not make an entry look older than it is.
    entry.lastUsed = Math.max(entry.lastUsed, this.#now());
    this.#lastUse.record(this.pathOf(key), entry);
    return this.#snapshot(key, entry);
  }

  /** Every entry, least recently used first. */
  list(): ArtifactEntry[] {
    return [...this.#index]
      .sort(([, a], [, b]) => a.lastUsed - b.lastUsed)
      .map(([key, entry]) => this.#snapshot(key, entry));
  }

  /**
   * Marks `key` as in use by a running execute job; pair every `pin` with one `unpin`.
   * Returns `false` (and pins nothing) when `key` is not cached.
   */
  pin(key: string): boolean {
    if (!this.has(key)) return false;
    this.#pins.set(key, (this.#pins.get(key) ?? 0) + 1);
    return true;
  }

  unpin(key: string): void {
    assertKey(key);
    const count = this.#pins.get(key);
    if (count === undefined) throw new Error(`unpin(${key}) without a matching pin`);
    if (count > 1) this.#pins.set(key, count - 1);
    else this.#pins.delete(key);
  }

  /**
   * Installs what a prepare worker left at `sourcePath` (its `tmp-artifact`) as the artifact
   * of `key`, then prunes above the size bound (never the entry just installed).
   *
   * The worker is untrusted: the file is opened without following symlinks or blocking on a
   * FIFO, must be a regular file of at most `maxBytes`, and must decode with the expected
   * params hash. Its bytes are then *copied*: renaming or linking the worker's file would let
   * a worker that kept an fd on it rewrite the cached artifact later.
   *
   * Throws `E_PREPARATION` (`details.reason`: `missing`, `symlink`, `not-regular-file`,
   * `unreadable`, `too-large`, `bad-format` or `params-mismatch`) when the file is not a valid
   * artifact, and `E_CACHE_IO` when the cache cannot read or write (disk full, EIO).
   */
  async installFrom(key: string, sourcePath: string, options: InstallOptions): Promise<ArtifactEntry> {
    assertKey(key);
    assertByteCount('maxBytes', options.maxBytes);
    assertParamsHash(options.expectedParamsHash);
    if (paramsPrefixOf(key) !== options.expectedParamsHash.slice(0, 16)) {
      throw new TypeError(`artifact key ${key} is not for params hash ${options.expectedParamsHash}`);
    }
    return this.installVerified(key, await readWorkerArtifact(key, sourcePath, options));
  }

  /**
   * Installs `bytes` as the artifact of `key`, then prunes above the size bound (never the entry
   * just installed). The caller has verified them: their format and checksum, and the params hash
   * `key` names (`checkCachedArtifact`); the host's prepare check does it on a thread of its own.
   * Throws `E_CACHE_IO` when the cache cannot write.
   */
  async installVerified(key: string, bytes: Uint8Array): Promise<ArtifactEntry> {
    assertKey(key);
    const installed = await this.#keyLock.run(key, async () => {
      const now = this.#now();
      await writeFileAtomically(this.dir, fileNameOf(key), bytes, new Date(now));
      const entry: IndexEntry = { size: bytes.length, lastUsed: now, persisted: now };
      this.#setEntry(key, entry);
      const snapshot = this.#snapshot(key, entry);
      debug('installed %s (%d bytes)', key, bytes.length);
      this.emit('artifact:installed', snapshot);
      return snapshot;
    });
    if (this.#totalBytes > this.maxBytes) {
      // The install succeeded; a failing prune must not turn it into an error.
      await this.#prune(this.maxBytes, key).catch((error: unknown) => debug('prune after install failed: %o', error));
    }
    return installed;
  }

  /**
   * Removes the artifact of `key` (file and entry), even if pinned: used when an execute
   * worker reports `E_CORRUPTED_ARTIFACT` (running jobs keep their hard link). Returns
   * whether it was cached.
   */
  async delete(key: string, reason: ArtifactDeleteReason): Promise<boolean> {
    assertKey(key);
    return this.#keyLock.run(key, async () => {
      const entry = this.#index.get(key);
      if (entry === undefined) {
        await unlinkIfPresent(this.pathOf(key), 'delete');
        return false;
      }
      await this.#remove(key, entry, reason);
      return true;
    });
  }

  /**
   * Re-reads the artifact of `key` and checks it; a bad one is deleted (`corrupted`).
   * Returns `false` when it is not (or no longer) cached. Throws `E_CACHE_IO` when it cannot
   * be read for a reason that says nothing about its content (EIO, EMFILE...).
   */
  async verify(key: string): Promise<boolean> {
    assertKey(key);
    return this.#keyLock.run(key, async () => {
      const entry = this.#index.get(key);
      if (entry === undefined) return false;
      try {
        checkCachedArtifact(key, (await readRegularFile(this.pathOf(key), entry.size)).bytes);
        return true;
      } catch (error) {
        if (!(error instanceof FileRefusedError || error instanceof ArtifactFormatError)) throw cacheIoError('verify', this.pathOf(key), error);
        debug('verify %s failed: %s', key, error.message);
        await this.#remove(key, entry, 'corrupted');
        return false;
      }
    });
  }

  /** Removes least recently used unpinned entries until the total is at most `maxBytes`. */
  async prune(maxBytes: number = this.maxBytes): Promise<PrunedEntry[]> {
    assertByteCount('maxBytes', maxBytes, true);
    return this.#prune(maxBytes, undefined);
  }

  /** Removes every artifact, pinned ones included (`cleared`). */
  async clear(): Promise<void> {
    await Promise.all([...this.#index.keys()].map((key) => this.delete(key, 'cleared')));
  }

  /** Waits for pending last-use writes (call before closing, and in tests). */
  async flush(): Promise<void> {
    await this.#lastUse.flush();
  }

  async #prune(maxBytes: number, keep: string | undefined): Promise<PrunedEntry[]> {
    const pruned: PrunedEntry[] = [];
    const candidates = [...this.#index].filter(([key]) => key !== keep && !this.#pins.has(key)).sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [key, candidate] of candidates) {
      if (this.#totalBytes <= maxBytes) break;
      await this.#keyLock.run(key, async () => {
        // Things may have changed while waiting for the key: re-check before removing.
        if (this.#index.get(key) !== candidate || this.#pins.has(key) || this.#totalBytes <= maxBytes) return;
        await this.#remove(key, candidate, 'pruned');
        pruned.push({ key, size: candidate.size, lastUsed: new Date(candidate.lastUsed) });
      });
    }
    return pruned;
  }

  /** Drops the entry first, so nothing hands out a path being removed, then the file. */
  async #remove(key: string, entry: IndexEntry, reason: ArtifactDeleteReason): Promise<void> {
    this.#index.delete(key);
    this.#totalBytes -= entry.size;
    const file = this.pathOf(key);
    await unlinkIfPresent(file, `delete (${reason})`);
    debug('deleted %s (%s)', key, reason);
    if (reason === 'pruned') this.emit('artifact:pruned', { key, size: entry.size, lastUsed: new Date(entry.lastUsed) });
    this.emit('artifact:deleted', { key, path: file, size: entry.size, reason });
  }

  #setEntry(key: string, entry: IndexEntry): void {
    this.#totalBytes += entry.size - (this.#index.get(key)?.size ?? 0);
    this.#index.set(key, entry);
  }

  #snapshot(key: string, entry: IndexEntry): ArtifactEntry {
    return { key, path: this.pathOf(key), size: entry.size, lastUsed: new Date(entry.lastUsed), pinned: this.#pins.get(key) ?? 0 };
  }
}
