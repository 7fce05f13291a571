/**
 * The job thread's code cache (dist/worker/jobThread.cache, made by `npm run build`): a job
 * thread started as the runner starts it (its resource limits, no execArgv), from a copy of the
 * loader and the bundle, with the build's cache against a rejected one (what a thread without a
 * usable cache does: compile from source), interleaved. Times inside the thread: loading the
 * bundle and the warm-up job (a prepare and an execute); outside: thread start → warm-up done,
 * and the process CPU the start cost. Run on its own:
 *
 *   npx tsx bench/jobThreadCache.ts [rounds]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { DEFAULT_LIMITS } from '../src/options.js';
import { PREPARE_WORKER_V8_FLAGS } from '../src/shared/v8Flags.js';
import { OPTIONAL_WORKER_FILES, PACKAGE_ROOT, WORKER_FILES } from '../src/sandbox/paths.js';
import { interleave, summarize, type Metrics } from './stats.js';

// A job thread runs in a prepare worker, which sets these first (the cache is made under them).
v8.setFlagsFromString(PREPARE_WORKER_V8_FLAGS);

export const CACHE = { accepted: "the build's code cache", rejected: 'no usable cache (compiled from source)' } as const;

const PROBE = `
  const { parentPort, workerData } = require('node:worker_threads');
  const t0 = performance.now();
  const { codeCache } = require(workerData);
  const t1 = performance.now();
  const post = parentPort.postMessage.bind(parentPort);
  parentPort.postMessage = (reply) => post({ codeCache, ok: reply.ok, load: t1 - t0, warmUp: performance.now() - t1 });
  parentPort.emit('message', { kind: 'warm-up' });
`;

async function startThread(loader: string, expected: string): Promise<Metrics> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = new Worker(PROBE, {
    eval: true,
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: DEFAULT_LIMITS.jobHeapMb, stackSizeMb: DEFAULT_LIMITS.jobStackMb },
    workerData: loader,
  });
  try {
    const reply = await new Promise<{ codeCache: string; ok: boolean; load: number; warmUp: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (reply.codeCache !== expected || !reply.ok) throw new Error(`thread: cache ${reply.codeCache}, warm-up ok ${reply.ok}`);
    const cpu = process.cpuUsage(cpu0);
    return { load: reply.load, warmUp: reply.warmUp, ms: performance.now() - t0, cpu: (cpu.user + cpu.system) / 1000 };
  } finally {
    await worker.terminate();
  }
}

/** Samples of both, from a temp copy whose cache file is rewritten before each start. */
export async function measureJobThreadCache(rounds: number): Promise<Record<string, Record<string, number[]>>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-cache-'));
  const cacheFile = path.join(dir, path.basename(OPTIONAL_WORKER_FILES.jobThreadCache));
  const real = fs.readFileSync(path.join(PACKAGE_ROOT, OPTIONAL_WORKER_FILES.jobThreadCache));
  for (const file of [WORKER_FILES.jobThread, WORKER_FILES.jobThreadBody]) fs.copyFileSync(path.join(PACKAGE_ROOT, file), path.join(dir, path.basename(file)));
  const loader = path.join(dir, path.basename(WORKER_FILES.jobThread));
  const start = (accepted: boolean) => () => {
    fs.writeFileSync(cacheFile, accepted ? real : Buffer.alloc(16, 1));
    return startThread(loader, accepted ? 'accepted' : 'rejected');
  };
  try {
    await start(true)();
    await start(false)();
    return await interleave(rounds, { [CACHE.accepted]: start(true), [CACHE.rejected]: start(false) }, { settleMs: 20, progress: 'job thread cache' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const samples = await measureJobThreadCache(Number(process.argv[2] ?? 20));
  process.stderr.write('\n');
  for (const [name, m] of Object.entries(samples)) {
    const p50 = (metric: string) => summarize(m[metric]).median.toFixed(1);
    console.log(`${name.padEnd(40)} load ${p50('load')} ms, warm-up job ${p50('warmUp')} ms, start → warm ${p50('ms')} ms, process CPU ${p50('cpu')} ms`);
  }
  console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}
