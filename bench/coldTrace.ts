/**
 * Where row 3's time goes: `createHost` → first job, with timestamps along the way (the host
 * resolved, each worker's handshake, the job's reply) and the pieces timed alone in the same
 * rounds (the security check, `node -e 0`), interleaved. Variants with fewer workers booting at
 * once show what the others' boots cost the first job.
 *
 * `npx tsx bench/coldTrace.ts [rounds]`
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createHost, type HostOptions } from './warden.js';
import { checkSecurity } from '../src/sandbox/security.js';
import { HELLO_INPUT, HELLO_WASM, expectHello } from './context.js';
import { interleave, ms, since, summarize, table, type Metrics } from './stats.js';

const rounds = Number(process.argv[2] ?? 8);
const code = new Uint8Array(fs.readFileSync(HELLO_WASM));
const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-coldtrace-'));

async function hostOnce(options: HostOptions): Promise<Metrics> {
  const t0 = process.hrtime.bigint();
  const host = await createHost({ cacheDir, ...options });
  const created = since(t0);
  const ready: Record<string, number> = {};
  host.on('worker:spawned', (e) => {
    ready[e.kind] ??= since(t0);
  });
  try {
    const result = await host.execute(code, HELLO_INPUT);
    const total = since(t0);
    expectHello(Buffer.from(result.output).toString(), 'cold host');
    return {
      ms: total,
      createHost: created,
      firstExecuteReady: ready.execute,
      firstPrepareReady: ready.prepare,
      jobWall: result.wallTimeMs,
    };
  } finally {
    await host.close({ force: true });
  }
}

function nodeStart(): Promise<Metrics> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { env: {}, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve({ ms: since(t0) }));
  });
}

await hostOnce({ executeWorkers: 1, prepareWorkers: 1 });
const samples = await interleave(
  rounds,
  {
    'host, 2 execute + 1 prepare': () => hostOnce({ executeWorkers: 2, prepareWorkers: 1 }),
    'host, 1 execute + 1 prepare': () => hostOnce({ executeWorkers: 1, prepareWorkers: 1 }),
    'security check alone': async () => {
      const t0 = process.hrtime.bigint();
      await checkSecurity(cacheDir, {});
      return { ms: since(t0) };
    },
    'node -e 0': nodeStart,
  },
  { settleMs: 150, progress: 'cold trace' },
);
await fsp.rm(cacheDir, { recursive: true, force: true });
const rows: string[][] = [];
for (const [name, metrics] of Object.entries(samples)) {
  for (const [metric, values] of Object.entries(metrics)) {
    const finite = values.filter((v) => Number.isFinite(v));
    if (finite.length === 0) continue;
    const s = summarize(finite);
    rows.push([name, metric, ms(s.median), `${ms(s.p25)} – ${ms(s.p75)}`, String(finite.length)]);
  }
}
process.stdout.write(`${table(['case', 'metric', 'median', 'quartiles', 'n'], rows)}\n`);
