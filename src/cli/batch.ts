import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Artifact } from '../artifactHandle.js';
import { WardenError } from '../errors.js';
import type { ExecuteOptions, ExecuteResult, Host } from '../host.js';
import { DEFAULT_LIMITS } from '../options.js';
import { UsageError, commonHelp, commonOptions, parseDuration, requirePositionals } from './args.js';
import { readNamedFile, readStdin } from './files.js';
import { encodeBytes, table } from './format.js';
import { withHost } from './session.js';

export const batchHelp = `Usage: warden batch <jobs.ndjson | -> [--json] [--workers N] [--timeout 2s]

Runs many jobs from a file of JSON lines, one job a line:

  {"id": "a", "module": "hello.wasm", "input": "world"}
  {"id": "b", "module": "upper.wasm", "inputFile": "in.txt", "priority": "high"}

Fields: module (required, a path), at most one of input (text), inputFile (a path) or
inputBase64; id (default: the line number), priority, timeoutMs, fuel, isolation
(worker|job), abi (run|wasi). Paths are relative to the jobs file's dir (to the current dir for "-",
stdin). Each distinct module is read and prepared once. Blank lines are skipped; a bad line
fails as its own job (E_BATCH_LINE) and the others run.

A progress bar is drawn on stderr when it is a terminal. At the end a summary counts the
jobs per outcome (success or the error code).

Options:
  --json             print one JSON result per line on stdout as jobs finish
                     ({ id, line, ok, output, outputEncoding, ... } or { id, line, ok: false,
                     code, message, ... }); the summary goes to stderr then
  --workers N        execute workers (default: ${defaultWorkers()}, the CPUs of this machine)
  --timeout T        CPU time each execution may use unless its line says (timeoutMs):
                     500ms, 2s, 1m or a number of ms (default: ${DEFAULT_LIMITS.executeTimeoutMs}ms)
${commonHelp}

Exit code: 0 when every job succeeded, 1 when any failed, 2 for a usage error.`;

/** A line that is not a job: not JSON, not an object, a missing or ill-typed field, a repeated id. CLI-only. */
export class BatchLineError extends WardenError {
  readonly code = 'E_BATCH_LINE';
  readonly deterministic = true;
}

/** One line of the jobs file, checked. */
interface BatchJob {
  id: string;
  line: number;
  module: string;
  input: { text: string } | { file: string } | { base64: string } | undefined;
  options: ExecuteOptions;
}

type BatchResult = { id: string; line: number } & ({ ok: true; result: ExecuteResult } | { ok: false; error: WardenError });

const FIELDS = new Set(['id', 'module', 'input', 'inputFile', 'inputBase64', 'priority', 'timeoutMs', 'fuel', 'isolation', 'abi']);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function defaultWorkers(): number {
  return os.availableParallelism();
}

/** `warden batch`: runs the jobs of a file on one host, reports each and a summary. */
export async function batchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...commonOptions, json: { type: 'boolean' }, workers: { type: 'string' }, timeout: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${batchHelp}\n`);
    return 0;
  }
  const [file] = requirePositionals(positionals, ['jobs.ndjson']) as [string];
  const workers = values.workers === undefined ? defaultWorkers() : parseCount('workers', values.workers);
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration('timeout', values.timeout);
  const text = Buffer.from(file === '-' ? await readStdin() : await readNamedFile('jobs file', file)).toString('utf8');
  const jobs = parseJobs(text, file === '-' ? process.cwd() : path.dirname(path.resolve(file)));

  const started = performance.now();
  const progress = process.stderr.isTTY ? new Progress(jobs.length) : undefined;
  // Counts only: a result (its output) is dropped once reported, so memory stays flat however many jobs.
  const outcomes = new Map<string, number>();
  const report = (result: BatchResult): void => {
    const outcome = result.ok ? 'success' : result.error.code;
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    progress?.count(result.ok);
    if (values.json) process.stdout.write(`${JSON.stringify(resultJson(result))}\n`);
    else if (!result.ok && progress) progress.print(`${failureLine(result)}\n`);
    else if (!result.ok) process.stderr.write(`${failureLine(result)}\n`);
  };
  const session = { cacheDir: values['cache-dir'], allowInsecure: values['allow-insecure'], executeWorkers: workers };
  try {
    await withHost(session, (host) => runJobs(host, jobs, { lanes: workers * 2, timeoutMs, report }));
  } finally {
    progress?.clear();
  }
  const summary = summarize(outcomes, performance.now() - started);
  (values.json ? process.stderr : process.stdout).write(`${summary}\n`);
  return [...outcomes.keys()].every((outcome) => outcome === 'success') ? 0 : 1;
}

function parseCount(option: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${option} expects a positive whole number, got "${text}"`);
  return value;
}

/** Each non-blank line as a job, or as the error that makes it none. */
function parseJobs(text: string, baseDir: string): (BatchJob | BatchResult)[] {
  const ids = new Set<string>();
  const jobs: (BatchJob | BatchResult)[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    const line = index + 1;
    try {
      const job = parseJob(raw, line, baseDir);
      if (ids.has(job.id)) throw new BatchLineError(`the id "${job.id}" was used by an earlier line`, { details: { line } });
      ids.add(job.id);
      jobs.push(job);
    } catch (error) {
      if (!(error instanceof BatchLineError)) throw error;
      jobs.push({ id: idOf(raw) ?? String(line), line, ok: false, error });
    }
  }
  return jobs;
}

/** The id of a bad line, if it has a usable one, so its failure can still be matched. */
function idOf(raw: string): string | undefined {
  try {
    const id = (JSON.parse(raw) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

function parseJob(raw: string, line: number, baseDir: string): BatchJob {
  const bad = (message: string): BatchLineError => new BatchLineError(message, { details: { line } });
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw bad(`not JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('expected a JSON object');
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((name) => !FIELDS.has(name));
  if (unknown.length > 0) throw bad(`unknown field ${unknown.map((n) => `"${n}"`).join(', ')} (fields: ${[...FIELDS].join(', ')})`);
  const string = (name: string): string | undefined => {
    const field = fields[name];
    if (field !== undefined && typeof field !== 'string') throw bad(`"${name}" must be a string`);
    return field;
  };
  const module = string('module');
  if (!module) throw bad('"module" (the path of a module) is missing');
  const inputs = (['input', 'inputFile', 'inputBase64'] as const).filter((name) => fields[name] !== undefined);
  if (inputs.length > 1) throw bad(`give at most one of input, inputFile and inputBase64, got ${inputs.join(', ')}`);
  const base64 = string('inputBase64');
  if (base64 !== undefined && !BASE64.test(base64)) throw bad('"inputBase64" is not base64');
  const input = string('input');
  const inputFile = string('inputFile');
  // The values of priority, timeoutMs, fuel, isolation and abi are the host's to check (E_INVALID_OPTION).
  const options = Object.fromEntries(['priority', 'timeoutMs', 'fuel', 'isolation', 'abi'].filter((name) => fields[name] !== undefined).map((name) => [name, fields[name]]));
  return {
    id: string('id') ?? String(line),
    line,
    module: path.resolve(baseDir, module),
    input: input !== undefined ? { text: input } : inputFile !== undefined ? { file: path.resolve(baseDir, inputFile) } : base64 !== undefined ? { base64 } : undefined,
    options: options as ExecuteOptions,
  };
}

/**
 * Runs the jobs, `lanes` at a time (enough to keep every worker busy, far below the queue
 * bound), each module read and prepared once; reports each result as it comes.
 */
async function runJobs(
  host: Host,
  jobs: (BatchJob | BatchResult)[],
  { lanes, timeoutMs, report }: { lanes: number; timeoutMs: number | undefined; report: (result: BatchResult) => void },
): Promise<void> {
  const artifacts = new Map<string, Promise<Artifact>>();
  const artifactOf = (module: string): Promise<Artifact> => {
    let artifact = artifacts.get(module);
    if (!artifact) {
      artifact = readNamedFile('module', module).then((code) => host.prepare(code));
      artifacts.set(module, artifact);
    }
    return artifact;
  };
  let next = 0;
  const lane = async (): Promise<void> => {
    // A closed host (SIGINT, SIGTERM) runs nothing more: the command ends as interrupted.
    while (next < jobs.length && !host.closed) {
      const job = jobs[next++]!;
      report('ok' in job ? job : await runJob(host, job, artifactOf, timeoutMs));
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, jobs.length) }, lane));
}

async function runJob(host: Host, job: BatchJob, artifactOf: (module: string) => Promise<Artifact>, timeoutMs: number | undefined): Promise<BatchResult> {
  try {
    const artifact = await artifactOf(job.module);
    const input = await inputOf(job);
    const result = await host.execute(artifact, input, { ...(timeoutMs === undefined ? {} : { timeoutMs }), ...job.options });
    return { id: job.id, line: job.line, ok: true, result };
  } catch (error) {
    if (!(error instanceof WardenError)) throw error;
    return { id: job.id, line: job.line, ok: false, error };
  }
}

function inputOf(job: BatchJob): Promise<Uint8Array> {
  const input = job.input;
  if (input === undefined) return Promise.resolve(new Uint8Array(0));
  if ('file' in input) return readNamedFile('input', input.file);
  return Promise.resolve('text' in input ? Buffer.from(input.text, 'utf8') : Buffer.from(input.base64, 'base64'));
}

function resultJson(result: BatchResult): Record<string, unknown> {
  const { id, line } = result;
  if (!result.ok) {
    const { code, message, deterministic, details } = result.error;
    const fuel = typeof details.fuelUsed === 'number' ? { fuelUsed: details.fuelUsed } : {};
    return { id, line, ok: false, code, message, deterministic, ...fuel };
  }
  const { output, log, logTruncated, fuelUsed, cpuTimeMs, wallTimeMs, workerId, attempts } = result.result;
  const out = encodeBytes(output);
  const logText = encodeBytes(log);
  return {
    id,
    line,
    ok: true,
    output: out.text,
    outputEncoding: out.encoding,
    log: logText.text,
    logEncoding: logText.encoding,
    logTruncated,
    fuelUsed,
    cpuTimeMs,
    wallTimeMs,
    workerId,
    attempts,
  };
}

function failureLine(result: BatchResult & { ok: false }): string {
  return `warden batch: job ${result.id} (line ${result.line}): ${result.error.code}: ${result.error.message}`;
}

/** `N jobs in T s: S succeeded, F failed` and a table of jobs per outcome: success, then the codes, most frequent first. */
function summarize(counts: Map<string, number>, elapsedMs: number): string {
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
  const succeeded = counts.get('success') ?? 0;
  const rank = ([outcome, n]: [string, number]): number => (outcome === 'success' ? Infinity : n);
  const rows = [...counts].sort((a, b) => rank(b) - rank(a) || a[0].localeCompare(b[0])).map(([outcome, n]) => [outcome, String(n)]);
  const head = `${total} jobs in ${(elapsedMs / 1000).toFixed(1)}s: ${succeeded} succeeded, ${total - succeeded} failed`;
  return rows.length === 0 ? head : `${head}\n\n${table(['outcome', 'jobs'], rows)}`;
}

/** A one-line progress bar on stderr (a terminal), redrawn at most every 100 ms. */
class Progress {
  #done = 0;
  #failed = 0;
  #drawnAt = 0;

  constructor(readonly total: number) {
    this.#draw();
  }

  count(ok: boolean): void {
    this.#done++;
    if (!ok) this.#failed++;
    if (this.#done === this.total || performance.now() - this.#drawnAt >= 100) this.#draw();
  }

  /** Writes a line above the bar. */
  print(text: string): void {
    process.stderr.write(`\r\x1b[K${text}`);
    this.#draw();
  }

  clear(): void {
    process.stderr.write('\r\x1b[K');
  }

  #draw(): void {
    this.#drawnAt = performance.now();
    const width = 30;
    const filled = this.total === 0 ? width : Math.round((this.#done / this.total) * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    process.stderr.write(`\r\x1b[K[${bar}] ${this.#done}/${this.total}  failed ${this.#failed}`);
  }
}
