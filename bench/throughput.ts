/**
 * Row 2: throughput of a batch of trivial jobs (hello.wasm) submitted all at once, on a pool of
 * one sandboxed worker per core, against piscina (one thread per core) given the same jobs.
 * Row 4: a fresh sandboxed process per job (the bubblewrap/nsjail way: spawn the launcher, one
 * job, kill) against the warm pool, at the same parallelism. Both interleaved by rounds.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
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

/** Row 2's machine check: warden and piscina again, every core kept out of halt (`measureBatchAwake`). */
export const AWAKE = {
  warden: 'warden pool, cores kept awake',
  piscina: 'piscina, cores kept awake',
} as const;

export async function measureBatch(
  ctx: BenchContext,
  piscina: Piscina,
  options: { rounds: number; jobs: number; only?: Array<keyof typeof BATCH>; progress?: string },
): Promise<Record<string, number[]>> {
  const { host, artifact, helloWasm } = ctx;
  let checked = 0;
  const all: Record<keyof typeof BATCH, () => Promise<unknown>> = {
    warden: async () => {
      const { output } = await host.execute(artifact, HELLO_INPUT);
      // Every output has the right length; a sample of them the right bytes.
      if (output.byteLength !== 13 || checked++ % 997 === 0) expectHello(Buffer.from(output).toString(), 'warden');
    },
    piscina: () => piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: true } satisfies PiscinaTask),
    piscinaCompile: () => piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: false } satisfies PiscinaTask),
  };
  const keys = options.only ?? (Object.keys(BATCH) as Array<keyof typeof BATCH>);
  const cases: Record<string, () => Promise<unknown>> = Object.fromEntries(keys.map((key) => [BATCH[key], all[key]]));
  // Warmed by one batch of the measured size, every case alike: a first batch of 20,000 is a third
  // slower for warden than the next ones (its host code meets the deep queue and the heap grows
  // for the first time), which a 500-job warm-up does not cover.
  for (const job of Object.values(cases)) await batch(options.jobs, job);
  const samples = await interleave(
    options.rounds,
    Object.fromEntries(Object.entries(cases).map(([name, job]) => [name, async (): Promise<Metrics> => ({ jobsPerSecond: await batch(options.jobs, job) })])),
    { settleMs: 200, progress: options.progress ?? 'row 2 throughput' },
  );
  return Object.fromEntries(Object.keys(cases).map((name) => [name, samples[name]!.jobsPerSecond!]));
}

/**
 * Row 2 again for warden and piscina with every core kept out of halt: one `chrt -i 0` spinner per
 * core (SCHED_IDLE: it runs only when no other task wants the core, so it takes next to no CPU
 * from the host, the workers or piscina's threads; what it changes is that a core with nothing
 * to run spins instead of halting). On a VM, waking a halted virtual core costs the waker an exit
 * to the hypervisor; the difference between the two runs is that cost. Undefined where `chrt`
 * cannot start a SCHED_IDLE process.
 */
export async function measureBatchAwake(ctx: BenchContext, piscina: Piscina, options: { rounds: number; jobs: number }): Promise<Record<string, number[]> | undefined> {
  const spinners = Array.from({ length: os.availableParallelism() }, () =>
    spawn('chrt', ['-i', '0', process.execPath, '-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  try {
    const started = await Promise.all(
      spinners.map(
        (child) =>
          new Promise<boolean>((resolve) => {
            child.once('error', () => resolve(false));
            child.once('exit', () => resolve(false));
            // Still running after a moment: chrt set the policy and the spinner runs.
            setTimeout(() => resolve(child.exitCode === null && child.pid !== undefined), 300);
          }),
      ),
    );
    if (!started.every(Boolean)) return undefined;
    const r = await measureBatch(ctx, piscina, { ...options, only: ['warden', 'piscina'], progress: 'row 2, cores kept awake' });
    return { [AWAKE.warden]: r[BATCH.warden]!, [AWAKE.piscina]: r[BATCH.piscina]! };
  } finally {
    for (const child of spinners) child.kill('SIGKILL');
  }
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
