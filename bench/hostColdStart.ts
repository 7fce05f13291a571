/**
 * Row 3: cold start of a whole host: `createHost` → the first execute job done (its artifact
 * already in the disk cache, as after any earlier run), against plain `node -e 0` (spawn →
 * exit), interleaved by rounds. The host is closed after each round, untimed. The same rounds
 * time one sandboxed worker of a warm host from its spawn to Ready (the handshake answered).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost } from './warden.js';
import { HELLO_INPUT, HELLO_WASM, expectHello, type BenchContext } from './context.js';
import { timeToExit } from './sandbox.js';
import { interleave, since, sleep, type Metrics } from './stats.js';

export const COLD = {
  host: 'createHost → first job done',
  node: 'node -e 0 (spawn → exit)',
  worker: 'a worker: spawnWorker → Ready',
} as const;

export async function measureHostColdStart(ctx: BenchContext, rounds: number): Promise<Record<string, Record<string, number[]>>> {
  const code = new Uint8Array(fs.readFileSync(HELLO_WASM));
  const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-cold-'));
  const executeWorkers = ctx.host.options.executeWorkers;
  const hostOnce = async (): Promise<Metrics> => {
    const t0 = process.hrtime.bigint();
    const host = await createHost({ cacheDir, executeWorkers, prepareWorkers: 1 });
    const created = since(t0);
    try {
      const result = await host.execute(code, HELLO_INPUT);
      const ms = since(t0);
      expectHello(Buffer.from(result.output).toString(), 'cold host');
      return { ms, createHost: created };
    } finally {
      await host.close({ force: true });
    }
  };
  try {
    // The first host prepares the artifact into the cache; every timed one finds it there.
    await hostOnce();
    await timeToExit(ctx.plan.node, ['-e', '0'], { cwd: ctx.plan.cwd });
    await sleep(200);
    return await interleave(
      rounds,
      {
        [COLD.host]: hostOnce,
        [COLD.node]: async () => ({ ms: await timeToExit(ctx.plan.node, ['-e', '0'], { cwd: ctx.plan.cwd }) }),
        [COLD.worker]: async () => {
          const t0 = process.hrtime.bigint();
          const worker = await ctx.host.spawnWorker('execute');
          const ms = since(t0);
          await worker.kill();
          return { ms };
        },
      },
      { settleMs: 100, progress: 'row 3 cold start' },
    );
  } finally {
    await fsp.rm(cacheDir, { recursive: true, force: true });
  }
}
