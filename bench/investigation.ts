/**
 * `--investigate`: what a worker's cold start is made of and what would change it (flags, bundles,
 * code cache, snapshot, the job thread, each sandbox layer). Slow (several minutes), so it is not
 * part of the default run; see bench/coldStart.ts and bench/investigate.ts for what is measured.
 */
import { CASES, attribute, measureColdStart } from './coldStart.js';
import type { BenchContext } from './context.js';
import { BASELINE, investigate } from './investigate.js';
import { deltaMs, mb, ms, ratio, spread, summarize, table } from './stats.js';

const COLD_START_TARGET = 1.3;
const MEMORY_TARGET_MB = 60;

export interface Section {
  out: (text?: string) => void;
  heading: (text: string) => void;
  summary: string[];
  results: Record<string, unknown>;
  quick: boolean;
}

async function coldStart(ctx: BenchContext, { out, heading, summary, results }: Section, rounds: number): Promise<{ ratio: number; samples: Awaited<ReturnType<typeof measureColdStart>> }> {
  heading(`Investigation: a worker's cold start, spawnWorker → first pong (${rounds} interleaved rounds)`);
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
      `(the job thread starts at Hello; the first result comes +${ms(summarize(samples[CASES.wardenFirstJob]!.jobAfterHandshake!).median)} after Ready)`,
  );
  out();
  out('Where the time goes (medians of per-round differences):');
  out(table(['part', 'ms', 'measured as'], attribute(samples).map((a) => [a.label, ms(a.ms), a.how])));
  results.coldStart = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([m, xs]) => [m, summarize(xs)]))]));
  summary.push(`cold start ratio ${ratio(coldRatio)} (target ≤ ${COLD_START_TARGET}×): ${coldRatio <= COLD_START_TARGET ? 'MET' : 'MISSED'}`);
  return { ratio: coldRatio, samples };
}

async function investigation(ctx: BenchContext, { out, heading, summary, results, quick }: Section, coldRatio: number, hostBookkeeping: number): Promise<void> {
  const iRounds = quick ? 10 : 15;
  heading(`Investigation: what a cold start is made of, and what would change it (${iRounds} interleaved rounds)`);
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


/** The worker's cold start, attributed, then every variant that could make it cheaper. */
export async function runInvestigation(ctx: BenchContext, section: Section): Promise<void> {
  const cold = await coldStart(ctx, section, section.quick ? 15 : 25);
  const bookkeeping = attribute(cold.samples).find((a) => a.label.startsWith('host bookkeeping'))?.ms ?? 0;
  await investigation(ctx, section, cold.ratio, bookkeeping);
}
