/**
 * Small statistics and table helpers for the benchmark: medians and quantiles over many runs
 * (the machine is shared and noisy, so no mean is ever the headline), and plain-text tables.
 */

export interface Summary {
  n: number;
  median: number;
  p25: number;
  p75: number;
  p99: number;
  min: number;
  max: number;
}

/** Linear-interpolated quantile of an already sorted array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Quantiles of the finite samples (failed runs are NaN and left out; none at all gives NaN). */
export function summarize(samples: readonly number[] | undefined): Summary {
  const sorted = (samples ?? []).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    p99: quantile(sorted, 0.99),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Milliseconds, with a unit that keeps 3 significant digits (µs below 1 ms). */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) < 1) return `${(value * 1000).toPrecision(3)} µs`;
  if (Math.abs(value) < 100) return `${value.toFixed(2)} ms`;
  return `${value.toFixed(1)} ms`;
}

/** A signed difference in milliseconds: `+3.21 ms`. */
export function deltaMs(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return `${value >= 0 ? '+' : '−'}${ms(Math.abs(value))}`;
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a';
}

export function mb(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / (1024 * 1024)).toFixed(1)} MB` : 'n/a';
}

/** The interquartile range and the extremes, as one cell. */
export function spread(s: Summary, unit: (x: number) => string = ms): string {
  return `${unit(s.p25)} – ${unit(s.p75)} (min ${unit(s.min)}, max ${unit(s.max)})`;
}

/** A plain-text table; numeric-looking cells are right-aligned. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = /^[-+−]?[\d.,]+\s*(µs|ms|MB|×|%|jobs\/s|s)?$/;
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (numeric.test(cell) && i > 0 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Shuffles in place (Fisher–Yates): peers run in a different order every round. */
export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export const sleep = (msToWait: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, msToWait));

/** Elapsed milliseconds since a `process.hrtime.bigint()` reading. */
export function since(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** One run of a case: named metrics in ms (the first one is the case's headline). */
export type Metrics = Record<string, number | undefined>;

/**
 * Runs every named case once per round, in a shuffled order each round, and collects each
 * metric per case: peers see the same machine conditions (interleaved, not back to back).
 * Round `i` of every case is sample `i` of its arrays, so paired differences can be taken.
 */
export async function interleave(
  rounds: number,
  cases: Record<string, () => Promise<Metrics>>,
  options: { settleMs?: number; progress?: string } = {},
): Promise<Record<string, Record<string, number[]>>> {
  const samples: Record<string, Record<string, number[]>> = Object.fromEntries(Object.keys(cases).map((name) => [name, {}]));
  for (let round = 0; round < rounds; round++) {
    for (const name of shuffle(Object.keys(cases))) {
      // One failed run (the machine is shared: a concurrent build can swap files under a worker)
      // is a missing sample, counted as `failed`, not the end of the benchmark.
      let metrics: Metrics;
      try {
        metrics = await cases[name]!();
      } catch (error) {
        const first = !samples[name]!.failed?.some((x) => x === 1);
        if (first) process.stderr.write(`warning: a run of "${name}" failed: ${(error as Error).message.split('\n')[0]}\n`);
        metrics = { failed: 1 };
      }
      // Every metric array of a case holds exactly one entry per round (NaN where a run had none).
      const own = samples[name]!;
      for (const metric of new Set([...Object.keys(own), ...Object.keys(metrics)])) {
        (own[metric] ??= Array.from({ length: round }, () => Number.NaN)).push(metrics[metric] ?? Number.NaN);
      }
      if (options.settleMs) await sleep(options.settleMs);
    }
    if (options.progress && process.stderr.isTTY) process.stderr.write(`\r${options.progress}: round ${round + 1}/${rounds}   `);
  }
  if (options.progress && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  return samples;
}

/** Median of the per-round differences `a[i] - b[i]` (robust to drift shared by both). */
export function pairedDelta(a: readonly number[] | undefined, b: readonly number[] | undefined): number {
  if (!a || !b) return Number.NaN;
  const diffs: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) diffs.push(a[i]! - b[i]!);
  return summarize(diffs).median;
}
