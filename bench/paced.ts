/**
 * The cost of waking an idle worker: a trivial job one at a time, back to back and after idle
 * gaps, warden (reuse, one execute worker) against piscina (one thread) in the same run, the
 * gaps interleaved. A job that finds its worker idle pays for waking every process and thread
 * on its path; this is the floor under any paced latency, 'job' isolation's included.
 *
 *   npx tsx bench/paced.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { createHost } from './warden.js';
import { HELLO_INPUT, HELLO_WASM, expectHello } from './context.js';
import type { PiscinaTask } from './piscinaTask.js';
import { ms, ratio, sleep, summarize, table } from './stats.js';

const GAPS_MS = [0, 20, 200];

export interface PacedResults {
  /** Latencies (ms) by gap (ms), per peer. */
  warden: Record<number, number[]>;
  piscina: Record<number, number[]>;
}

export async function measurePaced(jobsPerGap = 40, warmUpJobs = 2_000): Promise<PacedResults> {
  const wasm = new Uint8Array(fs.readFileSync(HELLO_WASM));
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-paced-'));
  const host = await createHost({ cacheDir, executeWorkers: 1, prepareWorkers: 1 });
  const piscina = new Piscina({ filename: new URL('./piscinaTask.ts', import.meta.url).href, minThreads: 1, maxThreads: 1, idleTimeout: Infinity });
  const results: PacedResults = { warden: {}, piscina: {} };
  try {
    const artifact = await host.prepare(wasm);
    const peers = {
      warden: async () => expectHello(Buffer.from((await host.execute(artifact, HELLO_INPUT)).output).toString(), 'warden'),
      piscina: async () => {
        const output = (await piscina.run({ wasm, input: HELLO_INPUT, cached: true } satisfies PiscinaTask)) as Uint8Array;
        expectHello(Buffer.from(output).toString(), 'piscina');
      },
    };
    for (let i = 0; i < warmUpJobs; i++) await Promise.all([peers.warden(), peers.piscina()]);
    // Interleaved: every round runs each gap once for each peer, so load changes hit all alike.
    for (let round = 0; round < jobsPerGap; round++) {
      for (const gap of GAPS_MS) {
        for (const peer of ['warden', 'piscina'] as const) {
          // One job first, so that the gap (none: back to back) is measured from this peer's own last job.
          await peers[peer]();
          if (gap > 0) await sleep(gap);
          const start = performance.now();
          await peers[peer]();
          (results[peer][gap] ??= []).push(performance.now() - start);
        }
      }
    }
  } finally {
    await Promise.all([host.close(), piscina.destroy()]);
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
  return results;
}

export function pacedReport(r: PacedResults): string {
  return table(
    ['idle gap before each job', 'warden p50', 'piscina p50', 'warden / piscina'],
    GAPS_MS.map((gap) => {
      const w = summarize(r.warden[gap]).median;
      const p = summarize(r.piscina[gap]).median;
      return [gap === 0 ? 'none (back to back)' : `${gap} ms`, ms(w), ms(p), ratio(w / p)];
    }),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${pacedReport(await measurePaced())}\n`);
}
