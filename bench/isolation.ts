/**
 * Isolation between jobs, side by side in one run, on trivial hello jobs:
 *   - `worker`: reuse, one process runs job after job;
 *   - `job`: `isolation: 'job'`, a fresh sandboxed process per job, from warm spares;
 *   - `cold`: a sandboxed worker spawned for each job on the critical path, killed after it.
 * Each is measured paced (one job at a time, below the rate spares can be refilled: the spares
 * absorb the process start) and saturated (all jobs at once: throughput is bounded by how fast
 * workers can be started). The floors of the saturated figure are measured too, `cores` at a
 * time: `cold` itself (a whole worker start per job: node, the sandbox, the handshake,
 * the job), sandboxed workers started to their handshake only, and plain `node -e 0`.
 *
 * `npx tsx bench/isolation.ts [--quick]` prints the tables; `bench/run.ts` calls
 * `measureIsolation` and `isolationReport` for its section and its JSON.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHost, type Host } from './warden.js';
import type { Artifact } from '../src/artifactHandle.js';
import { executeLimitsOf } from '../src/options.js';
import { MessageType, type ExecuteReply, type ExecuteRequest } from '../src/protocol/messages.js';
import { copyArtifact } from '../src/sandbox/workerDir.js';
import { HELLO_INPUT, HELLO_WASM, expectHello, poolsIdle } from './context.js';
import { ms, since, sleep, spread, summarize, table } from './stats.js';

export const MODES = {
  worker: "reuse ('worker')",
  job: "fresh process per job from warm spares ('job')",
  cold: 'cold: a sandboxed worker spawned per job',
} as const;
export type Mode = keyof typeof MODES;

export interface IsolationResults {
  /** Per-job latency (ms) of paced jobs, by mode. */
  paced: Record<Mode, number[]>;
  /**
   * The paced floor of this machine: a 200-byte round trip between this process and a plain
   * node child over a unix socket (no sandbox, no warden), at the same pace (ms). Every thread
   * sleeps between two: what waking both sides costs here.
   */
  pacedEcho: number[];
  /** Jobs per second when all are submitted at once, by mode. */
  saturated: Record<Mode, number>;
  pacedRate: number;
  saturatedJobs: number;
  /** Execute workers (spares in 'job' mode) of each host; also the concurrency of the floors and of `cold`. */
  workers: number;
  floor: {
    /** Sandboxed workers started back to back (`spawnWorker` → handshake → kill), `workers` at a time, per second. */
    handshakesPerSecond: number;
    /** `node -e 0` started back to back (spawn → exit), `workers` at a time, per second: the CPU cost of starting node alone. */
    nodeStartsPerSecond: number;
  };
  /**
   * Saturated 'job' throughput over `cold`'s, the floor of a fresh process per job (1 = as fast
   * as whole workers can be started and run one job each; spares cannot beat it by much).
   */
  jobToFloor: number;
}

interface BenchHost {
  host: Host;
  artifact: Artifact;
  close(): Promise<void>;
}

async function startHost(isolation: 'worker' | 'job', workers: number): Promise<BenchHost> {
  const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-isolation-'));
  const host = await createHost({ cacheDir, executeWorkers: workers, prepareWorkers: 1, isolation });
  await poolsIdle(host);
  const artifact = await host.prepare(new Uint8Array(fs.readFileSync(HELLO_WASM)));
  return {
    host,
    artifact,
    async close() {
      await host.close({ force: true });
      await fsp.rm(cacheDir, { recursive: true, force: true });
    },
  };
}

/** One hello job through the host's pool. */
async function pooled(host: Host, artifact: Artifact): Promise<void> {
  const result = await host.execute(artifact, HELLO_INPUT);
  expectHello(Buffer.from(result.output).toString(), 'isolation bench');
}

/**
 * One hello job on a worker started for it, as the pool runs a job (artifact hard-linked, a
 * one-job request), then killed: the process start is on the job's critical path.
 */
async function coldJob(host: Host, artifact: Artifact): Promise<void> {
  const worker = await host.spawnWorker('execute');
  try {
    await copyArtifact(worker.hostDir, host.cache.pathOf(artifact.key));
    const limits = host.options.limits;
    const header: ExecuteRequest = { abi: 'run', limits: executeLimitsOf(limits), cpuTimeLimitMs: limits.executeTimeoutMs, isolation: 'job', fuel: limits.maxFuel };
    const maxBody = header.limits.maxOutputBytes + header.limits.maxLogBytes;
    const reply = await worker.request(MessageType.Execute, header, HELLO_INPUT, { timeoutMs: 30_000, expect: MessageType.ExecuteResult, maxBody });
    const result = reply.header as ExecuteReply;
    if (!result.ok) throw new Error(`cold job failed: ${result.failure.code}: ${result.failure.message}`);
    expectHello(Buffer.from(reply.body.subarray(0, result.outputBytes)).toString(), 'isolation bench (cold)');
  } finally {
    await worker.kill();
  }
}

/** Runs `count` tasks, `concurrency` at a time; returns how many completed per second. */
async function rate(count: number, concurrency: number, task: () => Promise<void>): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      await task();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return count / (since(start) / 1000);
}

/** Times `pacedJobs` jobs one at a time, one every 1/pacedRate s. */
async function pace(pacedJobs: number, pacedRate: number, job: () => Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < pacedJobs; i++) {
    const start = process.hrtime.bigint();
    await job();
    const took = since(start);
    samples.push(took);
    await sleep(Math.max(0, 1000 / pacedRate - took));
  }
  return samples;
}

/** A plain node child that echoes what comes on fd 3 (a unix socket): `roundTrip` sends 200 bytes and waits for them back. */
async function echoChild(): Promise<{ roundTrip(): Promise<void>; close(): void }> {
  const script = "const s = new (require('net').Socket)({ fd: 3, readable: true, writable: true }); s.on('data', (d) => s.write(d));";
  const child = spawn(process.execPath, ['-e', script], { env: {}, stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  const socket = child.stdio[3] as import('node:net').Socket;
  const message = Buffer.alloc(200, 1);
  const roundTrip = () =>
    new Promise<void>((resolve) => {
      let got = 0;
      const onData = (chunk: Buffer) => {
        got += chunk.length;
        if (got < message.length) return;
        socket.off('data', onData);
        resolve();
      };
      socket.on('data', onData);
      socket.write(message);
    });
  // Its start is not measured: one round trip first.
  await roundTrip();
  return { roundTrip, close: () => child.kill() };
}

/** `node -e 0`, spawn to exit. */
function nodeStart(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { env: {}, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}

const median = (values: number[]): number => summarize(values).median;

/**
 * The machine is shared and its load changes by the minute: every mode and floor is measured
 * in each of `rounds` rounds, one short block after the other, and the rates are the medians
 * over the rounds (the ratio too, taken within each round). Paced samples are pooled.
 */
export async function measureIsolation(
  pacedJobs: number,
  pacedRate: number,
  saturatedJobs: number,
  workers = os.availableParallelism(),
  rounds = 3,
): Promise<IsolationResults> {
  const paced = { worker: [], job: [], cold: [] } as Record<Mode, number[]>;
  const pacedEcho: number[] = [];
  const echo = await echoChild();
  const rates = { worker: [], job: [], cold: [], handshakes: [], node: [], ratio: [] } as Record<Mode | 'handshakes' | 'node' | 'ratio', number[]>;
  const hosts = { worker: await startHost('worker', workers), job: await startHost('job', workers) };
  // Cold workers and the handshake floor use the reuse host's sandbox; its pools stay idle meanwhile.
  const { host, artifact } = hosts.worker;
  const perRound = (jobs: number) => Math.ceil(jobs / rounds);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of ['worker', 'job'] as const) {
        const bench = hosts[mode];
        await poolsIdle(bench.host);
        paced[mode].push(...(await pace(perRound(pacedJobs), pacedRate, () => pooled(bench.host, bench.artifact))));
        await poolsIdle(bench.host);
        rates[mode].push(await rate(perRound(saturatedJobs), perRound(saturatedJobs), () => pooled(bench.host, bench.artifact)));
      }
      await poolsIdle(hosts.job.host);
      pacedEcho.push(...(await pace(perRound(pacedJobs), pacedRate, echo.roundTrip)));
      paced.cold.push(...(await pace(perRound(pacedJobs / 2), pacedRate, () => coldJob(host, artifact))));
      rates.cold.push(await rate(perRound(saturatedJobs / 2), workers, () => coldJob(host, artifact)));
      rates.handshakes.push(await rate(perRound(saturatedJobs / 2), workers, async () => (await host.spawnWorker('execute')).kill().then(() => {})));
      rates.node.push(await rate(perRound(saturatedJobs / 2), workers, nodeStart));
      rates.ratio.push(rates.job.at(-1)! / rates.cold.at(-1)!);
    }
  } finally {
    echo.close();
    await Promise.all([hosts.worker.close(), hosts.job.close()]);
  }
  return {
    paced,
    pacedEcho,
    saturated: { worker: median(rates.worker), job: median(rates.job), cold: median(rates.cold) },
    pacedRate,
    saturatedJobs,
    workers,
    floor: { handshakesPerSecond: median(rates.handshakes), nodeStartsPerSecond: median(rates.node) },
    jobToFloor: median(rates.ratio),
  };
}

/** The results as text: one table by mode, then the floor and the ratio. */
export function isolationReport(r: IsolationResults): string {
  const rows = (Object.keys(MODES) as Mode[]).map((mode) => {
    const s = summarize(r.paced[mode]);
    return [MODES[mode], ms(s.median), ms(s.p99), spread(s), r.saturated[mode].toFixed(1)];
  });
  const lines = [
    table(['mode', `paced at ${r.pacedRate} jobs/s: p50`, 'p99', 'spread', `saturated: jobs/s`], rows),
    '',
    `floors, ${r.workers} at a time: ${r.saturated.cold.toFixed(1)} whole worker starts + job/s (cold); ` +
      `${r.floor.handshakesPerSecond.toFixed(1)} sandboxed starts to the handshake/s; ` +
      `${r.floor.nodeStartsPerSecond.toFixed(1)} plain \`node -e 0\`/s`,
    `'job' at saturation: ${(r.jobToFloor * 100).toFixed(0)}% of the cold floor (target ≥ 90%), ` +
      `${((r.saturated.job / r.floor.handshakesPerSecond) * 100).toFixed(0)}% of the handshake floor; reuse is ${(r.saturated.worker / r.saturated.job).toFixed(0)}× faster`,
    `'job' paced p50 ${ms(summarize(r.paced.job).median)} (target ≤ 2 ms) against ${ms(summarize(r.paced.worker).median)} in reuse and ` +
      `${ms(summarize(r.paced.cold).median)} cold; a bare 200-byte round trip to a plain node child at the same pace: ${ms(summarize(r.pacedEcho).median)} ` +
      `(${ms(summarize(r.pacedEcho).p99)} p99), the wake-ups alone`,
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const results = await measureIsolation(quick ? 20 : 60, 5, quick ? 40 : 120);
  process.stdout.write(`${isolationReport(results)}\n`);
}
