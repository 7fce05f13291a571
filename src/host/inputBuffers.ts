import { ALIGNED_MIN_BYTES, HUGE_PAGE, alignedBigBuffer } from '../shared/hugePages.js';

/**
 * The host's copy of one execute input. The caller may reuse its buffer as soon as `execute`
 * returns, so the input is copied at once; the job's requests write the copy later, once or more
 * (a retry, a pipelined job sent again). A big copy is made in memory kept from job to job: into
 * memory already touched a 16 MiB copy takes ~2 ms, into fresh memory 16–30 ms of page faults on
 * a virtual machine, and every fresh 16 MiB is external memory that makes V8 run a full
 * collection. The memory goes back only when the job has settled and no write of it is under
 * way, so its bytes never change under a write or a job that may still be sent.
 */
export interface InputCopy {
  readonly bytes: Uint8Array;
  /** A write of `bytes` begins: call the function returned once it has ended, written or not. */
  hold(): () => void;
  /** The job is settled: the memory goes back once no write holds it. Idempotent. */
  release(): void;
}

/** Idle memory kept for the next big inputs, at most. */
export const IDLE_INPUT_BYTES = 64 * 1024 * 1024;
/** Idle memory is let go after this long without a big input. */
export const IDLE_INPUT_MS = 10_000;

const NOTHING = (): void => {};

/** A small input: a plain copy, left to the garbage collector. */
class PlainCopy implements InputCopy {
  constructor(readonly bytes: Uint8Array) {}
  hold(): () => void {
    return NOTHING;
  }
  release(): void {}
}

class PooledCopy implements InputCopy {
  readonly bytes: Uint8Array;
  /** The job, until it settles, and each write under way. */
  #holds = 1;
  #released = false;

  constructor(
    readonly memory: Buffer,
    n: number,
    private readonly owner: InputBuffers,
  ) {
    this.bytes = memory.subarray(0, n);
  }

  hold(): () => void {
    this.#holds++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#drop();
    };
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#drop();
  }

  #drop(): void {
    if (--this.#holds === 0) this.owner.give(this.memory);
  }
}

/** Big input copies in memory reused from job to job (starting on a huge page where the kernel has them). */
export class InputBuffers {
  /** Idle memory, each a whole number of 2 MiB pages. */
  #idle: Buffer[] = [];
  #idleBytes = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxIdleBytes = IDLE_INPUT_BYTES,
    private readonly idleMs = IDLE_INPUT_MS,
  ) {}

  /** A copy of `input`, taken now. */
  copy(input: Uint8Array): InputCopy {
    if (input.byteLength < ALIGNED_MIN_BYTES) return new PlainCopy(new Uint8Array(input));
    const memory = this.#take(input.byteLength);
    memory.set(input);
    return new PooledCopy(memory, input.byteLength, this);
  }

  /** Idle memory held now, bytes. */
  get idleBytes(): number {
    return this.#idleBytes;
  }

  /** Memory a copy no longer uses: kept while the idle bound allows (the oldest leave first). */
  give(memory: Buffer): void {
    if (memory.length > this.maxIdleBytes) return;
    this.#idle.push(memory);
    this.#idleBytes += memory.length;
    while (this.#idleBytes > this.maxIdleBytes) this.#idleBytes -= this.#idle.shift()!.length;
    if (this.#timer) this.#timer.refresh();
    else this.#timer = setTimeout(() => this.clear(), this.idleMs).unref();
  }

  /** Lets go of every idle buffer. */
  clear(): void {
    this.#idle = [];
    this.#idleBytes = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The smallest idle buffer of `n` bytes or more that it would not waste (at most twice), else fresh memory. */
  #take(n: number): Buffer {
    const size = Math.ceil(n / HUGE_PAGE) * HUGE_PAGE;
    let best = -1;
    this.#idle.forEach((memory, i) => {
      if (memory.length >= size && memory.length <= 2 * size && (best < 0 || memory.length < this.#idle[best]!.length)) best = i;
    });
    if (best < 0) return alignedBigBuffer(size);
    const [memory] = this.#idle.splice(best, 1);
    this.#idleBytes -= memory!.length;
    this.#timer?.refresh();
    return memory!;
  }
}
