import fsp from 'node:fs/promises';
import path from 'node:path';
import { ExitError, WardenError } from '../errors.js';
import { UsageError, requirePositionals } from './args.js';
import { readNamedFile } from './files.js';
import { encodeBytes, writeJson } from './format.js';

/** `NAME=PATH` of `--file` (or a bare `PATH`, named by its base name). */
export function parseFileOption(text: string): { name: string; file: string } {
  const at = text.indexOf('=');
  if (at === 0) throw new UsageError(`--file expects NAME=PATH or PATH, got "${text}"`);
  if (at === -1) return { name: path.basename(text), file: text };
  const file = text.slice(at + 1);
  if (file === '') throw new UsageError(`--file expects NAME=PATH or PATH, got "${text}"`);
  return { name: text.slice(0, at), file };
}

/** `NAME=VALUE` of `--env`. */
export function parseEnvOption(text: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`--env expects NAME=VALUE, got "${text}"`);
  return [text.slice(0, at), text.slice(at + 1)];
}

/** Reads the files named for the job's directory; the host checks the names and sizes. */
export async function readJobFiles(files: { name: string; file: string }[]): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = Object.create(null);
  for (const { name, file } of files) {
    if (Object.hasOwn(out, name)) throw new UsageError(`--file names "${name}" twice`);
    out[name] = await readNamedFile(`file for ${name}`, file);
  }
  return out;
}

/** A directory the CLI cannot write the job's files into. CLI-only. */
export class OutDirError extends WardenError {
  readonly code = 'E_WRITE_FILE';
  readonly deterministic = false;
}

/**
 * Writes the files a job left into `dir`. The host has checked every name (relative, no `..`), and
 * each target is checked again to stay inside `dir`.
 */
export async function writeOutDir(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  const root = path.resolve(dir);
  for (const [name, data] of Object.entries(files)) {
    const target = path.resolve(root, name);
    if (!target.startsWith(root + path.sep)) throw new OutDirError(`refusing to write ${name}: outside ${root}`, { details: { name } });
    try {
      await fsp.mkdir(path.dirname(target), { recursive: true });
      await fsp.writeFile(target, data);
    } catch (error) {
      throw new OutDirError(`cannot write ${target}: ${(error as Error).message}`, { cause: error, details: { name } });
    }
  }
}

/** Files for JSON: name → `{ data, encoding }`, text when UTF-8, base64 otherwise. */
export function filesJson(files: Record<string, Uint8Array> | undefined): Record<string, { data: string; encoding: 'utf8' | 'base64' }> {
  const out: Record<string, { data: string; encoding: 'utf8' | 'base64' }> = {};
  for (const [name, bytes] of Object.entries(files ?? {})) {
    const { text, encoding } = encodeBytes(bytes);
    Object.defineProperty(out, name, { value: { data: text, encoding }, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** What a failed job had produced, from its error (empty for failures that produced nothing). */
export function failureProducts(error: WardenError): { output: Uint8Array; log: Uint8Array; logTruncated: boolean; files: Record<string, Uint8Array> } {
  const details = error.details as { output?: unknown; log?: unknown; logTruncated?: unknown; files?: unknown };
  return {
    output: details.output instanceof Uint8Array ? details.output : new Uint8Array(0),
    log: details.log instanceof Uint8Array ? details.log : new Uint8Array(0),
    logTruncated: details.logTruncated === true,
    files: (details.files as Record<string, Uint8Array> | undefined) ?? {},
  };
}

/**
 * What a failed job said still reaches the user: its files go to `outDir`, and, without `json`,
 * its output to stdout and its log to stderr, before warden's own error line. With `json`: one
 * object with the error (exit code, fuel used, the node that ran it) and what the job wrote, its
 * files and its memory. `cut`: the bytes may have been cut on the way (a queue's failure record),
 * so say whether the output and the files are whole.
 */
export async function reportFailedJob(error: WardenError, { json, outDir, cut = false }: { json: boolean; outDir: string | undefined; cut?: boolean }): Promise<void> {
  const { output, log, logTruncated, files } = failureProducts(error);
  if (outDir !== undefined && Object.keys(files).length > 0) await writeOutDir(outDir, files);
  if (!json) {
    process.stderr.write(log);
    if (logTruncated) process.stderr.write(`\nwarden: the log was truncated at ${log.byteLength} bytes\n`);
    process.stdout.write(output);
    return;
  }
  const { details } = error;
  const report: Record<string, unknown> = {
    ok: false,
    error: {
      code: error.code,
      message: error.message,
      deterministic: error.deterministic,
      ...(error instanceof ExitError ? { exitCode: error.exitCode } : {}),
      ...(typeof details.fuelUsed === 'number' ? { fuelUsed: details.fuelUsed } : {}),
      ...(typeof details.node === 'string' ? { node: details.node } : {}),
    },
  };
  // A job that ran and failed: what it wrote, its files and its memory.
  if (details.output instanceof Uint8Array) {
    const out = encodeBytes(output);
    const logText = encodeBytes(log);
    Object.assign(report, {
      output: out.text,
      outputEncoding: out.encoding,
      ...(cut ? { outputTruncated: details.outputTruncated === true } : {}),
      log: logText.text,
      logEncoding: logText.encoding,
      logTruncated,
      files: filesJson(files),
      ...(cut ? { filesTruncated: details.filesTruncated === true } : {}),
      memoryPages: details.memoryPages,
      maxMemoryPages: details.maxMemoryPages,
    });
  }
  writeJson(report);
  process.stderr.write(`warden: ${error.code}: ${error.message}\n`);
}

/** What `warden run` and `warden submit` take for a module's job: its path, argv, files and environment. */
export interface ModuleJobArgs {
  modulePath: string;
  /** Everything after `--`: the module's arguments, never warden's. */
  moduleArgs: string[];
  fileOptions: { name: string; file: string }[];
  env: Record<string, string>;
  outDir: string | undefined;
}

/** Reads a module job's positionals and its --file, --env and --out-dir from a parseArgs result (with tokens). */
export function moduleJobArgs(
  argv: string[],
  parsed: { values: { file?: string[]; env?: string[]; 'out-dir'?: string }; positionals: string[]; tokens: { kind: string; index: number }[] },
): ModuleJobArgs {
  const terminator = parsed.tokens.find((token) => token.kind === 'option-terminator')?.index;
  const moduleArgs = terminator === undefined ? [] : argv.slice(terminator + 1);
  const [modulePath] = requirePositionals(parsed.positionals.slice(0, parsed.positionals.length - moduleArgs.length), ['module']) as [string];
  return {
    modulePath,
    moduleArgs,
    fileOptions: (parsed.values.file ?? []).map(parseFileOption),
    env: Object.fromEntries((parsed.values.env ?? []).map(parseEnvOption)),
    outDir: parsed.values['out-dir'],
  };
}
