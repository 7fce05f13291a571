/**
 * What a prepare costs, end to end (`host.prepare` → the artifact cached), for distinct small
 * modules (the hello example with a custom section naming its round, so nothing is a cache hit):
 * one at a time (each waits for the last), and in bursts of 8. Run per isolation and prepare pool
 * size: `tsx bench/prepareCost.ts [rounds]`. Prints medians and p90s, with the load average.
 * Not part of `npm run bench`: a figure for docs/performance.md, taken on a quiet machine.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost } from './warden.js';

const HELLO = fs.readFileSync(new URL('../examples/build/hello.wasm', import.meta.url));
const rounds = Number(process.argv[2] ?? 30);
let serial = 0;

/** The hello module with a custom section naming `n`: another cache key, the same work. */
function distinct(): Uint8Array {
  const name = Buffer.from(`round-${process.pid}-${serial++}`);
  return Buffer.concat([HELLO, Buffer.from([0, name.length + 1, name.length]), name]);
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(isolation: 'worker' | 'job', prepareWorkers: number): Promise<string> {
  const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-prepare-'));
  const host = await createHost({ cacheDir, prepareWorkers, executeWorkers: 1, isolation });
  try {
    await host.prepare(distinct());
    const one: number[] = [];
    for (let n = 0; n < rounds; n++) {
      // A pause as between callers: a one-job pool has its spare back by then.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const start = performance.now();
      await host.prepare(distinct());
      one.push(performance.now() - start);
    }
    const burst: number[] = [];
    for (let n = 0; n < Math.max(3, rounds / 10); n++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const start = performance.now();
      await Promise.all(Array.from({ length: 8 }, () => host.prepare(distinct())));
      burst.push(performance.now() - start);
    }
    const back: number[] = [];
    for (let n = 0; n < rounds; n++) {
      const start = performance.now();
      await host.prepare(distinct());
      back.push(performance.now() - start);
    }
    const f = (v: number[]) => `median ${quantile(v, 0.5).toFixed(1)} ms, p90 ${quantile(v, 0.9).toFixed(1)} ms`;
    return `isolation ${isolation}, prepareWorkers ${prepareWorkers}: paced ${f(one)}; back to back ${f(back)}; burst of 8 ${f(burst)}`;
  } finally {
    await host.close({ force: true });
    await fsp.rm(cacheDir, { recursive: true, force: true });
  }
}

console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const prepareWorkers of [1, 2]) {
  for (const isolation of ['worker', 'job'] as const) console.log(await measure(isolation, prepareWorkers));
}
console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
