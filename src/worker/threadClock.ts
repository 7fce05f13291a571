/**
 * The job thread's own CPU clock, shared between the job thread and the main thread that watches
 * it. A job's CPU budget counts this thread alone, from the moment its module is compiled: not
 * V8's background threads (which compile the module and tier hot code up), not the main thread.
 *
 * The two threads share two numbers (a SharedArrayBuffer given as `workerData.clock`): the job
 * thread's clockid (pthread_getcpuclockid, readable from any thread of the process) and the
 * thread's CPU time when the current job's execution started (NaN until then).
 */
import { loadAddon, type NativeAddon } from '../shared/addon.js';

const CLOCK = 0;
const START = 1;

function addonOrUndefined(): NativeAddon | undefined {
  try {
    return loadAddon();
  } catch {
    return undefined;
  }
}

/** Process CPU time in ns: the fallback where the addon cannot give a thread's clock. */
function processNs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

/** The job thread's side: announce its clock, mark each job's start, read its own time. */
export interface ThreadClock {
  /** Records this thread's CPU time as the start of the current job's execution, and returns it (ns, as `ownNs` reads it). */
  markStart(): bigint;
  /** This thread's CPU time, ns. */
  ownNs(): bigint;
}

/** Called once in the job thread: publishes its clockid in `shared`. */
export function threadClock(shared: SharedArrayBuffer | undefined): ThreadClock {
  const cells = new Float64Array(shared ?? new SharedArrayBuffer(16));
  const addon = addonOrUndefined();
  let read = processNs;
  if (addon !== undefined) {
    const clock = addon.threadCpuClock();
    read = () => addon.cpuClockNs(clock);
    cells[CLOCK] = clock;
  }
  return {
    markStart: () => {
      const now = read();
      cells[START] = now;
      return BigInt(Math.round(now));
    },
    ownNs: () => BigInt(Math.round(read())),
  };
}

/** The main thread's side: one per job thread. */
export class JobClock {
  readonly shared = new SharedArrayBuffer(16);
  readonly #cells = new Float64Array(this.shared);
  readonly #addon = addonOrUndefined();
  /** The last reading: a terminated thread's clock can no longer be read (EINVAL). */
  #lastMs = 0;

  constructor() {
    this.#cells[CLOCK] = Number.NaN;
    this.#cells[START] = Number.NaN;
  }

  /** Before each job: its execution has not started. */
  reset(): void {
    this.#cells[START] = Number.NaN;
    this.#lastMs = 0;
  }

  /** Whether the job's module is compiled and its execution under way. */
  get started(): boolean {
    return !Number.isNaN(this.#cells[START]!);
  }

  /** True when the job thread's own clock is read (false: process CPU stands in). */
  get perThread(): boolean {
    return this.#addon !== undefined && !Number.isNaN(this.#cells[CLOCK]!);
  }

  /** CPU time of the job's execution so far, ms (0 before it started; the last reading once its thread has ended). */
  executionMs(): number {
    const start = this.#cells[START]!;
    if (Number.isNaN(start)) return 0;
    try {
      const now = this.perThread ? this.#addon!.cpuClockNs(this.#cells[CLOCK]!) : processNs();
      this.#lastMs = Math.max(this.#lastMs, (now - start) / 1e6);
    } catch {
      // The thread was terminated (or died): its time stopped at the last reading.
    }
    return this.#lastMs;
  }
}
