/**
 * What the host's check of a prepared artifact costs (src/actors/moduleCheck.ts): for a small
 * module and a 30 MiB one (a data segment; gzipped and raw), the check's latency on a warm
 * thread, the first check's (the thread starts), and what the event loop pays: the synchronous
 * part (the code's copy to the thread) and the main thread's CPU per check (from /proc, robust on
 * a loaded machine, unlike the loop's worst delay, also shown).
 * `tsx bench/prepareCheck.ts`; a figure for docs/performance.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import zlib from 'node:zlib';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ModuleChecker } from '../src/actors/moduleCheck.js';
import type { ModuleCheckTask } from '../src/actors/moduleCheckTask.js';
import { DEFAULT_PREPARE_LIMITS } from '../src/shared/limits.js';
import { prepare } from '../src/worker/jobs/prepare.js';
import { dataModule } from '../test/helpers/wasmModel.js';
import { fixtures } from '../test/helpers/wat.js';

const MiB = 1024 * 1024;
const PARAMS = 'ab'.repeat(32);
const limits = { ...DEFAULT_PREPARE_LIMITS, maxCodeBytes: 64 * MiB };

/** CPU time of this process' main thread (the event loop) so far, ms: /proc's utime + stime, in 10 ms ticks. */
function mainThreadCpuMs(): number {
  const fields = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function measure(checker: ModuleChecker, name: string, submitted: Uint8Array, rounds: number): Promise<void> {
  // As the host holds it: its own copy, in a SharedArrayBuffer (host.ts, checkBytes).
  const code = new Uint8Array(new SharedArrayBuffer(submitted.byteLength));
  code.set(submitted);
  const artifact = prepare(code, limits, PARAMS).artifact;
  const total: number[] = [];
  const sync: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  // Each check takes its artifact's bytes: the copies are made before anything is measured.
  const tasks: ModuleCheckTask[] = Array.from({ length: rounds }, () => ({ code, limits, paramsHash: PARAMS, artifact: Buffer.from(artifact) }));
  const cpuBefore = mainThreadCpuMs();
  for (const task of tasks) {
    delay.enable();
    const start = performance.now();
    const pending = checker.check(task);
    sync.push(performance.now() - start);
    const verdict = await pending;
    total.push(performance.now() - start);
    delay.disable();
    if (!verdict.ok) throw new Error(`${name}: refused: ${verdict.message}`);
  }
  const mainCpu = (mainThreadCpuMs() - cpuBefore) / rounds;
  console.log(
    `${name} (code ${(code.byteLength / MiB).toFixed(2)} MiB, artifact ${(artifact.byteLength / MiB).toFixed(2)} MiB): check median ${median(total).toFixed(2)} ms; ` +
      `event loop: synchronous part median ${median(sync).toFixed(2)} ms, main-thread CPU per check ${mainCpu.toFixed(1)} ms, worst delay while checking ${(delay.max / 1e6).toFixed(1)} ms`,
  );
}

console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const checker = new ModuleChecker();
const cold = performance.now();
await checker.check({ code: fixtures.upper, limits, paramsHash: PARAMS, artifact: prepare(fixtures.upper, limits, PARAMS).artifact });
console.log(`first check (a thread starts): ${(performance.now() - cold).toFixed(1)} ms`);
await measure(checker, 'small (upper)', fixtures.upper, 200);
const big = dataModule(30 * MiB);
await measure(checker, '30 MiB, gzip', zlib.gzipSync(big), 10);
await measure(checker, '30 MiB, raw', big, 10);
await checker.close();
console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
