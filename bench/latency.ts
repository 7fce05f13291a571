/**
 * Row 1: latency of a trivial `run`-ABI execute job (hello.wasm) on warm workers, one job at a
 * time, against piscina running the same wasm work in this process, and against piscina running
 * an identity task (its own overhead alone); interleaved by rounds. The same rounds time the
 * steps of warden's path on their own, for the breakdown of the hot path: one worker without the
 * pool (its artifact copied once, as the pool keeps it), the job as the worker
 * reports it, and the bare wasm work (instantiate + run) on this thread.
 */
import type { Piscina } from 'piscina';
import { copyArtifact } from '../src/sandbox/workerDir.js';
import { HELLO_INPUT, executeOn, expectHello, requestOn, type BenchContext } from './context.js';
import type { PiscinaTask } from './piscinaTask.js';
import runTask from './piscinaTask.js';
import { threadCpuMs } from './procfs.js';
import { interleave, since, summarize, type Metrics } from './stats.js';

export const LATENCY = {
  warden: 'warden pool, one job at a time',
  piscina: 'piscina, module compiled once per thread',
  piscinaCompile: 'piscina, compile + run per job',
  piscinaIdentity: 'piscina, identity task (returns its input: pool overhead only)',
  worker: 'one sandboxed worker without the pool (artifact kept)',
  inProcess: 'the wasm work alone, this thread (instantiate + run)',
} as const;

/** CPU per job, µs, by where it was spent. */
export interface CpuPerJob {
  /** The host process (all its threads) while the pool ran jobs one at a time. */
  host: number;
  /** The same while it drove one worker without the pool (request and reply; its artifact copied once). */
  hostWithoutPool: number;
  /** The worker's node process while it ran jobs driven without the pool. */
  workerMain: number;
  workerJobThread: number;
  /** V8's platform threads (background compilation, GC) and any other thread. */
  workerOther: number;
}

export interface LatencyResult {
  /** Per case: every job's latency, ms. */
  latencies: Record<string, number[]>;
  /** Per case: the p50 of each round, ms. */
  roundP50: Record<string, number[]>;
  /** The job as the warden worker times it (its run on the main thread, compile excluded), ms. */
  inWorkerWallMs: number[];
  cpu: CpuPerJob;
}

/**
 * CPU a worker's threads used between two readings, by role: the main thread (which runs the jobs)
 * is the process's first; the watchdog its newest (started at the first job, after V8's platform
 * threads).
 */
function workerCpu(before: Map<number, number>, after: Map<number, number>, pid: number): Omit<CpuPerJob, 'host' | 'hostWithoutPool'> {
  const jobThread = Math.max(...after.keys());
  const used = (tid: number) => (after.get(tid) ?? 0) - (before.get(tid) ?? 0);
  let other = 0;
  for (const tid of after.keys()) if (tid !== pid && tid !== jobThread) other += used(tid);
  return { workerMain: used(pid), workerJobThread: used(jobThread), workerOther: other };
}


/** Runs `job` `n` times one after another; returns each latency. */
export async function serial(n: number, job: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await job();
    out.push(since(t0));
  }
  return out;
}

/**
 * Interleaved rounds of `jobs` jobs per case, one at a time: every latency, and the p50 of each
 * round. `around` wraps one case's round (to read CPU counters before and after it).
 */
export async function serialRounds(
  cases: Record<string, () => Promise<unknown>>,
  options: { rounds: number; jobs: number; progress: string; around?: (name: string, run: () => Promise<number[]>) => Promise<number[]> },
): Promise<{ latencies: Record<string, number[]>; roundP50: Record<string, number[]> }> {
  const latencies: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  const around = options.around ?? ((_name: string, run: () => Promise<number[]>) => run());
  const rounds = await interleave(
    options.rounds,
    Object.fromEntries(
      Object.entries(cases).map(([name, job]) => [
        name,
        async (): Promise<Metrics> => {
          const xs = await around(name, () => serial(options.jobs, job));
          latencies[name]!.push(...xs);
          return { p50: summarize(xs).median };
        },
      ]),
    ),
    { settleMs: 20, progress: options.progress },
  );
  return { latencies, roundP50: Object.fromEntries(Object.keys(cases).map((name) => [name, rounds[name]!.p50!])) };
}

export async function measureLatency(
  ctx: BenchContext,
  piscina: Piscina,
  options: { rounds: number; jobs: number; warmUpJobs: number },
): Promise<LatencyResult> {
  const { host, artifact, helloWasm } = ctx;
  const inWorkerWallMs: number[] = [];
  const worker = await host.spawnWorker('execute');
  const cases: Record<string, () => Promise<unknown>> = {
    [LATENCY.warden]: async () => {
      const result = await host.execute(artifact, HELLO_INPUT);
      inWorkerWallMs.push(result.wallTimeMs);
      if (result.output.byteLength !== 13) expectHello(Buffer.from(result.output).toString(), 'warden');
    },
    [LATENCY.piscina]: () => piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: true } satisfies PiscinaTask),
    [LATENCY.piscinaCompile]: () => piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: false } satisfies PiscinaTask),
    [LATENCY.piscinaIdentity]: () => piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: true, identity: true } satisfies PiscinaTask),
    [LATENCY.worker]: () => requestOn(ctx, worker),
    [LATENCY.inProcess]: () => runTask({ wasm: helloWasm, input: HELLO_INPUT, cached: true }),
  };
  try {
    // Correctness once, then a warm-up so that no case pays first-use costs inside a round: a
    // few thousand jobs, as the host's own code takes about 3,000 to reach its optimized steady
    // state (its CPU per job falls from ~680 to ~190 µs over them).
    expectHello(Buffer.from((await piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: true })) as Uint8Array).toString(), 'piscina');
    expectHello(await executeOn(ctx, worker), 'one worker');
    // From here on the worker's dir keeps its copy, as a pool worker's does between jobs of one artifact.
    await copyArtifact(worker.hostDir, ctx.host.cache.pathOf(ctx.artifact.key));
    expectHello(await requestOn(ctx, worker), 'one worker, artifact kept');
    const echoed = (await piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: true, identity: true } satisfies PiscinaTask)) as Uint8Array;
    if (!Buffer.from(echoed).equals(Buffer.from(HELLO_INPUT))) throw new Error('the identity piscina task did not return its input');
    for (const job of Object.values(cases)) await serial(options.warmUpJobs, job);
    inWorkerWallMs.length = 0;

    // CPU summed over the rounds of two cases: the host's around the pool, the worker's threads around the worker alone.
    const hostCpuUs = { [LATENCY.warden]: 0, [LATENCY.worker]: 0 } as Record<string, number>;
    const cpu = { workerMain: 0, workerJobThread: 0, workerOther: 0 };
    const pid = worker.sandboxPid!;
    const around = async (name: string, run: () => Promise<number[]>): Promise<number[]> => {
      if (!(name in hostCpuUs)) return run();
      const start = process.cpuUsage();
      const before = threadCpuMs(pid);
      const xs = await run();
      const host = process.cpuUsage(start);
      hostCpuUs[name]! += host.user + host.system;
      if (name === LATENCY.worker) {
        const used = workerCpu(before, threadCpuMs(pid), pid);
        for (const key of Object.keys(cpu) as (keyof typeof cpu)[]) cpu[key] += used[key];
      }
      return xs;
    };
    const { latencies, roundP50 } = await serialRounds(cases, { ...options, progress: 'row 1 latency', around });
    const jobs = options.rounds * options.jobs;
    const perJobUs = (ms: number) => (ms * 1000) / jobs;
    return {
      latencies,
      roundP50,
      inWorkerWallMs,
      cpu: {
        host: hostCpuUs[LATENCY.warden]! / jobs,
        hostWithoutPool: hostCpuUs[LATENCY.worker]! / jobs,
        workerMain: perJobUs(cpu.workerMain),
        workerJobThread: perJobUs(cpu.workerJobThread),
        workerOther: perJobUs(cpu.workerOther),
      },
    };
  } finally {
    await worker.kill();
  }
}
