/**
 * The job thread's cost per job (issue 13, "job thread hop + CPU watch"): the same trivial
 * execute (hello, run ABI) run through `JobRunner` (the earlier design, still a prepare worker's:
 * a job thread, buffers moved, the CPU watch), through `InlineRunner` (an execute worker's now:
 * the job on the calling thread under the addon's watchdog) and as a bare `execute` call on the
 * calling thread (no bound at all), interleaved, in this one process. CPU time per job is the figure that holds on a loaded
 * machine; wall time is given beside it.
 *
 *   npx tsx bench/jobThreadHop.ts [jobs per round]
 */
import fs from 'node:fs';
import os from 'node:os';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../src/shared/limits.js';
import { execute } from '../src/worker/jobs/execute.js';
import { prepare } from '../src/worker/jobs/prepare.js';
import { JobRunner } from '../src/worker/jobRunner.js';
import { InlineRunner } from '../src/worker/inlineRunner.js';
import { HELLO_INPUT, HELLO_WASM } from './context.js';
import { summarize } from './stats.js';

const jobs = Number(process.argv[2] ?? 2000);
const rounds = 6;
const { artifact } = prepare(new Uint8Array(fs.readFileSync(HELLO_WASM)), DEFAULT_PREPARE_LIMITS, '0'.repeat(64));
const runner = new JobRunner({ execArgv: [] });
await runner.ready();
const inline = new InlineRunner();

const cases = {
  'job thread (JobRunner.run)': async () => {
    const result = await runner.run(
      { kind: 'execute', artifact: new Uint8Array(artifact), input: new Uint8Array(HELLO_INPUT), abi: 'run', limits: DEFAULT_EXECUTE_LIMITS },
      { cpuTimeLimitMs: 2000 },
    );
    if (!result.ok) throw new Error(result.failure.message);
  },
  'this thread (InlineRunner.run)': async () => {
    const result = await inline.run(
      { kind: 'execute', artifact: new Uint8Array(artifact), input: new Uint8Array(HELLO_INPUT), abi: 'run', limits: DEFAULT_EXECUTE_LIMITS },
      { cpuTimeLimitMs: 2000 },
    );
    if (!result.ok) throw new Error(result.failure.message);
  },
  'same thread (execute)': async () => {
    await execute(new Uint8Array(artifact), new Uint8Array(HELLO_INPUT), 'run', DEFAULT_EXECUTE_LIMITS);
  },
};

const wall: Record<string, number[]> = {};
const cpu: Record<string, number[]> = {};
for (const name of Object.keys(cases)) for (let i = 0; i < 200; i++) await cases[name as keyof typeof cases]();
for (let round = 0; round < rounds; round++) {
  for (const [name, job] of Object.entries(cases).sort(() => Math.random() - 0.5)) {
    const startCpu = process.cpuUsage();
    const startWall = performance.now();
    const per: number[] = [];
    for (let i = 0; i < jobs; i++) {
      const t = performance.now();
      await job();
      per.push(performance.now() - t);
    }
    const used = process.cpuUsage(startCpu);
    (wall[name] ??= []).push(summarize(per).median * 1000);
    // Both threads of the process: the job thread's CPU counts.
    (cpu[name] ??= []).push(((used.user + used.system) / jobs));
    void startWall;
  }
}
console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${rounds} rounds × ${jobs} jobs`);
for (const name of Object.keys(cases)) {
  console.log(`${name.padEnd(32)} wall p50 ${summarize(wall[name]).median.toFixed(1)} µs   process CPU per job ${summarize(cpu[name]).median.toFixed(1)} µs`);
}
await runner.close();
