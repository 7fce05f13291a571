import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { createHost, type Host, type HostOptions } from '../../src/index.js';
import { findCgroupPlace, hostCgroupName } from '../../src/sandbox/cgroup.js';

/** A fresh cache dir under the OS temp dir, removed by the caller's teardown. */
export async function tempCacheDir(prefix = 'warden-test-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Worker dirs currently in a cache dir. */
export function workerDirsIn(cacheDir: string): string[] {
  return fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).filter((name) => name.startsWith('worker-dir-')) : [];
}

/** Pids of processes running this checkout's worker entry, or another entry file (sandboxed node processes). */
export function workerProcesses(cacheDir?: string, entrySuffix = '/dist/worker/main.cjs'): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const isWorker = cmdline.some((arg) => arg.endsWith(entrySuffix));
      if (isWorker && (cacheDir === undefined || cmdline.some((arg) => arg.startsWith(cacheDir)) || isLauncherChildOf(entry, cacheDir))) {
        pids.push(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function isLauncherChildOf(pid: string, cacheDir: string): boolean {
  try {
    const ppid = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1];
    return fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8').includes(cacheDir);
  } catch {
    return false;
  }
}

/**
 * Starts a real host on a fresh cache dir; after the test, closes it and checks that no
 * worker dir and no worker process is left behind.
 */
export async function startHost(t: ExecutionContext, options: HostOptions = {}): Promise<{ host: Host; cacheDir: string }> {
  const cacheDir = options.cacheDir ?? (await tempCacheDir());
  // Small pools by default: most tests need one worker of each kind at most.
  const host = await createHost({ executeWorkers: 1, ...options, cacheDir });
  t.teardown(async () => {
    await host.close();
    const dirs = workerDirsIn(cacheDir);
    const processes = await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0);
    const cgroups = hostCgroupsLeft(cacheDir);
    await fsp.rm(cacheDir, { recursive: true, force: true });
    if (dirs.length > 0) throw new Error(`worker dirs left behind: ${dirs.join(', ')}`);
    if (cgroups.length > 0) throw new Error(`cgroups left behind: ${cgroups.join(', ')}`);
    if (processes.length > 0) throw new Error(`worker processes left behind: ${processes.join(', ')}`);
  });
  return { host, cacheDir };
}

/** The cgroups a host on `cacheDir` made and has not removed (none once it has closed). */
export function hostCgroupsLeft(cacheDir: string): string[] {
  const place = findCgroupPlace();
  if (!('version' in place)) return [];
  return place.parents.map((parent) => path.join(parent, hostCgroupName(cacheDir))).filter((dir) => fs.existsSync(dir));
}

/** Polls `read` until `done` holds or the time runs out; returns the last value. */
export async function waitFor<T>(read: () => T, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let value = read();
  while (!done(value) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    value = read();
  }
  return value;
}

/** Sets variables in this (the host's) environment for one test, restored after it. */
export function setHostEnv(t: ExecutionContext, vars: Record<string, string>): void {
  const saved = new Map(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  t.teardown(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
}
