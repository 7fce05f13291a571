import fs from 'node:fs';

/**
 * When an idle worker's CPU use means a job left work running (reuse mode): threads spinning
 * after their reply, timers, a compromised runtime. Measured from the host side, from the
 * kernel's accounting of the sandboxed process, never from anything the worker reports.
 *
 * A token bucket per worker: an idle worker may use `burstMs` of CPU at once (a job's
 * background work winding down: garbage collection, optimizing compilation, a job thread
 * replaced after a timeout) and `sustainedShare` of one core for ever; past that it is
 * killed. The bucket refills with time and is kept across jobs, so short idle gaps between
 * jobs do not reset it.
 */
export interface IdleCpuPolicy {
  /** How often a pool samples its idle workers, ms. */
  periodMs: number;
  /** CPU an idle worker may use in one burst, ms. */
  burstMs: number;
  /** Share of one core an idle worker may use for as long as it is idle (0–1). */
  sustainedShare: number;
}

/** The host's policy: sampled every second; 500 ms of CPU at once, then 2 % of a core. */
export const DEFAULT_IDLE_CPU_POLICY: Readonly<IdleCpuPolicy> = Object.freeze({ periodMs: 1000, burstMs: 500, sustainedShare: 0.02 });

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ: 100 on every Linux architecture node runs on). */
const USER_HZ = 100;

/**
 * CPU time (user + system, all threads, exited ones included) of a process, in ms, from
 * `/proc/<pid>/stat`; undefined when it is gone. The fields are read after the last `)`: the
 * process names itself (its `comm`) and may put spaces or parentheses in it.
 */
export function readProcessCpuMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  return cpuMsOfStat(stat);
}

/** User + system CPU time in ms of one `/proc/<pid>/stat` line; undefined if it is not one. */
export function cpuMsOfStat(stat: string): number | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  // After `pid (comm) `: state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(close + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1000) / USER_HZ;
}

/** An idle worker the watch samples. `epoch` changes whenever it has run a job since (its count of jobs). */
export interface IdleWorkerSample<K> {
  key: K;
  pid: number;
  epoch: number;
}

/** A worker past its budget: the CPU it used in its current idle stretch, and how long that stretch has been watched. */
export interface IdleCpuOverrun<K> {
  key: K;
  cpuMs: number;
  idleMs: number;
}

interface Entry {
  epoch: number;
  cpuMs: number;
  at: number;
  credit: number;
  stretchCpuMs: number;
  stretchStart: number;
}

/**
 * The bookkeeping of {@link IdleCpuPolicy} for one pool, with no timer of its own: the pool
 * calls `sample` every `periodMs` with its idle workers. A worker's first sample in an idle
 * stretch is its baseline, so nothing is read per job.
 */
export class IdleCpuWatch<K> {
  #entries = new Map<K, Entry>();

  constructor(
    readonly policy: IdleCpuPolicy,
    private readonly now: () => number,
    private readonly readCpuMs: (pid: number) => number | undefined = readProcessCpuMs,
  ) {}

  /** Samples the workers that are idle now; returns those past their budget. */
  sample(workers: Iterable<IdleWorkerSample<K>>): IdleCpuOverrun<K>[] {
    const now = this.now();
    const over: IdleCpuOverrun<K>[] = [];
    for (const { key, pid, epoch } of workers) {
      const cpuMs = this.readCpuMs(pid);
      if (cpuMs === undefined) continue;
      const entry = this.#entries.get(key);
      if (!entry) {
        this.#entries.set(key, { epoch, cpuMs, at: now, credit: this.policy.burstMs, stretchCpuMs: 0, stretchStart: now });
        continue;
      }
      const refilled = Math.min(this.policy.burstMs, entry.credit + this.policy.sustainedShare * Math.max(0, now - entry.at));
      const used = cpuMs - entry.cpuMs;
      if (entry.epoch !== epoch || used < 0) {
        // It ran a job since the last sample (or the count went back: another process): a new stretch, measured from here.
        Object.assign(entry, { epoch, cpuMs, at: now, credit: refilled, stretchCpuMs: 0, stretchStart: now });
        continue;
      }
      Object.assign(entry, { cpuMs, at: now, credit: refilled - used, stretchCpuMs: entry.stretchCpuMs + used });
      if (entry.credit < 0) over.push({ key, cpuMs: entry.stretchCpuMs, idleMs: now - entry.stretchStart });
    }
    return over;
  }

  /** Drops a worker that is gone. */
  forget(key: K): void {
    this.#entries.delete(key);
  }
}
