import type { Artifact } from '../artifactHandle.js';
import type { Priority } from '../actors/jobQueue.js';
import { AbortedError, WardenError } from '../errors.js';
import type { Host } from '../host.js';
import type { CodeStore } from './codeStore.js';

interface Entry {
  promise: Promise<Artifact>;
  /** Code bytes the entry holds (0 until the code is read). */
  bytes: number;
}

/**
 * A node's code, by hash: read from Redis (or taken inline) and prepared on first sight, then
 * reused. Concurrent first sightings share one read and one prepare. The artifacts live in the
 * host's cache on disk; this map only keeps the code they came from (the host prepares again
 * from it if the cached file is lost), bounded by `maxBytes`, least recently used out first.
 * A module that fails to prepare deterministically is remembered too: the next job with it
 * fails at once instead of preparing it again.
 */
export class PreparedCode {
  #host: Host;
  #store: CodeStore;
  #maxBytes: number;
  #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(host: Host, store: CodeStore, maxBytes: number) {
    this.#host = host;
    this.#store = store;
    this.#maxBytes = maxBytes;
  }

  /** Hashes held now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The artifact of `hash`, and whether this node had it already (false for the call that
   * prepared it). A caller's signal ends its wait, not the shared preparation.
   */
  async artifact(hash: string, inline: Buffer | undefined, options: { priority: Priority; signal?: AbortSignal }): Promise<{ artifact: Artifact; cached: boolean }> {
    let entry = this.#entries.get(hash);
    const seen = entry !== undefined;
    if (entry) {
      // Most recently used last.
      this.#entries.delete(hash);
      this.#entries.set(hash, entry);
    } else {
      entry = { promise: Promise.resolve() as unknown as Promise<Artifact>, bytes: 0 };
      const created = entry;
      created.promise = this.#prepare(hash, inline, options.priority, (bytes) => {
        if (this.#entries.get(hash) !== created) return;
        created.bytes = bytes;
        this.#bytes += bytes;
        this.#evict();
      });
      created.promise.catch((error: unknown) => {
        // A failure about the machine or Redis may not happen again: the next job tries anew.
        const keep = error instanceof WardenError && error.deterministic;
        if (!keep) this.#forget(hash, created);
      });
      this.#entries.set(hash, created);
    }
    const artifact = await abortable(entry.promise, options.signal);
    return { artifact, cached: seen || artifact.cached };
  }

  async #prepare(hash: string, inline: Buffer | undefined, priority: Priority, read: (bytes: number) => void): Promise<Artifact> {
    const code = inline ?? (await this.#store.get(hash));
    read(code.byteLength);
    return this.#host.prepare(code, { priority });
  }

  #forget(hash: string, entry: Entry): void {
    if (this.#entries.get(hash) !== entry) return;
    this.#entries.delete(hash);
    this.#bytes -= entry.bytes;
  }

  #evict(): void {
    for (const [hash, entry] of this.#entries) {
      if (this.#bytes <= this.#maxBytes || this.#entries.size <= 1) return;
      this.#forget(hash, entry);
    }
  }
}

/** `promise`, or `E_ABORTED` as soon as `signal` fires. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new AbortedError('the job was cancelled', { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError('the job was cancelled', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
