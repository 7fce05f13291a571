/**
 * Priming with more than one artifact: `isolation: 'job'` jobs paced one every 200 ms on two
 * warm spares, all of one artifact (hello), of two in turn (hello, upper) or of four in turn
 * (more than the workers: priming stops, `Pool.#primingPays`), interleaved by rounds. Each refill is primed with its pool's latest artifact (docs/architecture.md,
 * "Priming"), while the other spare keeps the one it holds: prints the p50 of each case, and
 * how many jobs found their artifact in their spare (ASSIGN with `populated`).
 *
 * `npx tsx bench/primingMix.ts [jobsPerRound] [rounds]`
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { createHost } from './warden.js';
import { PACKAGE_ROOT } from '../src/sandbox/paths.js';
import { HELLO_WASM, poolsIdle } from './context.js';
import { ms, since, sleep, summarize } from './stats.js';

const jobsPerRound = Number(process.argv[2] ?? 12);
const rounds = Number(process.argv[3] ?? 3);
const GAP_MS = 200;

let populated = 0;
const inspect = (event: InspectionEvent): void => {
  if (event.type !== '@xstate.event') return;
  const sent = event.event as { type: string; populated?: boolean };
  if (sent.type !== 'ASSIGN' || sent.populated !== true) return;
  const { context } = (event.actorRef as AnyActorRef).getSnapshot() as { context: { kind?: string } };
  if (context.kind === 'execute') populated++;
};

const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-priming-'));
const host = await createHost({ cacheDir, executeWorkers: 2, prepareWorkers: 1, isolation: 'job', inspect });
try {
  await poolsIdle(host);
  const hello = await host.prepare(new Uint8Array(fs.readFileSync(HELLO_WASM)));
  const upper = await host.prepare(new Uint8Array(fs.readFileSync(path.join(PACKAGE_ROOT, 'examples', 'build', 'upper.wasm'))));
  const more = await Promise.all(['calc', 'wordcount'].map((name) => host.prepare(new Uint8Array(fs.readFileSync(path.join(PACKAGE_ROOT, 'examples', 'build', `${name}.wasm`))))));
  const four = [hello, upper, ...more];
  const input = Buffer.from('abc');
  const cases = {
    'one artifact': () => hello,
    'two in turn': (i: number) => (i % 2 === 0 ? upper : hello),
    // More artifacts in turn than workers: a primed copy is never the next job's.
    'four in turn': (i: number) => four[i % 4]!,
  };
  const samples: Record<string, { latency: number[]; ready: number }> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, pick] of Object.entries(cases)) {
      const entry = (samples[name] ??= { latency: [], ready: 0 });
      for (let i = 0; i < jobsPerRound; i++) {
        await sleep(GAP_MS);
        const before = populated;
        const start = process.hrtime.bigint();
        // (calc may refuse this input: a job all the same.)
        await host.execute(pick(i), input).catch(() => {});
        entry.latency.push(since(start));
        entry.ready += populated - before;
      }
    }
  }
  for (const [name, { latency, ready }] of Object.entries(samples)) {
    const s = summarize(latency);
    process.stdout.write(`${name}: p50 ${ms(s.median)}, p99 ${ms(s.p99)}; ${ready} of ${latency.length} jobs found their artifact in their spare\n`);
  }
} finally {
  await host.close({ force: true });
  await fsp.rm(cacheDir, { recursive: true, force: true });
}
