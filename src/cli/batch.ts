import os from 'node:os';
import path from 'node:path';
import type { Artifact } from '../artifactHandle.js';
import { ExitError, WardenError } from '../errors.js';
import type { ExecuteOptions, ExecuteResult, Host } from '../host.js';
import { DEFAULT_LIMITS } from '../options.js';
import { UsageError, commonHelp, commonOptions, parseArgs, parseDuration, requirePositionals } from './args.js';
import { readModule, readNamedFile, readStdin } from './files.js';
import { encodeBytes, roundMs, table } from './format.js';
import { failureProducts, filesJson, readJobFiles, writeOutDir } from './jobFiles.js';
import { ProgressBar } from './progress.js';
import { withHost } from './session.js';

export const batchHelp = `Usage: warden batch <jobs.ndjson | -> [--json] [--workers N] [--timeout 2s]

Runs many jobs from a file of JSON lines, one job a line:

  {"id": "a", "module": "hello.wasm", "input": "world"}
  {"id": "b", "module": "upper.wasm", "inputFile": "in.txt", "priority": "high"}

Fields: module (required, a path), at most one of input (text), inputFile (a path) or
inputBase64; id (default: the line number), priority, timeoutMs, fuel, isolation (worker|job),
abi (run|wasi); for WASI modules args (the arguments after argv[0], a list of strings),
env (an object of strings), files (an object: name in the job's directory → a path) and
outDir (where to write the files the module created or changed). Paths are relative to the
jobs file's dir (to the current dir for "-", stdin). Each distinct module is read and
prepared once. Blank lines are skipped; a bad line fails as its own job (E_BATCH_LINE) and
the others run. Ids must be unique, a bad line's too: a repeated id rejects the file
(E_BATCH_LINE) before any job runs.

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
  /** The job directory's files: name → path to read. */
  files: { name: string; file: string }[];
  outDir: string | undefined;
}

type BatchResult = { id: string; line: number } & ({ ok: true; result: ExecuteResult } | { ok: false; error: WardenError });

const FIELDS = new Set(['id', 'module', 'input', 'inputFile', 'inputBase64', 'priority', 'timeoutMs', 'fuel', 'isolation', 'abi', 'args', 'env', 'files', 'outDir']);
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
  const text = Buffer.from(file === '-' ? await readStdin('the jobs') : await readNamedFile('jobs file', file)).toString('utf8');
  const jobs = parseJobs(text, file === '-' ? process.cwd() : path.dirname(path.resolve(file)));

  const started = performance.now();
  // Nothing to run: no host to start (nor sandbox to check, nor cache dir to create).
  if (jobs.length === 0) {
    process.stderr.write(`warden batch: no jobs in ${file === '-' ? 'stdin' : file}\n`);
    (values.json ? process.stderr : process.stdout).write(`${summarize(new Map(), 0)}\n`);
    return 0;
  }
  const progress = process.stderr.isTTY ? new ProgressBar(jobs.length) : undefined;
  // Counts only: a result (its output) is dropped once reported, so memory stays flat however many jobs.
  const outcomes = new Map<string, number>();
  const report = (result: BatchResult): void => {
    const outcome = result.ok ? 'success' : result.error.code;
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    progress?.count(result.ok);
    const json = (): boolean => process.stdout.write(`${JSON.stringify(resultJson(result))}\n`);
    if (values.json && progress) progress.above(json);
    else if (values.json) json();
    else if (!result.ok && progress) progress.print(`${failureLine(result)}\n`);
    else if (!result.ok) process.stderr.write(`${failureLine(result)}\n`);
  };
  const session = { cacheDir: values['cache-dir'], allowInsecure: values['allow-insecure'], executeWorkers: workers };
  try {
    // Only bad lines: their failures need no host.
    if (jobs.every((job) => 'ok' in job)) jobs.forEach((job) => report(job as BatchResult));
    else await withHost(session, (host) => runJobs(host, jobs, { lanes: workers * 2, timeoutMs, report }));
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

/** How many repeated ids the error lists before it says how many more there are. */
const LISTED_DUPLICATES = 5;

/**
 * Each non-blank line as a job, or as the error that makes it none. Ids must be unique across
 * the file, a bad line's included (its failure is reported under its id): a repeated id
 * rejects the whole file before anything runs, since its results could not be told apart.
 */
function parseJobs(text: string, baseDir: string): (BatchJob | BatchResult)[] {
  const firstWithId = new Map<string, { line: number; named: boolean }>();
  const repeats: string[] = [];
  const jobs: (BatchJob | BatchResult)[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    const line = index + 1;
    let job: BatchJob | BatchResult;
    try {
      job = parseJob(raw, line, baseDir);
    } catch (error) {
      if (!(error instanceof BatchLineError)) throw error;
      job = { id: idOf(raw) ?? String(line), line, ok: false, error };
    }
    const named = idOf(raw) !== undefined;
    const first = firstWithId.get(job.id);
    if (first === undefined) firstWithId.set(job.id, { line, named });
    else repeats.push(repeatedId(job.id, { line, named }, first));
    jobs.push(job);
  }
  if (repeats.length > 0) {
    const more = repeats.length > LISTED_DUPLICATES ? `, and ${repeats.length - LISTED_DUPLICATES} more` : '';
    throw new BatchLineError(`ids must be unique, no job was run: ${repeats.slice(0, LISTED_DUPLICATES).join('; ')}${more}`, {
      details: { repeats: repeats.length },
    });
  }
  return jobs;
}

/** Says how a line came to repeat an id: a line that names none has its line number as its id. */
function repeatedId(id: string, line: { line: number; named: boolean }, first: { line: number; named: boolean }): string {
  if (!line.named) return `line ${line.line} names no id, and its line number "${id}" is the id of line ${first.line}`;
  if (!first.named) return `line ${line.line} names the id "${id}", which is line ${first.line}'s line number (it names no id)`;
  return `line ${line.line} repeats the id "${id}" of line ${first.line}`;
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
  const args = fields.args;
  if (args !== undefined && (!Array.isArray(args) || !args.every((arg) => typeof arg === 'string'))) throw bad('"args" must be a list of strings');
  const stringsObject = (name: string): Record<string, string> | undefined => {
    const field = fields[name];
    if (field === undefined) return undefined;
    if (field === null || typeof field !== 'object' || Array.isArray(field) || !Object.values(field).every((v) => typeof v === 'string')) {
      throw bad(`"${name}" must be an object of strings`);
    }
    return field as Record<string, string>;
  };
  const env = stringsObject('env');
  const files = Object.entries(stringsObject('files') ?? {}).map(([name, file]) => ({ name, file: path.resolve(baseDir, file) }));
  const outDir = string('outDir');
  // The values of priority, timeoutMs, fuel, isolation and abi are the host's to check (E_INVALID_OPTION).
  const options = Object.fromEntries(['priority', 'timeoutMs', 'fuel', 'isolation', 'abi'].filter((name) => fields[name] !== undefined).map((name) => [name, fields[name]]));
  return {
    id: string('id') ?? String(line),
    line,
    module: path.resolve(baseDir, module),
    input: input !== undefined ? { text: input } : inputFile !== undefined ? { file: path.resolve(baseDir, inputFile) } : base64 !== undefined ? { base64 } : undefined,
    options: {
      ...(options as ExecuteOptions),
      // argv[0] is the module's path as the line gives it, as `warden run` makes it.
      ...(args !== undefined || env !== undefined || files.length > 0 ? { args: [module, ...((args as string[] | undefined) ?? [])], env: env ?? {} } : {}),
    },
    files,
    outDir: outDir === undefined ? undefined : path.resolve(baseDir, outDir),
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
      artifact = readModule(module).then((code) => host.prepare(code));
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
    const files = job.files.length === 0 ? undefined : await readJobFiles(job.files);
    const result = await host.execute(artifact, input, { ...(timeoutMs === undefined ? {} : { timeoutMs }), ...job.options, ...(files ? { files } : {}) });
    if (job.outDir !== undefined) await writeOutDir(job.outDir, result.files);
    return { id: job.id, line: job.line, ok: true, result };
  } catch (error) {
    if (error instanceof UsageError) return { id: job.id, line: job.line, ok: false, error: new BatchLineError(error.message, { details: { line: job.line } }) };
    if (!(error instanceof WardenError)) throw error;
    const left = failureProducts(error).files;
    if (job.outDir !== undefined && Object.keys(left).length > 0) await writeOutDir(job.outDir, left).catch(() => {});
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
    const products = failureProducts(result.error);
    const failed: Record<string, unknown> = { id, line, ok: false, code, message, deterministic };
    if (result.error instanceof ExitError) failed.exitCode = result.error.exitCode;
    if (typeof details.fuelUsed === 'number') failed.fuelUsed = details.fuelUsed;
    if (products.output.byteLength > 0 || products.log.byteLength > 0) {
      const out = encodeBytes(products.output);
      const logText = encodeBytes(products.log);
      Object.assign(failed, { output: out.text, outputEncoding: out.encoding, log: logText.text, logEncoding: logText.encoding, logTruncated: products.logTruncated });
    }
    return failed;
  }
  const { output, log, logTruncated, fuelUsed, cpuTimeMs, wallTimeMs, workerId, attempts, files, memoryPages } = result.result;
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
    files: filesJson(files),
    memoryPages,
    fuelUsed,
    cpuTimeMs: roundMs(cpuTimeMs),
    wallTimeMs: roundMs(wallTimeMs),
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
