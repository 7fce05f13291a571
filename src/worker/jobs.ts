import fs from 'node:fs';
import path from 'node:path';
import type {
  ExecuteEndHeader,
  ExecuteReply,
  ExecuteRequest,
  JobFailureHeader,
  JobRequestIsolation,
  JobUsage,
  PrepareReply,
  PrepareRequest,
  PrimeRequest,
  WorkerInfo,
} from '../protocol/messages.js';
import { WorkerDirFile } from '../sandbox/workerDirFiles.js';
import { loadAddon } from '../shared/addon.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../shared/limits.js';
import { WARM_UP_INPUT, WARM_UP_MODULE } from './jobs/warmUpModule.js';
import { JobRunner } from './jobRunner.js';
import { JobAbort, type JobSignal } from './jobBounds.js';
import { InlineRunner } from './inlineRunner.js';
import { jobMemory, preloadModule } from './jobs/execute.js';
import type { ExecuteEnd } from './jobs/task.js';
import { BufferPool } from './bufferPool.js';

/**
 * Job handling on the worker's main thread: reads what the host put in the worker dir, runs
 * the job on the job thread and returns the reply for the host. Runs inside the sandbox.
 */
let runner: Promise<JobRunner> | undefined;

/**
 * Big buffers kept from job to job (bufferPool.ts): the frames' bodies the channel gathers, the
 * artifact read, the output store. They go to the job thread with a job and come back with its
 * reply, and back here once the reply is written.
 */
export const pool = new BufferPool();

/** CPU time the warm-up may take: generous, a loaded machine must not fail it. */
const DEFAULT_WARM_UP_CPU_MS = 10_000;

/** A prepare worker's job thread, started once (at Hello, so that its boot overlaps the handshake). */
export function jobRunner(info: WorkerInfo): Promise<JobRunner> {
  runner ??= startRunner(info);
  return runner;
}

/** Starts the thread before its first await: the caller's next steps overlap the thread's boot. */
async function startRunner(info: WorkerInfo): Promise<JobRunner> {
  const started = new JobRunner({
    maxOldGenerationSizeMb: info.limits.jobHeapMb,
    stackSizeMb: info.limits.jobStackMb,
    // Worker threads refuse per-process flags such as --openssl-config.
    execArgv: [],
  });
  await warmUp(started);
  return started;
}

/**
 * Prepares the warm-up module through the whole job path of this (main) thread, as a real job
 * would: its first run compiles this side's code (the runner, the reply), about a millisecond a
 * one-job process would otherwise pay on its only job. (A prepare worker runs no execute: an
 * execute worker warms its own path, `warmUpExecute`.) A failure is left for the first real job
 * to meet.
 */
async function warmUp(started: JobRunner): Promise<void> {
  await started.run(
    { kind: 'prepare', code: new Uint8Array(WARM_UP_MODULE), limits: DEFAULT_PREPARE_LIMITS, paramsHash: '0'.repeat(64) },
    { cpuTimeLimitMs: DEFAULT_WARM_UP_CPU_MS },
  );
}

/** What a reply's body is written from, and the buffers to give back to the pool once it is written. */
export interface ReplyBody {
  parts: Uint8Array[];
  release: ArrayBuffer[];
}

/** An execute worker's runner: its jobs run on this, the main, thread. */
let inline: InlineRunner | undefined;

/**
 * The warm-up module already prepared, base64: put in the worker's bundle by the build
 * (scripts/bundle.mjs); absent when these sources run unbundled (the test suite's processes).
 */
declare const __WARDEN_WARM_UP_ARTIFACT__: string | undefined;

/** The execute warm-up while it runs: a job waits for it (it is what the job would do first anyway). */
let warming: Promise<void> | undefined;

/**
 * Runs the warm-up module once through this thread's job path (an execute worker, just after
 * Ready): the first job then finds warden's own code compiled, and what node sets up on first use
 * done (in a fresh one-job process it was measured on its only job: the file calls that read an
 * artifact ~0.4 ms). The file read is the worker's own entry, which it can always read. A failure
 * is left for the first real job to meet.
 */
export function warmUpExecute(info: WorkerInfo): void {
  const encoded = typeof __WARDEN_WARM_UP_ARTIFACT__ === 'string' ? __WARDEN_WARM_UP_ARTIFACT__ : undefined;
  if (encoded === undefined) return;
  try {
    pool.give(readArtifact(process.argv[1]!, undefined).buffer as ArrayBuffer);
  } catch {
    // Only a cost: the first job pays it.
  }
  const task = { kind: 'execute', artifact: Buffer.from(encoded, 'base64'), input: new Uint8Array(WARM_UP_INPUT), abi: 'run', limits: DEFAULT_EXECUTE_LIMITS } as const;
  warming = inlineRunner(info)
    .run(task, { cpuTimeLimitMs: DEFAULT_WARM_UP_CPU_MS, signal: new JobAbort() })
    .then(
      (result) => {
        // What a reply is built from, warmed too.
        if (result.ok && result.kind === 'execute') {
          executeBody(result);
          endHeader(result);
        }
        jobMemory.scrub();
      },
      () => {},
    )
    .finally(() => {
      warming = undefined;
    });
}

/** A Prime's load while it runs: a job waits for it (it is what the job would do first anyway). */
let priming: Promise<void> | undefined;

/**
 * Loads the artifact copy the dir holds before a job names it (`MessageType.Prime`, an idle
 * spare): its file opened and read, its checksum checked and its module compiled, as the job
 * would do first. The job that names the same copy then reads it again from the open file, finds
 * the same bytes and the module compiled. After the warm-up and any earlier Prime. A failure is
 * left for the job to meet (it reads and checks the file again).
 */
export function primeExecute(info: WorkerInfo, request: PrimeRequest): void {
  const copy = request.artifactCopy;
  const maxPages = request.maxMemoryPages;
  if (!Number.isSafeInteger(copy) || !Number.isSafeInteger(maxPages) || maxPages < 0) return;
  const load = async (): Promise<void> => {
    const artifact = readArtifact(path.join(info.dir, WorkerDirFile.artifact), copy);
    try {
      await preloadModule(artifact, maxPages);
    } finally {
      pool.give(artifact.buffer as ArrayBuffer);
    }
  };
  const current: Promise<void> = (priming ?? warming ?? Promise.resolve())
    .then(load)
    .catch(() => {})
    .finally(() => {
      if (priming === current) priming = undefined;
    });
  priming = current;
}

/** The execute runner, made once (at Hello: it sets this thread's stack limit for the jobs). */
export function inlineRunner(info: WorkerInfo): InlineRunner {
  inline ??= new InlineRunner({ stackSizeMb: info.limits.jobStackMb });
  return inline;
}

/**
 * The execute runner and, in a one-job process, nothing else reachable: the job's artifact is
 * open and its input in its frame, and the worker's code is all loaded (one bundle), so
 * `lockdownJob` goes on at once.
 */
function inlineFor(info: WorkerInfo, request: JobRequestIsolation): InlineRunner {
  const runner = inlineRunner(info);
  if (request.isolation === 'job' && info.layers.seccomp) loadAddon().lockdownJob();
  return runner;
}

/**
 * The job thread (a prepare worker's), ready to run the job, and, in a one-job process, nothing else reachable:
 * once the job's files are read or opened, `lockdownJob` makes every later open, create,
 * change or socket fail (EACCES). The thread must have loaded its code first (it opens files
 * to do so). A reused worker skips it: it must still open the next job's artifact.
 */
async function runnerFor(info: WorkerInfo, request: JobRequestIsolation): Promise<JobRunner> {
  const runner = await jobRunner(info);
  if (request.isolation === 'job' && info.layers.seccomp) {
    await runner.ready();
    loadAddon().lockdownJob();
  }
  return runner;
}

/** A job's times (none when it never ran) and the process' peak memory so far, for its reply. */
function usage(times: { cpuTimeMs: number; wallTimeMs: number } = { cpuTimeMs: 0, wallTimeMs: 0 }): JobUsage {
  return { cpuTimeMs: times.cpuTimeMs, wallTimeMs: times.wallTimeMs, peakRssBytes: loadAddon().peakRssBytes() };
}

/**
 * The longest failure message a reply carries. Messages can quote the module (an import's
 * name): cut, the reply's header stays far below the host's header bound (16 KiB, escaping
 * included), which a longer one would break.
 */
const MAX_MESSAGE_CHARS = 1024;

/** A failure as a reply carries it: its message bounded. */
function failed(failure: JobFailureHeader, times: JobUsage): { ok: false; failure: JobFailureHeader } & JobUsage {
  const message = failure.message.length > MAX_MESSAGE_CHARS ? `${failure.message.slice(0, MAX_MESSAGE_CHARS)}…` : failure.message;
  const kept: JobFailureHeader = { code: failure.code, message, deterministic: failure.deterministic };
  if (failure.exitCode !== undefined) kept.exitCode = failure.exitCode;
  if (failure.fuelUsed !== undefined) kept.fuelUsed = failure.fuelUsed;
  return { ok: false, failure: kept, ...times };
}

/** A full disk (ENOSPC) or the file size limit (EFBIG) is about the machine, not the code, and not a reason for this worker to die. */
function cacheIoFailure(error: unknown, times: JobUsage): PrepareReply {
  return failed({ code: 'E_CACHE_IO', message: `cannot write tmp-artifact: ${(error as Error).message}`, deterministic: false }, times);
}

export async function runPrepare(info: WorkerInfo, request: PrepareRequest, code: Uint8Array): Promise<PrepareReply> {
  // tmp-artifact exists (the host created it): open it without O_CREAT, the worker has no
  // right to create files. Opened before the job runs: a one-job process opens nothing after.
  let fd: number;
  try {
    fd = fs.openSync(path.join(info.dir, WorkerDirFile.tmpArtifact), fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  } catch (error) {
    return cacheIoFailure(error, usage());
  }
  try {
    const result = await (await runnerFor(info, request)).run(
      {
        kind: 'prepare',
        code,
        limits: request.limits,
        paramsHash: request.paramsHash,
        ...(request.compileTimeoutMs === undefined ? {} : { compileTimeoutMs: request.compileTimeoutMs }),
      },
      { cpuTimeLimitMs: request.cpuTimeLimitMs },
    );
    const times = usage(result);
    if (!result.ok) return failed(result.failure, times);
    if (result.kind !== 'prepare') throw new Error('the job runner answered a prepare with an execute result');
    try {
      fs.writeSync(fd, result.artifact);
    } catch (error) {
      return cacheIoFailure(error, times);
    }
    // No export list: it can be as long as the module, and the host reads it from the artifact.
    return { ok: true, artifactBytes: result.artifact.byteLength, moduleBytes: result.moduleBytes, ...times };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The body of an execute reply: the output, the log, then the files section, written one after the
 * other (never concatenated: a 16 MiB output is not copied again); their buffers go back to the
 * pool once written, with those the job thread is done with.
 */
function executeBody(result: ExecuteEnd, returned: ArrayBuffer[] = []): ReplyBody {
  const all = [result.output, result.log, result.files];
  // An empty output can still be a view of the pooled store the job was given: that goes back too.
  return { parts: all.filter((part) => part.byteLength > 0), release: [...returned, ...all.map((part) => part.buffer as ArrayBuffer)] };
}

/**
 * The dir's `artifact`, kept open while jobs name the same copy of it (`artifactCopy`): each job
 * reads it again with one positioned read, instead of an open (a path walk under Landlock), a
 * stat, a read and a close. A read still sees the file as it is now, so a copy changed in place
 * is found by the job thread's checks as before (E_CORRUPTED_ARTIFACT).
 */
let openArtifact: { copy: number; fd: number; size: number } | undefined;

function closeArtifact(): void {
  if (openArtifact === undefined) return;
  const { fd } = openArtifact;
  openArtifact = undefined;
  fs.closeSync(fd);
}

/** The artifact's bytes, read into a pooled buffer (a large module is not fresh memory at every job). */
function readArtifact(file: string, copy: number | undefined): Buffer {
  if (copy !== undefined && openArtifact?.copy === copy) {
    try {
      return readFrom(openArtifact.fd, openArtifact.size);
    } catch (error) {
      closeArtifact();
      throw error;
    }
  }
  closeArtifact();
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  let kept = false;
  try {
    const size = fs.fstatSync(fd).size;
    const bytes = readFrom(fd, size);
    if (copy !== undefined) {
      openArtifact = { copy, fd, size };
      kept = true;
    }
    return bytes;
  } finally {
    if (!kept) fs.closeSync(fd);
  }
}

/** `size` bytes of `fd` from its start (fewer if it ends first), into a pooled buffer. */
function readFrom(fd: number, size: number): Buffer {
  const out = pool.take(size);
  let filled = 0;
  while (filled < size) {
    const n = fs.readSync(fd, out, filled, size - filled, filled);
    if (n === 0) break;
    filled += n;
  }
  return filled === size ? out : out.subarray(0, filled);
}

/** The header fields that say how the body of an execute reply divides. */
function endHeader(end: ExecuteEnd): ExecuteEndHeader {
  const header: ExecuteEndHeader = { outputBytes: end.output.byteLength, logBytes: end.log.byteLength, logTruncated: end.logTruncated, filesBytes: end.files.byteLength };
  if (end.memoryPages !== undefined) header.memoryPages = end.memoryPages;
  if (end.maxMemoryPages !== undefined) header.maxMemoryPages = end.maxMemoryPages;
  return header;
}

/** The answer to an execute withdrawn before it started (JobLine): it never ran, the host runs it elsewhere. */
export function withdrawnReply(): ExecuteReply {
  return { ...failed({ code: 'E_ABORTED', message: 'the job was withdrawn before it started', deterministic: false }, usage()), withdrawn: true };
}

/** Runs one execute job; `signal` (the host's Cancel with `abort`) stops it with E_ABORTED. */
export async function runExecute(
  info: WorkerInfo,
  request: ExecuteRequest,
  input: Uint8Array,
  signal?: JobSignal,
): Promise<{ reply: ExecuteReply; body?: ReplyBody }> {
  if (warming !== undefined) await warming;
  if (priming !== undefined) await priming;
  let artifact: Buffer;
  try {
    artifact = readArtifact(path.join(info.dir, WorkerDirFile.artifact), request.artifactCopy);
  } catch (error) {
    const failure = { code: 'E_CORRUPTED_ARTIFACT', message: `cannot read the artifact: ${(error as Error).message}`, deterministic: false };
    return { reply: failed(failure, usage()) };
  }
  const result = await inlineFor(info, request).run(
    {
      kind: 'execute',
      artifact,
      input,
      ...(request.inputBytes === undefined ? {} : { inputBytes: request.inputBytes }),
      abi: request.abi,
      limits: request.limits,
      fuel: request.fuel,
      ...outputStore(),
    },
    {
      cpuTimeLimitMs: request.cpuTimeLimitMs,
      ...(request.compileTimeoutMs === undefined ? {} : { compileTimeLimitMs: request.compileTimeoutMs }),
      ...(signal ? { signal } : {}),
    },
  );
  const times = usage(result);
  if (!result.ok) {
    // A job that failed while running still says what it wrote before (its output, log and files).
    if (result.partial === undefined) {
      pool.give(...(result.returned ?? []));
      return { reply: failed(result.failure, times) };
    }
    return { reply: { ...failed(result.failure, times), ...endHeader(result.partial) }, body: executeBody(result.partial, result.returned) };
  }
  if (result.kind !== 'execute') throw new Error('the job runner answered an execute with a prepare result');
  return { reply: { ok: true, ...endHeader(result), fuelUsed: result.fuelUsed, ...times }, body: executeBody(result, result.returned) };
}

/** Once a reply is on its way: the job's kept wasm memory is zeroed for the next job meanwhile (jobMemory.ts). */
export function afterReply(): void {
  jobMemory.scrub();
}

/** The pool's largest buffer for the job's output to start in, when the pool holds one. */
function outputStore(): { outputStore?: ArrayBuffer } {
  const store = pool.takeLargest();
  return store === undefined ? {} : { outputStore: store };
}
