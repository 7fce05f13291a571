/**
 * Throughput and latency of trivial jobs: `host.execute(hello, 'world')` on a pool of 2 sandboxed
 * workers, against piscina (2 threads) running the same job in the same process run, and against
 * a fresh sandboxed process per job (spawnWorker + one job + kill), all interleaved by rounds.
 */
import { Piscina } from 'piscina';
import type { BenchContext } from './context.js';
import { HELLO_INPUT, executeOn, expectHello } from './context.js';
import type { PiscinaTask } from './piscinaTask.js';
import { interleave, since, sleep, type Metrics } from './stats.js';

export const PEERS = {
  warden: 'warden pool (2 sandboxed workers)',
  piscina: 'piscina (2 threads), compile + run per job',
  piscinaCached: 'piscina (2 threads), module compiled once',
  fresh: 'fresh sandboxed process per job',
  wardenSerial: 'warden pool, one job at a time',
  piscinaSerial: 'piscina, one job at a time',
  workerSerial: 'one sandboxed worker without the pool, one at a time',
} as const;

export interface LoopResult {
  jobsPerSecond: number;
  latencies: number[];
}

/** Runs `n` jobs keeping at most `window` in flight; latency is submit → result. */
export async function closedLoop(n: number, window: number, job: () => Promise<void>): Promise<LoopResult> {
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
  return { jobsPerSecond: (n * 1000) / since(t0), latencies };
}

export interface ThroughputResult {
  /** Per peer: jobs/s of each round, and every job's latency. */
  peers: Record<string, { jobsPerSecond: number[]; latencies: number[]; jobs: number }>;
  /** Time the job took inside the warden worker (its job thread), as the worker reports it. */
  inWorkerWallMs: number[];
  window: number;
}

export async function measureThroughput(
  ctx: BenchContext,
  options: { jobs: number; freshJobs: number; serialJobs: number; rounds: number; window: number },
): Promise<ThroughputResult> {
  const { host, artifact, helloWasm } = ctx;
  const threads = host.options.executeWorkers;
  const pool = new Piscina({
    filename: new URL('./piscinaTask.ts', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity,
    concurrentTasksPerWorker: 1,
  });
  const inWorkerWallMs: number[] = [];
  const wardenJob = async (): Promise<void> => {
    const result = await host.execute(artifact, HELLO_INPUT);
    inWorkerWallMs.push(result.wallTimeMs);
    if (result.output.byteLength !== 13) expectHello(Buffer.from(result.output).toString('utf8'), 'warden');
  };
  const piscinaJob = (cached: boolean) => async (): Promise<void> => {
    const task: PiscinaTask = { wasm: helloWasm, input: HELLO_INPUT, cached };
    const output = (await pool.run(task)) as Uint8Array;
    if (output.byteLength !== 13) expectHello(Buffer.from(output).toString('utf8'), 'piscina');
  };
  // The same worker code without the pool, queue and machines: link, request, clear (bench/context.ts).
  const dedicated = await host.spawnWorker('execute');
  const dedicatedJob = async (): Promise<void> => {
    const output = await executeOn(ctx, dedicated);
    if (output.length !== 13) expectHello(output, 'dedicated worker');
  };
  const freshJob = async (): Promise<void> => {
    const worker = await host.spawnWorker('execute');
    try {
      expectHello(await executeOn(ctx, worker), 'fresh worker');
    } finally {
      await worker.kill();
    }
  };

  // Correctness once per peer, then a warm-up so no peer pays its first-use costs in a round.
  expectHello(Buffer.from((await host.execute(artifact, HELLO_INPUT)).output).toString('utf8'), 'warden');
  expectHello(Buffer.from((await pool.run({ wasm: helloWasm, input: HELLO_INPUT, cached: false })) as Uint8Array).toString('utf8'), 'piscina');
  await closedLoop(200, options.window, wardenJob);
  await closedLoop(200, options.window, piscinaJob(false));
  await closedLoop(200, options.window, piscinaJob(true));
  await closedLoop(2, threads, freshJob);
  await closedLoop(200, 1, dedicatedJob);
  inWorkerWallMs.length = 0;
  await sleep(200);

  const perRound = (total: number) => Math.max(1, Math.round(total / options.rounds));
  const latencies: Record<string, number[]> = Object.fromEntries(Object.values(PEERS).map((p) => [p, []]));
  const loop = (name: string, n: number, window: number, job: () => Promise<void>) => async (): Promise<Metrics> => {
    const r = await closedLoop(n, window, job);
    latencies[name]!.push(...r.latencies);
    return { jobsPerSecond: r.jobsPerSecond };
  };
  const samples = await interleave(
    options.rounds,
    {
      [PEERS.warden]: loop(PEERS.warden, perRound(options.jobs), options.window, wardenJob),
      [PEERS.piscina]: loop(PEERS.piscina, perRound(options.jobs), options.window, piscinaJob(false)),
      [PEERS.piscinaCached]: loop(PEERS.piscinaCached, perRound(options.jobs), options.window, piscinaJob(true)),
      // As many processes at once as the pool has workers: the same parallelism.
      [PEERS.fresh]: loop(PEERS.fresh, perRound(options.freshJobs), threads, freshJob),
      [PEERS.wardenSerial]: loop(PEERS.wardenSerial, perRound(options.serialJobs), 1, wardenJob),
      [PEERS.piscinaSerial]: loop(PEERS.piscinaSerial, perRound(options.serialJobs), 1, piscinaJob(false)),
      [PEERS.workerSerial]: loop(PEERS.workerSerial, perRound(options.serialJobs), 1, dedicatedJob),
    },
    { settleMs: 50, progress: 'throughput' },
  );
  await pool.destroy();
  await dedicated.kill();
  const peers: ThroughputResult['peers'] = {};
  for (const name of Object.values(PEERS)) {
    peers[name] = { jobsPerSecond: samples[name]!.jobsPerSecond!, latencies: latencies[name]!, jobs: latencies[name]!.length };
  }
  return { peers, inWorkerWallMs, window: options.window };
}
