/**
 * Isolation between jobs: `isolation: 'job'` (a fresh sandboxed process per job, from warm
 * spares) against reuse (`'worker'`), side by side on trivial hello jobs:
 *   - paced below the spares' refill rate: the spares absorb the process start;
 *   - at saturation: throughput is bounded by starting node (the refill rate).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host } from '../src/index.js';
import { HELLO_INPUT, HELLO_WASM, expectHello, poolsIdle } from './context.js';

export interface IsolationResults {
  /** Per-job latency (ms) of paced jobs, by mode. */
  paced: Record<'worker' | 'job', number[]>;
  /** Jobs per second when all are submitted at once, by mode. */
  saturated: Record<'worker' | 'job', number>;
  pacedRate: number;
  saturatedJobs: number;
}

async function withHost<T>(isolation: 'worker' | 'job', spares: number, use: (host: Host) => Promise<T>): Promise<T> {
  const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-isolation-'));
  const host = await createHost({ cacheDir, executeWorkers: spares, prepareWorkers: 1, isolation });
  try {
    await poolsIdle(host);
    return await use(host);
  } finally {
    await host.close({ force: true });
    await fsp.rm(cacheDir, { recursive: true, force: true });
  }
}

export async function measureIsolation(pacedJobs: number, pacedRate: number, saturatedJobs: number): Promise<IsolationResults> {
  const wasm = new Uint8Array(fs.readFileSync(HELLO_WASM));
  const results: IsolationResults = { paced: { worker: [], job: [] }, saturated: { worker: 0, job: 0 }, pacedRate, saturatedJobs };
  for (const mode of ['worker', 'job'] as const) {
    await withHost(mode, 2, async (host) => {
      const artifact = await host.prepare(wasm);
      // Paced: one job every 1/pacedRate s, each timed on its own.
      for (let i = 0; i < pacedJobs; i++) {
        const start = process.hrtime.bigint();
        const result = await host.execute(artifact, HELLO_INPUT);
        results.paced[mode].push(Number(process.hrtime.bigint() - start) / 1e6);
        expectHello(Buffer.from(result.output).toString(), `isolation ${mode}`);
        await new Promise((resolve) => setTimeout(resolve, 1000 / pacedRate));
      }
      await poolsIdle(host);
      const start = process.hrtime.bigint();
      await Promise.all(Array.from({ length: saturatedJobs }, () => host.execute(artifact, HELLO_INPUT)));
      results.saturated[mode] = saturatedJobs / (Number(process.hrtime.bigint() - start) / 1e9);
    });
  }
  return results;
}
