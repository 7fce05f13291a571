import { isUtf8 } from 'node:buffer';
import { WardenError } from '../errors.js';

/** A text table with a dashed rule under the header; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Aligned `name  value` lines. */
export function fields(entries: [string, string][]): string {
  const width = Math.max(...entries.map(([name]) => name.length));
  return entries.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
}

/** `553 B`, `86.6 KiB`, `1.0 GiB`. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A date to the second, UTC: `2025-01-31T12:00:00Z`. */
export function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** Bytes for JSON: text when they are valid UTF-8, base64 otherwise, and which one it is. */
export function encodeBytes(bytes: Uint8Array): { text: string; encoding: 'utf8' | 'base64' } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8(buffer) ? { text: buffer.toString('utf8'), encoding: 'utf8' } : { text: buffer.toString('base64'), encoding: 'base64' };
}

/** A duration for JSON and text: milliseconds to 0.1 ms (`22.080619999999954` → `22.1`). */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * Ends the line on a terminal when `bytes` did not: raw bytes stay raw in a pipe or a file,
 * while a person's prompt does not glue to `Hello, world!`.
 */
export function endLineOnTerminal(stream: NodeJS.WriteStream, bytes: Uint8Array): void {
  if (stream.isTTY && bytes.byteLength > 0 && bytes[bytes.byteLength - 1] !== 0x0a) stream.write('\n');
}

export function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * With `--json`, a typed failure is printed as `{ ok: false, error }` on stdout (and the usual
 * line on stderr) and the command exits 1; anything else goes on to main.
 */
export function reportJsonFailure(error: unknown): number {
  if (!(error instanceof WardenError)) throw error;
  const fuel = typeof error.details.fuelUsed === 'number' ? { fuelUsed: error.details.fuelUsed } : {};
  writeJson({ ok: false, error: { code: error.code, message: error.message, deterministic: error.deterministic, ...fuel } });
  process.stderr.write(`warden: ${error.code}: ${error.message}\n`);
  return 1;
}
