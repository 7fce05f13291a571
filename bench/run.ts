/**
 * warden's benchmark: `npm run bench` (builds first). Measures, against peers in the same run:
 *   1. the floor of this machine (socket, thread message, link + unlink),
 *   2. cold start of a sandboxed worker vs `node -e 0`, and where its time goes,
 *   3. idle memory of a worker,
 *   4. throughput and latency of trivial jobs vs piscina and vs a fresh process per job,
 *   5. an investigation of what would make a cold start cheaper (flags, bundles, code cache,
 *      snapshot, the job thread, each sandbox layer).
 * Every headline is a median over interleaved runs (the machine is shared and noisy); the spread
 * is the interquartile range with the extremes. Results print to stdout; a JSON copy goes to
 * .bench-output/results.json (gitignored).
 *
 * Options: --rounds N (cold start rounds, default 25), --jobs N (default 2000), --fresh N
 * (default 30), --quick (fewer of everything), --no-investigate.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OUTPUT_DIR, createContext, destroyContext, type BenchContext } from './context.js';
import { CASES, attribute, measureColdStart } from './coldStart.js';
import { FLOORS, measureFloor } from './floor.js';
import { PEERS as MEMORY_PEERS, STATES, measureMemory } from './memory.js';
import type { ProcMemory } from './procfs.js';
import { PEERS, measureThroughput } from './throughput.js';
import { BASELINE, investigate } from './investigate.js';
import { measureIsolation } from './isolation.js';
import { deltaMs, mb, ms, ratio, spread, summarize, table } from './stats.js';

const COLD_START_TARGET = 1.2;
const MEMORY_TARGET_MB = 60;

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string' },
    jobs: { type: 'string' },
    fresh: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-investigate': { type: 'boolean', default: false },
  },
});
const quick = args.quick ?? false;
const rounds = Number(args.rounds ?? (quick ? 15 : 25));
const jobs = Number(args.jobs ?? (quick ? 1000 : 2000));
const freshJobs = Number(args.fresh ?? 30);

const summary: string[] = [];
const results: Record<string, unknown> = {};
const out = (text = '') => process.stdout.write(`${text}\n`);
const heading = (text: string) => out(`\n${text}\n${'='.repeat(text.length)}`);

function header(ctx: BenchContext): void {
  const cpus = os.cpus();
  const status = ctx.host.securityStatus;
  out('warden benchmark');
  out(`node ${process.version}, linux ${os.release()}, ${os.availableParallelism()} CPUs (${cpus[0]?.model ?? 'unknown'}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  out(`sandbox: ${status.secure ? 'complete' : 'INCOMPLETE'} — ${Object.entries(status.layers).map(([k, v]) => `${k} ${v ? 'on' : 'OFF'}`).join(', ')}`);
  out('Medians over interleaved runs (peers alternate, order shuffled every round); spread = p25 – p75 (min, max).');
}

async function floor(ctx: BenchContext): Promise<void> {
  heading('1. The floor on this machine');
  const samples = await measureFloor(ctx, quick ? 2000 : 5000);
  const reference: Record<string, string> = {
    [FLOORS.unixSocket]: '~20 µs',
    [FLOORS.workerThread]: '~25 µs',
    [FLOORS.linkUnlink]: '~7 µs',
    [FLOORS.wardenPing]: '',
    [FLOORS.dirWork]: '',
  };
  out(
    table(
      ['operation', 'median', 'spread', 'n', 'DESIGN §5 reference'],
      Object.entries(samples).map(([name, xs]) => {
        const s = summarize(xs);
        return [name, ms(s.median), spread(s), String(s.n), reference[name] ?? ''];
      }),
    ),
  );
  const median = (name: string) => ms(summarize(samples[name]!).median);
  summary.push(
    `floor: unix socket round trip ${median(FLOORS.unixSocket)}, worker_threads round trip ${median(FLOORS.workerThread)}, link + unlink ${median(FLOORS.linkUnlink)} (DESIGN §5: ~20 µs, ~25 µs, ~7 µs)`,
  );
  results.floor = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
}

async function coldStart(ctx: BenchContext): Promise<{ ratio: number; samples: Awaited<ReturnType<typeof measureColdStart>> }> {
  heading(`2. Cold start (${rounds} interleaved rounds)`);
  const samples = await measureColdStart(ctx, rounds);
  const node = summarize(samples[CASES.node]!.ms!);
  const rows = Object.values(CASES).map((name) => {
    const s = samples[name]!;
    const main = summarize(s.ms!);
    const cpu = s.cpu ? summarize(s.cpu).median : Number.NaN;
    return [name, ms(main.median), spread(main), String(main.n), ratio(main.median / node.median), Number.isFinite(cpu) ? ms(cpu) : ''];
  });
  out(table(['case', 'median', 'spread', 'n', 'vs node -e 0', 'worker CPU'], rows));
  const warden = summarize(samples[CASES.warden]!.ms!);
  const firstJob = summarize(samples[CASES.wardenFirstJob]!.ms!);
  const coldRatio = warden.median / node.median;
  out();
  out(`cold start ratio = median(spawnWorker → pong) / median(node -e 0) = ${ms(warden.median)} / ${ms(node.median)} = ${ratio(coldRatio)}`);
  out(
    `  (quartile bounds: ${ratio(warden.p25 / node.p75)} – ${ratio(warden.p75 / node.p25)}; by hand, without the host: ${ratio(summarize(samples[CASES.manual]!.ms!).median / node.median)})`,
  );
  out(
    `ready for work = spawnWorker → first execute result: ${ms(firstJob.median)} = ${ratio(firstJob.median / node.median)} node -e 0 ` +
      `(the job thread starts after the handshake: +${ms(summarize(samples[CASES.wardenFirstJob]!.jobAfterHandshake!).median)} after Ready)`,
  );
  out();
  out('Where the time goes (medians of per-round differences):');
  out(table(['part', 'ms', 'measured as'], attribute(samples).map((a) => [a.label, ms(a.ms), a.how])));
  results.coldStart = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([m, xs]) => [m, summarize(xs)]))]));
  summary.push(`cold start ratio ${ratio(coldRatio)} (target ≤ ${COLD_START_TARGET}×): ${coldRatio <= COLD_START_TARGET ? 'MET' : 'MISSED'}`);
  return { ratio: coldRatio, samples };
}

async function memory(ctx: BenchContext): Promise<void> {
  const workers = quick ? 3 : 5;
  heading(`3. Idle memory (${workers} workers, each with both peers after it)`);
  const result = await measureMemory(ctx, workers);
  const median = (xs: ProcMemory[], key: keyof ProcMemory) => summarize(xs.map((x) => x[key])).median;
  const idleNode = median(result.peers[MEMORY_PEERS.node]!, 'rss');
  const row = (name: string, node: ProcMemory[], monitor: ProcMemory[] | undefined, total: ProcMemory[]): string[] => {
    const rss = summarize(total.map((x) => x.rss));
    return [
      name,
      mb(median(node, 'rss')),
      monitor ? mb(median(monitor, 'rss')) : '',
      mb(rss.median),
      `${mb(rss.min)} – ${mb(rss.max)}`,
      mb(median(total, 'pss')),
      mb(median(total, 'uss')),
      String(median(node, 'threads')),
      ratio(rss.median / idleNode),
    ];
  };
  const rows = [
    ...Object.values(STATES).map((state) => {
      const w = result.worker[state]!;
      return row(`worker ${state}`, w.node, w.monitor, w.total);
    }),
    ...Object.values(MEMORY_PEERS).map((peer) => row(peer, result.peers[peer]!, undefined, result.peers[peer]!)),
  ];
  out(table(['process', 'node VmRSS', 'monitor', 'total VmRSS', 'min – max', 'PSS', 'USS', 'threads', 'vs idle node'], rows));
  out("RSS counts node's shared text in every worker; PSS shares it out; USS is what one more worker costs.");
  const idle = summarize(result.worker[STATES.idle]!.total.map((x) => x.rss)).median;
  const oneJob = summarize(result.worker[STATES.oneJob]!.total.map((x) => x.rss)).median;
  const handshake = summarize(result.worker[STATES.handshake]!.total.map((x) => x.rss)).median;
  const verdict = (bytes: number) => (bytes / (1024 * 1024) <= MEMORY_TARGET_MB ? 'MET' : 'MISSED');
  summary.push(
    `idle memory after the handshake ${mb(idle)} once its job thread is up (${mb(handshake)} at the Ready itself) (target ≤ ${MEMORY_TARGET_MB} MB): ${verdict(idle)}`,
  );
  summary.push(`idle memory after one execute job ${mb(oneJob)} (target ≤ ${MEMORY_TARGET_MB} MB): ${verdict(oneJob)}`);
  results.memory = result;
}

async function throughput(ctx: BenchContext): Promise<void> {
  const window = 4;
  const tRounds = quick ? 3 : 5;
  heading(`4. Throughput and latency of trivial jobs (hello.wasm, run ABI; ${tRounds} interleaved rounds)`);
  const result = await measureThroughput(ctx, { jobs, freshJobs, serialJobs: quick ? 200 : 500, rounds: tRounds, window });
  const warden = summarize(result.peers[PEERS.warden]!.jobsPerSecond).median;
  const rows = Object.values(PEERS).map((name) => {
    const p = result.peers[name]!;
    const tput = summarize(p.jobsPerSecond);
    const lat = summarize(p.latencies);
    const inFlight = name === PEERS.fresh ? String(ctx.host.options.executeWorkers) : name.includes('one at a time') || name.includes('one job at a time') ? '1' : String(window);
    return [name, String(p.jobs), inFlight, tput.median.toFixed(0), `${tput.min.toFixed(0)} – ${tput.max.toFixed(0)}`, ms(lat.median), ms(lat.p99), ratio(tput.median / warden)];
  });
  out(table(['peer', 'jobs', 'in flight', 'jobs/s', 'rounds min – max', 'p50', 'p99', 'vs warden pool'], rows));
  out('Latency is submit → result; for a fresh process per job it is spawn → result (the kill after it counts in jobs/s only).');
  const inWorker = summarize(result.inWorkerWallMs);
  out(`inside the warden worker (its job thread, as the worker reports it): p50 ${ms(inWorker.median)}, p99 ${ms(inWorker.p99)}`);
  const p50 = (name: string) => summarize(result.peers[name]!.latencies).median;
  out('Where one job at a time spends its time (p50s):');
  out(
    table(
      ['part', 'ms'],
      [
        ['pool, queue, machines, events (warden serial − one worker without the pool)', deltaMs(p50(PEERS.wardenSerial) - p50(PEERS.workerSerial))],
        ['IPC, frames, worker main thread, dir link/clear (one worker − inside the worker)', deltaMs(p50(PEERS.workerSerial) - inWorker.median)],
        ['the job thread: artifact check, clamp, compile, WASI imports, CPU watch (inside − piscina serial)', deltaMs(inWorker.median - p50(PEERS.piscinaSerial))],
        ['piscina serial: the same wasm work + a thread hop', ms(p50(PEERS.piscinaSerial))],
      ],
    ),
  );
  const piscina = summarize(result.peers[PEERS.piscina]!.jobsPerSecond).median;
  const fresh = summarize(result.peers[PEERS.fresh]!.jobsPerSecond).median;
  summary.push(
    `throughput ${warden.toFixed(0)} jobs/s, p50 ${ms(summarize(result.peers[PEERS.warden]!.latencies).median)}: ${ratio(warden / piscina)} piscina, ${ratio(warden / fresh)} a fresh process per job (no target)`,
  );
  results.throughput = {
    ...Object.fromEntries(Object.entries(result.peers).map(([k, v]) => [k, { jobsPerSecond: summarize(v.jobsPerSecond), latency: summarize(v.latencies) }])),
    inWorkerWallMs: inWorker,
  };
}

async function investigation(ctx: BenchContext, coldRatio: number, hostBookkeeping: number): Promise<void> {
  const iRounds = quick ? 10 : 15;
  heading(`5. Investigation: what a cold start is made of, and what would change it (${iRounds} interleaved rounds)`);
  out(`Cold start ratio ${ratio(coldRatio)}. Each row is the worker started by hand (launcher → node → Hello → Ready → Ping → Pong → one`);
  out('execute job), with ONE change against the shipped baseline; Δ = median of per-round differences (negative = faster).');
  const inv = await investigate(ctx, iRounds);
  const rows = inv.rows.map((r) => [
    r.name,
    ms(r.ready),
    r.kind === 'baseline' ? '' : deltaMs(r.readyDelta),
    ms(r.pong),
    r.kind === 'baseline' ? '' : deltaMs(r.pongDelta),
    ms(r.firstJob),
    r.kind === 'baseline' ? '' : deltaMs(r.firstJobDelta),
    ms(r.cpu),
    inv.codeCache[r.name] ?? '',
    r.note ?? '',
  ]);
  out(table(['variant', 'spawn → Ready', 'Δ', 'spawn → pong', 'Δ', 'spawn → 1st job', 'Δ', 'CPU', 'builtins code cache', 'note'], rows));
  for (const [name, why] of Object.entries(inv.skipped)) out(`  not measured: ${name}: ${why}`);

  if (inv.jobThread.length > 0) {
    out();
    out('The job thread alone, outside the sandbox (start it → first hello result), interleaved:');
    const base = summarize(inv.jobThread[0]!.ms).median;
    out(
      table(
        ['job thread', 'median', 'spread', 'Δ vs shipped', 'RSS it adds'],
        inv.jobThread.map((j, i) => {
          const s = summarize(j.ms);
          return [j.name, ms(s.median), spread(s), i === 0 ? '' : deltaMs(s.median - base), mb(summarize(j.rss).median)];
        }),
      ),
    );
  }

  if (inv.micro.length > 0) {
    out();
    out('Two facts behind the entry rows (separate node processes, interleaved):');
    out(
      table(
        ['what', 'median', 'spread'],
        inv.micro.map((m) => {
          const s = summarize(m.ms);
          return [m.name, ms(s.median), spread(s)];
        }),
      ),
    );
  }

  if (inv.memory.length > 0) {
    out();
    out('Memory of a worker started by hand, idle after one job (node + monitor, median of 3):');
    const base = inv.memory.find((m) => m.name === BASELINE)?.rss ?? Number.NaN;
    out(
      table(
        ['variant', 'VmRSS', 'Δ', 'PSS', 'USS'],
        inv.memory.map((m) => [m.name, mb(m.rss), m.name === BASELINE ? '' : `${m.rss - base >= 0 ? '+' : '−'}${mb(Math.abs(m.rss - base))}`, mb(m.pss), mb(m.uss)]),
      ),
    );
    const best = inv.memory.filter((m) => m.name !== BASELINE).sort((a, b) => a.rss - b.rss)[0];
    if (best) {
      const met = best.rss / (1024 * 1024) <= MEMORY_TARGET_MB;
      summary.push(`projected idle memory after one job with ${best.name}: ${mb(best.rss)} (target ≤ ${MEMORY_TARGET_MB} MB): ${met ? 'would be MET' : 'still MISSED'}`);
    }
  }

  if (inv.combined) {
    const c = inv.combined;
    const node = summarize(c.node).median;
    out();
    out('Everything that helped, together (the entries best by pong and by Ready, and the plain ESM bundle; plus the flags that gained on both pong and first job):');
    const rows = c.rows.map((r) => {
      const ready = summarize(r.ready).median;
      const pong = summarize(r.pong).median;
      return [r.name, ms(ready), ratio(ready / node), ms(pong), ratio(pong / node), ratio((pong + hostBookkeeping) / node), ms(summarize(r.firstJob).median)];
    });
    rows.push(['node -e 0 (same rounds)', ms(node), '1.00×', '', '', '', '']);
    out(table(['by hand', 'spawn → Ready', 'ratio', 'spawn → pong', 'ratio', '+ host (projected)', 'spawn → 1st job'], rows));
    const projected = c.rows
      .slice(1)
      .map((r) => ({ name: r.name, ratio: (summarize(r.pong).median + hostBookkeeping) / node, ready: summarize(r.ready).median / node }))
      .sort((a, b) => a.ratio - b.ratio)[0];
    if (projected) {
      summary.push(
        `projected cold start ratio with ${projected.name}: ${ratio(projected.ratio)} to the pong, ${ratio(projected.ready)} to the Ready (target ≤ ${COLD_START_TARGET}×): ${projected.ratio <= COLD_START_TARGET ? 'would be MET' : 'still MISSED'}`,
      );
    }
  }
  results.investigation = inv;
}

async function isolation(): Promise<void> {
  heading("6. Isolation between jobs: a fresh process per job ('job') vs reuse ('worker'), 2 workers each");
  const r = await measureIsolation(quick ? 10 : 20, 5, quick ? 30 : 60);
  out(
    table(
      ['mode', `paced at ${r.pacedRate} jobs/s: p50`, 'p99', 'spread', `saturated (${r.saturatedJobs} at once): jobs/s`],
      (['worker', 'job'] as const).map((mode) => {
        const s = summarize(r.paced[mode]);
        return [mode, ms(s.median), ms(s.p99), spread(s), r.saturated[mode].toFixed(1)];
      }),
    ),
  );
  const job = summarize(r.paced.job);
  results.isolation = r;
  summary.push(
    `'job' isolation: p50 ${ms(job.median)} paced at ${r.pacedRate} jobs/s (target ≤ 2 ms): ${job.median <= 2 ? 'MET' : 'MISSED'}; ` +
      `saturated ${r.saturated.job.toFixed(1)} jobs/s vs ${r.saturated.worker.toFixed(0)} jobs/s in reuse`,
  );
}

async function main(): Promise<void> {
  const started = Date.now();
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  const ctx = await createContext(2);
  try {
    header(ctx);
    await floor(ctx);
    const cold = await coldStart(ctx);
    await memory(ctx);
    await throughput(ctx);
    if (!args['no-investigate']) {
      const bookkeeping = attribute(cold.samples).find((a) => a.label.startsWith('host bookkeeping'))?.ms ?? 0;
      await investigation(ctx, cold.ratio, bookkeeping);
    }
  } finally {
    await destroyContext(ctx);
  }
  await isolation();
  heading('Summary');
  for (const line of summary) out(line);
  out(`(${((Date.now() - started) / 1000).toFixed(0)} s; JSON copy in ${path.relative(process.cwd(), path.join(OUTPUT_DIR, 'results.json'))})`);
  fs.writeFileSync(path.join(OUTPUT_DIR, 'results.json'), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
