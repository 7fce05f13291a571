import { parseArgs as nodeParseArgs, type ParseArgsConfig } from 'node:util';
import { defaultCacheDir } from '../options.js';

/** A wrong command line: main prints the message and a pointer to `--help`, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `-h, --help`: every command takes it. */
export const helpOption = { help: { type: 'boolean', short: 'h' } } as const satisfies ParseArgsConfig['options'];

/** `--cache-dir`: the commands that use a cache dir (all but `diagram`). */
export const cacheDirOption = { 'cache-dir': { type: 'string' } } as const satisfies ParseArgsConfig['options'];

/**
 * The options of every command that starts a host (run, batch, prepare, inspect), merged
 * into each one's parseArgs config. `--allow-insecure` only means something where a host
 * would refuse to start, so the other commands do not take it (docs/cli.md).
 */
export const commonOptions = {
  ...cacheDirOption,
  'allow-insecure': { type: 'boolean' },
  ...helpOption,
} as const satisfies ParseArgsConfig['options'];

/** The help line of `--cache-dir`. */
export const cacheDirHelp = `  --cache-dir DIR    the cache dir (default: ${defaultCacheDir()})`;

/** The help lines of `commonOptions`, shared by the help of every command that starts a host. */
export const commonHelp = `${cacheDirHelp}
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

type OptionSpec = NonNullable<ParseArgsConfig['options']>[string];

/** `--name`, or `-x` for a short option. */
function spelled(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

/** The edit distance of two short words, a swap of neighbours counting as one edit (`inptu`), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known option closest to an unknown one, if one is close enough to be a typo. */
function suggestion(name: string, options: Record<string, OptionSpec>): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const known of Object.keys(options)) {
    const d = known.startsWith(name) && name.length >= 2 ? 0 : distance(name, known);
    if (d <= (known.length <= 4 ? 1 : 2) && (!best || d < best.d)) best = { name: known, d };
  }
  return best && `--${best.name}`;
}

/** Whether an argument names one of this command's options (`--json`, `--json=x`, `-h`). */
function isKnownOption(arg: string, options: Record<string, OptionSpec>): boolean {
  if (arg.startsWith('--')) return Object.hasOwn(options, arg.slice(2).split('=')[0]!);
  return arg.length === 2 && Object.values(options).some((o) => o.short === arg[1]);
}

/**
 * node:util's `parseArgs` (strict), with the CLI's own usage errors instead of Node's, whose
 * hints are about JavaScript quoting ("place it at the end of the command after '--'") or
 * call a negative number "ambiguous". Every command parses through this, so a new option
 * gets the same messages for free:
 * - an unknown option: `unknown option --bogus`, with the closest known one if it looks
 *   like a typo (`did you mean --input?`);
 * - a value option with no value: `--timeout needs a value`, also when the next argument
 *   is another option (`--input --json`);
 * - a value that starts with a dash is a value (`--timeout -5` reaches the option's own
 *   check, which names what it expects);
 * - a flag given a value: `--json takes no value`;
 * - an argument where the command takes none: `unexpected argument "x"`.
 *
 * @example
 * const { values } = parseArgs({ args: argv, options: { ...commonOptions, json: { type: 'boolean' } }, strict: true, allowPositionals: true });
 */
export function parseArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof nodeParseArgs<T>> {
  const options = (config.options ?? {}) as Record<string, OptionSpec>;
  const args = [...(config.args ?? [])];
  const { tokens } = nodeParseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  // Values that start with a dash, given as the next argument, are passed inline instead
  // (`--timeout=-5`), which strict parseArgs takes as a value.
  const inline = new Map<number, string>();
  for (const token of tokens) {
    if (token.kind === 'positional' && !config.allowPositionals) throw new UsageError(`unexpected argument "${token.value}"`);
    if (token.kind !== 'option') continue;
    const spec = options[token.name];
    if (!spec) {
      const hint = token.rawName.startsWith('--') ? suggestion(token.name, options) : undefined;
      throw new UsageError(`unknown option ${token.rawName}${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
    const name = spelled(token.name);
    if (spec.type === 'boolean') {
      if (token.inlineValue) throw new UsageError(`${name} takes no value, got "${token.rawName}=${token.value}"`);
      continue;
    }
    if (token.value === undefined) throw new UsageError(`${name} needs a value`);
    if (!token.inlineValue && token.value.startsWith('-') && token.value !== '-') {
      if (isKnownOption(token.value, options)) throw new UsageError(`${name} needs a value, got the option ${token.value}`);
      inline.set(token.index, `--${token.name}=${token.value}`);
    }
  }
  const rewritten = args.flatMap((arg, index) => (inline.has(index) ? [inline.get(index)!] : inline.has(index - 1) ? [] : [arg]));
  return nodeParseArgs({ ...config, args: rewritten, strict: true } as T);
}

/**
 * A usage error of node:util's own `parseArgs` (a command that calls it directly rather than
 * this module's) in the same words as ours, without Node's hints about quoting.
 */
export function nodeParseArgsMessage(error: Error & { code?: string }): string {
  // `'--bogus'`, `'-x'`, `'-t, --timeout <value>'`: the long name when there is one.
  const option = /'(?:-\w, )?(-{1,2}[^' ,]+)/.exec(error.message)?.[1] ?? 'an option';
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument "${/'([^']*)'/.exec(error.message)?.[1] ?? ''}"`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(error.message) ? `${option} takes no value` : `${option} needs a value`;
    default:
      return error.message.split('\n')[0]!;
  }
}
