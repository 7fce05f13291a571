/**
 * Row 1: latency of a trivial `run`-ABI execute job (hello.wasm) on warm workers, one job at a
 * time, against piscina running the same wasm work in this process; interleaved by rounds. The
 * same rounds time the steps of warden's path on their own, for the breakdown of the hot path:
 * one worker without the pool, the job as the worker's job thread reports it, and the bare wasm
 * work (instantiate + run) on this thread.
 */
import type { Piscina } from 'piscina';
import { HELLO_INPUT, executeOn, expectHello, type BenchContext } from './context.js';
import type { PiscinaTask } from './piscinaTask.js';
import runTask from './piscinaTask.js';
import { interleave, since, summarize, type Metrics } from './stats.js';

export const LATENCY = {
  warden: 'warden pool, one job at a time',
  piscina: 'piscina, module compiled once per thread',
  piscinaCompile: 'piscina, compile + run per job',
  worker: 'one sandboxed worker without the pool',
  inProcess: 'the wasm work alone, this thread (instantiate + run)',
} as const;

export interface LatencyResult {
  /** Per case: every job's latency, ms. */
  latencies: Record<string, number[]>;
  /** Per case: the p50 of each round, ms. */
  roundP50: Record<string, number[]>;
  /** The job as the warden worker's main thread times it (thread hop + job thread), ms. */
  inWorkerWallMs: number[];
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

export async function measureLatency(ctx: BenchContext, piscina: Piscina, options: { rounds: number; jobs: number }): Promise<LatencyResult> {
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
    [LATENCY.worker]: () => executeOn(ctx, worker),
    [LATENCY.inProcess]: () => runTask({ wasm: helloWasm, input: HELLO_INPUT, cached: true }),
  };
  try {
    // Correctness once, then a warm-up so that no case pays first-use costs inside a round.
    expectHello(Buffer.from((await piscina.run({ wasm: helloWasm, input: HELLO_INPUT, cached: true })) as Uint8Array).toString(), 'piscina');
    expectHello(await executeOn(ctx, worker), 'one worker');
    for (const job of Object.values(cases)) await serial(200, job);
    inWorkerWallMs.length = 0;

    const latencies: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
    const rounds = await interleave(
      options.rounds,
      Object.fromEntries(
        Object.entries(cases).map(([name, job]) => [
          name,
          async (): Promise<Metrics> => {
            const xs = await serial(options.jobs, job);
            latencies[name]!.push(...xs);
            return { p50: summarize(xs).median };
          },
        ]),
      ),
      { settleMs: 20, progress: 'row 1 latency' },
    );
    const roundP50 = Object.fromEntries(Object.keys(cases).map((name) => [name, rounds[name]!.p50!]));
    return { latencies, roundP50, inWorkerWallMs };
  } finally {
    await worker.kill();
  }
}
