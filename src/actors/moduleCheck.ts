import os from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import { CacheIoError } from '../errors.js';
import { packagePaths } from '../sandbox/paths.js';
import type { ModuleCheckTask, ModuleCheckVerdict } from './moduleCheckTask.js';
import { movable } from './moduleCheckTask.js';

export interface ModuleCheckerOptions {
  /** Threads checking at once. Default: 2, or 1 on a single CPU. */
  maxThreads?: number;
  /** An idle thread exits after this long, ms; the next check starts one again. Default: 30 s. */
  idleTimeoutMs?: number;
}

/**
 * The thread entry, always the built one (as the workers run the built bundles): a host run from
 * source (tsx) would otherwise load its TypeScript loader into every thread, fds and all.
 */
const TASK_FILE = path.join(packagePaths.dist, 'actors', 'moduleCheckTask.js');

/**
 * The host's check of prepared artifacts (`moduleCheckTask.ts`), on a small piscina pool of
 * threads: a check does work linear in the size of the code (decompress, walk, rewrite, compare),
 * tens of MiB at most, and none of it may hold up the event loop that serves every other job.
 * Threads start on the first check and leave when idle, so a host that prepares nothing has none.
 *
 * @example
 * const checker = new ModuleChecker();
 * const verdict = await checker.check({ code, limits, paramsHash, artifact });
 * await checker.close();
 */
export class ModuleChecker {
  #pool: Piscina<ModuleCheckTask, ModuleCheckVerdict>;
  #closed = false;

  constructor(options: ModuleCheckerOptions = {}) {
    this.#pool = new Piscina({
      filename: TASK_FILE,
      minThreads: 0,
      maxThreads: options.maxThreads ?? Math.min(2, os.availableParallelism()),
      idleTimeout: options.idleTimeoutMs ?? 30_000,
      // Nothing of the host's command line (a loader, --inspect) is wanted in a check's thread.
      execArgv: [],
    });
  }

  /**
   * The verdict on a worker's artifact. The artifact's bytes move to the check's thread (the
   * caller must not use `task.artifact` again; an accepted one comes back in the verdict); the
   * code is read where it is if it is in a SharedArrayBuffer, else copied. Throws `E_CACHE_IO` when the check cannot run (the host closed, a thread died).
   */
  async check(task: ModuleCheckTask): Promise<ModuleCheckVerdict> {
    if (this.#closed) throw new CacheIoError('artifact cache: cannot check a prepared artifact, the host is closing', { details: { step: 'check' } });
    // Nothing is cloned: postMessage's structured clone of a 30 MiB view held the event loop for
    // most of a second. Code in a SharedArrayBuffer (the host's copy) is shared as it is, other
    // code is copied and moved; the artifact is moved.
    const code = task.code.buffer instanceof SharedArrayBuffer ? task.code : new Uint8Array(task.code);
    const artifact = movable(task.artifact) ? task.artifact : new Uint8Array(task.artifact);
    const transferList = code === task.code ? [artifact.buffer as ArrayBuffer] : [code.buffer as ArrayBuffer, artifact.buffer as ArrayBuffer];
    try {
      return await this.#pool.run({ ...task, code, artifact }, { transferList });
    } catch (cause) {
      throw new CacheIoError(`artifact cache: the check of a prepared artifact did not run: ${(cause as Error)?.message ?? String(cause)}`, {
        cause,
        details: { step: 'check' },
      });
    }
  }

  /** Stops the threads; a check under way fails with E_CACHE_IO. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.destroy();
  }
}
