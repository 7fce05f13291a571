/**
 * One-at-a-time sections per key: installs, deletes, verifies and prunes of one artifact
 * never interleave their file and index updates, while different keys run in parallel.
 */
export class KeyLock {
  #tails = new Map<string, Promise<void>>();

  /** Runs `section` once every earlier section for `key` has settled. */
  async run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    try {
      await previous;
      return await section();
    } finally {
      release();
      // The last one out removes the chain, so the map holds only keys in use.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
