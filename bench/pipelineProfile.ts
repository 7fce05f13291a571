/**
 * Issue 13, pipelining: host CPU per job and wall time per job of trivial execute jobs (hello.wasm)
 * on a real host, one at a time (row 1's shape) and in a batch (row 2's shape). Run under
 * `node --cpu-prof` to see where the host's time goes:
 * `node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/pipelineProfile.ts [jobs] [serial|batch]`.
 * It also prints each host thread's CPU over the measured jobs: the main thread's is the per-job
 * cost; V8's background threads (concurrent marking, compiling) spend about the same CPU over
 * 4,000 jobs as over 8,000 (2026-12-06), a cost of the run's start, not of each job.
 */
import fs from 'node:fs';
import { cpuMsOfStat } from '../src/actors/idleCpu.js';
import { HELLO_INPUT, createContext, destroyContext } from './context.js';

const N = Number(process.argv[2] ?? 3000);
const mode = process.argv[3] ?? 'batch';
const ctx = await createContext(2);
const one = async (): Promise<void> => {
  const { output } = await ctx.host.execute(ctx.artifact, HELLO_INPUT);
  if (output.byteLength !== 13) throw new Error('wrong output');
};
const run = async (n: number): Promise<void> => {
  if (mode === 'serial') for (let i = 0; i < n; i++) await one();
  else await Promise.all(Array.from({ length: n }, one));
};
/** CPU time (user + system, ms) of each thread of this process, by "tid name". */
const threadCpuMs = (): Map<string, number> =>
  new Map(
    fs.readdirSync('/proc/self/task').map((tid) => {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      return [`${tid} ${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}`, cpuMsOfStat(stat) ?? 0];
    }),
  );
await run(500);
const threadsBefore = threadCpuMs();
const cpu = process.cpuUsage();
const t0 = performance.now();
await run(N);
const used = process.cpuUsage(cpu);
const wall = performance.now() - t0;
for (const [thread, now] of threadCpuMs()) {
  const spent = now - (threadsBefore.get(thread) ?? 0);
  if (spent > 0) console.log(`thread ${thread}: ${spent} ms of CPU`);
}
console.log(`${mode}: ${N} jobs, host CPU/job=${((used.user + used.system) / N).toFixed(0)} us, wall/job=${((wall * 1000) / N).toFixed(0)} us, ${((N * 1000) / wall).toFixed(0)} jobs/s`);
await destroyContext(ctx);
