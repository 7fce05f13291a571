/**
 * Row 5: a compute-heavy module, SHA-256 (AssemblyScript, examples/sha256) over 1 MiB, run by
 * warden on a warm pool against the same module run in this process with raw `WebAssembly`
 * (compiled once, a fresh instance per job, as warden does), one job at a time, interleaved.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/sandbox/paths.js';
import type { BenchContext } from './context.js';
import { serial, serialRounds } from './latency.js';
import runTask from './piscinaTask.js';

export const SHA256_WASM = path.join(PACKAGE_ROOT, 'examples', 'build', 'sha256.wasm');
export const INPUT_BYTES = 1024 * 1024;

export const COMPUTE = {
  warden: 'warden pool',
  raw: 'raw WebAssembly, this process',
} as const;

export interface ComputeResult {
  /** Per case: every job's latency, ms. */
  latencies: Record<string, number[]>;
  /** Per case: the p50 of each round, ms. */
  roundP50: Record<string, number[]>;
  /** The job as warden's worker times it (thread hop + job thread), ms. */
  inWorkerWallMs: number[];
}

export async function measureCompute(ctx: BenchContext, options: { rounds: number; jobs: number }): Promise<ComputeResult> {
  const wasm = new Uint8Array(fs.readFileSync(SHA256_WASM));
  const input = crypto.randomBytes(INPUT_BYTES);
  const expected = crypto.createHash('sha256').update(input).digest('hex');
  const artifact = await ctx.host.prepare(wasm);
  const inWorkerWallMs: number[] = [];
  const check = (output: Uint8Array, who: string) => {
    const digest = Buffer.from(output).toString();
    if (digest !== expected) throw new Error(`${who} computed sha256 ${digest}, expected ${expected}`);
  };
  const cases: Record<string, () => Promise<void>> = {
    [COMPUTE.warden]: async () => {
      const result = await ctx.host.execute(artifact, input);
      inWorkerWallMs.push(result.wallTimeMs);
      check(result.output, 'warden');
    },
    [COMPUTE.raw]: async () => check(await runTask({ wasm, input, cached: true }), 'raw WebAssembly'),
  };
  for (const job of Object.values(cases)) await serial(5, job);
  inWorkerWallMs.length = 0;
  const { latencies, roundP50 } = await serialRounds(cases, { ...options, progress: 'row 5 compute' });
  return { latencies, roundP50, inWorkerWallMs };
}
