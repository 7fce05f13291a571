/**
 * Row 2: throughput of a batch of trivial jobs (hello.wasm) submitted all at once, on a pool of
 * one sandboxed worker per core, against piscina (one thread per core) given the same jobs.
 * Row 4: a fresh sandboxed process per job (the bubblewrap/nsjail way: spawn the launcher, one
 * job, kill) against the warm pool, at the same parallelism. Both interleaved by rounds.
 */
import type { Piscina } from 'piscina';
import { HELLO_INPUT, executeOn, expectHello, type BenchContext } from './context.js';
import type { PiscinaTask } from './piscinaTask.js';
import { interleave, since, type Metrics } from './stats.js';

export const BATCH = {
  warden: 'warden pool',
  piscina: 'piscina, module compiled once per thread',
  piscinaCompile: 'piscina, compile + run per job',
} as const;

export const FRESH = {
  fresh: 'fresh sandboxed process per job',
  warm: 'warden warm pool',
} as const;

/** Submits `n` jobs at once and waits for all; returns jobs per second. */
async function batch(n: number, job: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  const all: Promise<unknown>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = job();
  await Promise.all(all);
  return (n * 1000) / since(t0);
}

/** Runs `n` jobs keeping `window` in flight; returns the wall time per job and each latency. */
async function windowed(n: number, window: number, job: () => Promise<void>): Promise<{ msPerJob: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = process.hrtime.bigint();
  const lane = async (): Promise<void> => {
    while (next < n) {
      next++;
      const start = process.hrtime.bigint();
      await job();
      latencies.push(since(start));
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, lane));
  return { msPerJob: since(t0) / n, latencies };
}

export async function measureBatch(ctx: BenchContext, piscina: Piscina, options: { rounds: number; jobs: number }): Promise<Record<string, number[]>> {
  const { host, artifact, helloWasm } = ctx;
  let checked = 0;
  const cases: Record<string, () => Promise<unknown>> = {
    [BATCH.warden]: async () => {
      const { output } = await host.execute(artifact, HELLO_INPUT);
      // Every output has the right length; a sample of them the right bytes.
      if (output.byteLength !== 13 || checked++ % 997 === 0) expectHello(Buffer.from(output).toString(), 'warden');
    },
    [BATCH.piscina]: () => piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: true } satisfies PiscinaTask),
    [BATCH.piscinaCompile]: () => piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: false } satisfies PiscinaTask),
  };
  // Warmed by one batch of the measured size, every case alike: a first batch of 20,000 is a third
  // slower for warden than the next ones (its host code meets the deep queue and the heap grows
  // for the first time), which a 500-job warm-up does not cover.
  for (const job of Object.values(cases)) await batch(options.jobs, job);
  const samples = await interleave(
    options.rounds,
    Object.fromEntries(Object.entries(cases).map(([name, job]) => [name, async (): Promise<Metrics> => ({ jobsPerSecond: await batch(options.jobs, job) })])),
    { settleMs: 200, progress: 'row 2 throughput' },
  );
  return Object.fromEntries(Object.keys(cases).map((name) => [name, samples[name]!.jobsPerSecond!]));
}

export interface FreshResult {
  /** Per case: wall time per job of each round, ms. */
  msPerJob: Record<string, number[]>;
  latencies: Record<string, number[]>;
}

export async function measureFresh(ctx: BenchContext, options: { rounds: number; freshJobs: number; warmJobs: number }): Promise<FreshResult> {
  const { host, artifact } = ctx;
  const parallel = host.options.executeWorkers;
  const fresh = async (): Promise<void> => {
    const worker = await host.spawnWorker('execute');
    try {
      expectHello(await executeOn(ctx, worker), 'fresh worker');
    } finally {
      await worker.kill();
    }
  };
  const warm = async (): Promise<void> => {
    const { output } = await host.execute(artifact, HELLO_INPUT);
    if (output.byteLength !== 13) expectHello(Buffer.from(output).toString(), 'warden');
  };
  await windowed(parallel, parallel, fresh);
  await windowed(200, parallel, warm);
  const latencies: Record<string, number[]> = { [FRESH.fresh]: [], [FRESH.warm]: [] };
  const loop = (name: string, n: number, job: () => Promise<void>) => async (): Promise<Metrics> => {
    const r = await windowed(n, parallel, job);
    latencies[name]!.push(...r.latencies);
    return { msPerJob: r.msPerJob };
  };
  const samples = await interleave(
    options.rounds,
    { [FRESH.fresh]: loop(FRESH.fresh, options.freshJobs, fresh), [FRESH.warm]: loop(FRESH.warm, options.warmJobs, warm) },
    { settleMs: 50, progress: 'row 4 fresh process per job' },
  );
  return { msPerJob: { [FRESH.fresh]: samples[FRESH.fresh]!.msPerJob!, [FRESH.warm]: samples[FRESH.warm]!.msPerJob! }, latencies };
}
