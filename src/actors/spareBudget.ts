import fsp from 'node:fs/promises';

/**
 * Resident memory of an idle sandboxed worker before any is measured, bytes: the documented
 * figure (node's RSS after the handshake with its job thread warmed up, `bench/memory.ts`).
 */
export const IDLE_WORKER_RSS_BYTES = 58 * 1024 * 1024;

/** Measurements kept for the estimate: enough to smooth one odd sample, few enough to follow a change. */
const SAMPLES = 8;

/** VmRSS of a process in bytes, from /proc/<pid>/status; undefined once it is gone. */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * The memory budget of a pool's spares: how many workers (idle, waiting for a job) the pool
 * may keep so that together they stay within `budgetBytes`, from the measured RSS of its
 * workers (the documented idle figure until the first measurement). Never below one worker:
 * a pool without one could run no job at all.
 */
export class SpareBudget {
  readonly #budgetBytes: number;
  readonly #maxWorkers: number;
  #samples: number[] = [];

  /** `budgetBytes` Infinity: no budget, the pool keeps `maxWorkers`. */
  constructor(budgetBytes: number, maxWorkers: number) {
    this.#budgetBytes = budgetBytes;
    this.#maxWorkers = maxWorkers;
  }

  get limited(): boolean {
    return this.#budgetBytes !== Infinity;
  }

  /** The per-worker RSS the budget is divided by, bytes. */
  get estimateBytes(): number {
    if (this.#samples.length === 0) return IDLE_WORKER_RSS_BYTES;
    return this.#samples.reduce((sum, bytes) => sum + bytes, 0) / this.#samples.length;
  }

  /** Workers the pool may keep now: floor(budget / estimate), between 1 and the pool's size. */
  get workers(): number {
    if (!this.limited) return this.#maxWorkers;
    return Math.max(1, Math.min(this.#maxWorkers, Math.floor(this.#budgetBytes / this.estimateBytes)));
  }

  /** Refines the estimate with a worker's measured RSS; false when it is gone. */
  async sample(pid: number): Promise<boolean> {
    const bytes = await residentBytes(pid);
    if (bytes === undefined) return false;
    this.#samples = [...this.#samples.slice(1 - SAMPLES), bytes];
    return true;
  }
}
