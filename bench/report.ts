/**
 * The headline table of the benchmark: one row per comparison of issue 6, each measured side by
 * side with its peer in the same run, with the ratio that matters, the target (issue 13's where it
 * set one: rows 1, 2, 3, 3b, 5 and I1) and the verdict; a row with two peers (row 1: piscina on the
 * same wasm, and on an identity task) is MET only when both of its ratios are.
 * Rendered as plain text (the run's stdout) or as Markdown (docs/performance.md), from a live
 * run or from a saved results.json.
 */
import { table } from './stats.js';

export interface Row {
  /** 1–7: issue 6's comparisons; 'I1', 'I2': the isolation targets. */
  id: number | string;
  what: string;
  /** warden's figure, formatted. */
  warden: string;
  /** The peer's figure, formatted, with the peer's name. */
  peer: string;
  /** The ratio that matters, formatted (or the figure judged, for rows without a peer). */
  ratio: string;
  target: string;
  /** undefined: not measured. */
  met: boolean | undefined;
  /** The floor or fact that bounds this row, when there is one. */
  floor?: string;
}

export interface Floor {
  name: string;
  median: string;
  n: number;
}

export interface Report {
  date: string;
  machine: string;
  /** Load averages (1, 5, 15 min) at the start and the end: the machine is shared. */
  load: string;
  rows: Row[];
  floors: Floor[];
  seconds: number;
}

const verdict = (met: boolean | undefined): string => (met === undefined ? 'n/a' : met ? 'MET' : 'MISSED');

export function textTable(rows: Row[]): string {
  return table(
    ['#', 'what', 'warden', 'peer', 'ratio', 'target', 'verdict'],
    rows.map((r) => [String(r.id), r.what, r.warden, r.peer, r.ratio, r.target, verdict(r.met)]),
  );
}

const cell = (text: string): string => text.replace(/\|/g, '\\|');

function markdownTable(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** The tables of docs/performance.md: the rows, then the floors, with when and where they ran. */
export function markdown(report: Report): string {
  const rows = markdownTable(
    ['#', 'what', 'warden', 'peer (same run)', 'ratio', 'target', 'verdict'],
    report.rows.map((r) => [String(r.id), r.what, r.warden, r.peer, r.ratio, r.target, `**${verdict(r.met)}**`]),
  );
  const floors = markdownTable(
    ['floor', 'median', 'n'],
    report.floors.map((f) => [f.name, f.median, String(f.n)]),
  );
  const bounds = report.rows.filter((r) => r.floor).map((r) => `- row ${r.id}: ${r.floor}`);
  return [
    `Run of ${report.date} (${report.seconds} s): ${report.machine}; load average ${report.load}.`,
    '',
    rows,
    '',
    ...(bounds.length > 0 ? ['What bounds each row:', '', ...bounds, ''] : []),
    floors,
  ].join('\n');
}
