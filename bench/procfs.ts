/**
 * What /proc says about a process: memory (VmRSS, PSS, USS), threads, CPU time, its child.
 */
import fs from 'node:fs';
import { sleep } from './stats.js';

/** CPU time of every live thread of a process, from /proc/<pid>/task/<tid>/schedstat (ns). */
export function processCpuMs(pid: number): number | undefined {
  try {
    let total = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      total += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    return total / 1e6;
  } catch {
    return undefined;
  }
}

/** The launcher's only child (the sandboxed node) as the host sees it. */
export function childOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return children ? Number(children.split(/\s+/)[0]) : undefined;
  } catch {
    return undefined;
  }
}

export interface ProcMemory {
  rss: number;
  pss: number;
  uss: number;
  threads: number;
}

function kb(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** Memory of one process, bytes (NaN where /proc does not say). */
export function procMemory(pid: number | undefined): ProcMemory {
  if (!pid) return { rss: Number.NaN, pss: Number.NaN, uss: Number.NaN, threads: Number.NaN };
  let status = '';
  let rollup = '';
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    // gone
  }
  try {
    rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    // not allowed or gone
  }
  const threads = /^Threads:\s+(\d+)/m.exec(status);
  return {
    rss: kb(status, 'VmRSS'),
    pss: kb(rollup, 'Pss'),
    uss: kb(rollup, 'Private_Clean') + kb(rollup, 'Private_Dirty'),
    threads: threads ? Number(threads[1]) : Number.NaN,
  };
}

export function add(a: ProcMemory, b: ProcMemory): ProcMemory {
  return { rss: a.rss + b.rss, pss: a.pss + b.pss, uss: a.uss + b.uss, threads: a.threads + b.threads };
}

/** Waits until the thread count of a process has not changed for `quietMs`. */
export async function threadsSettled(pid: number | undefined, quietMs = 400, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = procMemory(pid).threads;
  let stableSince = Date.now();
  while (Date.now() < until) {
    await sleep(50);
    const now = procMemory(pid).threads;
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= quietMs) return;
  }
}


/** CPU time of each live thread of a process, ms by thread id (ascending ids). */
export function threadCpuMs(pid: number | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (!pid) return out;
  try {
    const tids = fs.readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => a - b);
    for (const tid of tids) out.set(tid, Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6);
  } catch {
    // gone
  }
  return out;
}
