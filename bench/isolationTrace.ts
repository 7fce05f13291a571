/**
 * Where row I1's time goes: paced `isolation: 'job'` jobs on a host with warm spares, each job
 * split by the worker machine's events (XState inspection, host clock): submit → ASSIGN (queue
 * and pump), ASSIGN → POPULATED (the artifact's private copy into the spare's dir), → RESULT
 * (the request, the worker's own job time, the reply), → resolved. The same on a reuse host,
 * and 'job' paced slower (every refill surely done before the next job), interleaved by rounds:
 * the difference between the two 'job' paces is what the refill booting beside a job costs it.
 *
 * `npx tsx bench/isolationTrace.ts [jobsPerRound] [rounds]`
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { InspectionEvent } from 'xstate';
import { createHost, type Host } from './warden.js';
import type { Artifact } from '../src/artifactHandle.js';
import { HELLO_INPUT, HELLO_WASM, expectHello, poolsIdle } from './context.js';
import { ms, since, sleep, summarize, table } from './stats.js';

const jobsPerRound = Number(process.argv[2] ?? 10);
const rounds = Number(process.argv[3] ?? 3);

interface Traced {
  host: Host;
  artifact: Artifact;
  /** Host-clock times (ms, performance.now) of each worker actor's events by type, for the current job. */
  marks: Map<string, number>;
  close(): Promise<void>;
}

async function startHost(isolation: 'worker' | 'job'): Promise<Traced> {
  const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-isotrace-'));
  const marks = new Map<string, number>();
  const inspect = (event: InspectionEvent): void => {
    if (event.type !== '@xstate.event') return;
    const type = (event.event as { type: string }).type;
    if (type === 'ASSIGN' || type === 'POPULATED' || type === 'RESULT') marks.set(type, performance.now());
    // When the turn that took the reply has run its synchronous work (what follows RESULT).
    if (type === 'RESULT') queueMicrotask(() => marks.set('syncEnd', performance.now()));
  };
  const host = await createHost({ cacheDir, executeWorkers: 2, prepareWorkers: 1, isolation, inspect });
  await poolsIdle(host);
  const artifact = await host.prepare(new Uint8Array(fs.readFileSync(HELLO_WASM)));
  return {
    host,
    artifact,
    marks,
    async close() {
      await host.close({ force: true });
      await fsp.rm(cacheDir, { recursive: true, force: true });
    },
  };
}

type Sample = Record<'sync' | 'total' | 'queue' | 'populate' | 'request' | 'reply' | 'workerWall' | 'workerCpu', number>;

async function tracedJob(t: Traced): Promise<Sample> {
  t.marks.clear();
  const t0 = performance.now();
  const result = await t.host.execute(t.artifact, HELLO_INPUT);
  const end = performance.now();
  expectHello(Buffer.from(result.output).toString(), 'isolation trace');
  const assign = t.marks.get('ASSIGN') ?? Number.NaN;
  const populated = t.marks.get('POPULATED') ?? assign;
  // A one-job process's RESULT follows its caller's resumption (poolWorker.ts): not marked yet,
  // request runs to the job's settling.
  const resultMark = t.marks.get('RESULT');
  const reply = resultMark === undefined || resultMark > end ? end : resultMark;
  return {
    total: end - t0,
    queue: assign - t0,
    populate: populated - assign,
    request: reply - populated,
    reply: end - reply,
    sync: reply === end ? Number.NaN : (t.marks.get('syncEnd') ?? Number.NaN) - reply,
    workerWall: result.wallTimeMs,
    workerCpu: result.cpuTimeMs,
  };
}

const hosts = { worker: await startHost('worker'), job: await startHost('job') };
const cases: Record<string, { host: Traced; gapMs: number }> = {
  "reuse ('worker'), 5 jobs/s": { host: hosts.worker, gapMs: 200 },
  "'job', 5 jobs/s": { host: hosts.job, gapMs: 200 },
  "'job', 1 job/s": { host: hosts.job, gapMs: 1000 },
};
const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
try {
  for (let round = 0; round < rounds; round++) {
    for (const [name, { host, gapMs }] of Object.entries(cases)) {
      await poolsIdle(host.host);
      await sleep(gapMs);
      for (let i = 0; i < jobsPerRound; i++) {
        const start = process.hrtime.bigint();
        samples[name]!.push(await tracedJob(host));
        await sleep(Math.max(0, gapMs - since(start)));
      }
    }
    process.stderr.write(`round ${round + 1}/${rounds}\n`);
  }
} finally {
  await Promise.all([hosts.worker.close(), hosts.job.close()]);
}
const metrics = ['total', 'queue', 'populate', 'request', 'workerWall', 'workerCpu', 'reply', 'sync'] as const;
const rows = Object.entries(samples).map(([name, list]) => [name, ...metrics.map((m) => ms(summarize(list.map((s) => s[m])).median)), ms(summarize(list.map((s) => s.total)).p99)]);
process.stdout.write(`medians per job (p99 of total last)\n${table(['case', ...metrics, 'total p99'], rows)}\n`);

