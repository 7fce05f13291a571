import type { ParseArgsConfig } from 'node:util';
import { defaultCacheDir } from '../options.js';

/** A wrong command line: main prints the message and a pointer to `--help`, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The options every command takes, merged into each command's parseArgs config. */
export const commonOptions = {
  'cache-dir': { type: 'string' },
  'allow-insecure': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** The help lines of `commonOptions`, shared by every command's help. */
export const commonHelp = `  --cache-dir DIR    the cache dir (default: ${defaultCacheDir()})
  --allow-insecure   start even when sandbox layers are missing (each is warned about)
  -h, --help         show this help`;

/**
 * The required positionals, in order: a missing one or one too many is a usage
 * error rather than something silently ignored.
 */
export function requirePositionals(positionals: string[], names: readonly string[]): string[] {
  const missing = names.slice(positionals.length);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((n) => `<${n}>`).join(' ')}`);
  const extra = positionals.slice(names.length);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra.map((a) => `"${a}"`).join(' ')}`);
  return positionals;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** `500ms`, `2s`, `1.5s`, `1m` or a bare number of ms, as a positive whole number of ms. */
export function parseDuration(option: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const ms = match ? Number(match[1]) * DURATION_UNITS[match[2] ?? 'ms']! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(`--${option} expects a positive duration such as 500ms, 2s, 1m or a number of ms, got "${text}"`);
  }
  return ms;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** A byte count: `0`, `1048576`, or with a binary suffix `512K`, `64M`, `1G`. */
export function parseByteCount(option: string, text: string): number {
  const match = /^(\d+)([kmg])?$/i.exec(text.trim());
  const bytes = match ? Number(match[1]) * SIZE_UNITS[(match[2] ?? '').toLowerCase()]! : Number.NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new UsageError(`--${option} expects a number of bytes such as 0, 1048576, 512K, 64M or 1G, got "${text}"`);
  }
  return bytes;
}

/** A positive whole number (a count such as fuel), digits only. */
export function parseCount(option: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${option} expects a positive whole number, got "${text}"`);
  return value;
}

/** Checks a value that must be one of a few words. */
export function parseChoice<T extends string>(option: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${option} expects one of ${choices.join(', ')}, got "${text}"`);
  }
  return text as T;
}
