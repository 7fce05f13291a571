import os from 'node:os';
import path from 'node:path';
import type { InspectionEvent, Observer } from 'xstate';
import { InvalidOptionError } from './errors.js';
import type { WorkerLimits } from './protocol/messages.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS, type ExecuteLimits, type PrepareLimits } from './shared/limits.js';
import { argsBytes, fileNameProblem, fileSetProblem, maxEncodedBytes, type JobConfig } from './shared/jobFiles.js';
import { maxStackHeightFor } from './shared/meter/stackCapacity.js';

/** Every limit a host applies; all optional in `HostOptions.limits`. */
export interface HostLimits extends PrepareLimits, ExecuteLimits {
  /** CPU time a prepare job may use, ms. Default 10 000. */
  prepareTimeoutMs: number;
  /** CPU time an execute job may use, ms: its own thread's, once its module is compiled. Default 2 000. */
  executeTimeoutMs: number;
  /**
   * CPU time compiling a module may take, ms: checked at prepare (a module that needs more is
   * refused), and the bound of each execute's compile, which does not count against the job's
   * own time. Default 10 000.
   */
  compileTimeoutMs: number;
  /** The wall-clock hard timeout is this multiple of the CPU-time limit (PVF keeps such a bound). Default 4. */
  hardTimeoutFactor: number;
  /**
   * RLIMIT_DATA of each worker process, bytes, and the memory limit of its cgroup where the host
   * has cgroups (which also counts shared memory, page cache and kernel memory). Default 4 GiB.
   */
  dataBytes: number;
  /** RLIMIT_NOFILE of each worker process. Default 128. */
  openFiles: number;
  /**
   * Threads each worker process may run: RLIMIT_NPROC inside its user namespace and, where the
   * host has cgroups, the pids limit of its cgroup (the only one that holds for a host running
   * as root). A worker uses about 12. Default 64.
   */
  threads: number;
  /**
   * Memory all the host's workers may use together, bytes: the memory limit of the cgroup they
   * share, where the host has cgroups (each worker's own is `dataBytes`). Default: half the
   * memory the host can use (the machine's, or its own cgroup's limit if lower).
   */
  workersMemoryBytes: number;
  /**
   * Nice increment of each worker process (0–19): untrusted code never starves the host that
   * schedules it. Workers still use all idle CPU. Default 10.
   */
  workerNice: number;
  /** V8 old-generation heap of a prepare worker's job thread, MiB (an execute worker's heap is bounded by `dataBytes`). Default 256. */
  jobHeapMb: number;
  /** V8 stack of a job, MiB: an execute worker's main thread, a prepare worker's job thread. Default 4. */
  jobStackMb: number;
}

/** Options of `createHost`; every one is optional. */
export interface HostOptions {
  /** Where artifacts and worker dirs live. Default: `$XDG_CACHE_HOME/warden` or `~/.cache/warden`. */
  cacheDir?: string;
  /** Start even when sandbox layers are missing (each is warned about once). Default: false. */
  allowInsecure?: boolean;
  /**
   * Put each worker in a memory and pids cgroup of its own, under one the host's workers share,
   * where the host can create them (cgroup v1 as root, or a delegated cgroup v2 subtree).
   * `false`: never (the security status then reports the layer off). Default: true.
   */
  cgroups?: boolean;
  /** Prepare workers kept alive. Default 1. */
  prepareWorkers?: number;
  /** Execute workers kept alive. Default `os.availableParallelism()`. */
  executeWorkers?: number;
  /** Jobs that may wait per pool; beyond it submissions fail with E_QUEUE_FULL. Default 10 000. */
  maxQueue?: number;
  /** Least-recently-used artifacts are pruned above this many bytes. Default 1 GiB. */
  cacheMaxBytes?: number;
  limits?: Partial<HostLimits>;
  /** How long a worker may take from spawn to its handshake answer. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /**
   * `worker` (default): a worker process runs job after job. `job`: every job runs in a
   * process that never ran another and is killed after it; the pools' workers are then warm
   * spares. A call can ask for `job` isolation on its own.
   */
  isolation?: 'worker' | 'job';
  /**
   * Memory, in MiB, that the idle workers of each pool (with `isolation: 'job'`, its warm
   * spares) may hold together: a pool keeps at most floor(spareMemoryMb / a worker's RSS)
   * workers, the RSS measured on its workers (about 58 MiB each), and never fewer than one.
   * Default: no budget (`prepareWorkers` and `executeWorkers` alone).
   */
  spareMemoryMb?: number;
  /**
   * An XState inspector, given to every machine actor of the host (each pool's supervisor and
   * every worker) as `createActor(machine, { inspect })`: a function, or an observer with
   * `next` such as `@statelyai/inspect`'s `inspector.inspect`.
   */
  inspect?: XStateInspector;
}

/** What XState's `createActor` takes as `inspect`. */
export type XStateInspector = ((event: InspectionEvent) => void) | Observer<InspectionEvent>;

export interface ResolvedHostOptions {
  cacheDir: string;
  allowInsecure: boolean;
  cgroups: boolean;
  prepareWorkers: number;
  executeWorkers: number;
  maxQueue: number;
  cacheMaxBytes: number;
  limits: HostLimits;
  handshakeTimeoutMs: number;
  isolation: 'worker' | 'job';
  /** Infinity: no budget. */
  spareMemoryMb: number;
  inspect: XStateInspector | undefined;
}

/** Half the memory this process can use: the machine's, or its own cgroup's limit if lower. */
function defaultWorkersMemory(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const usable = constrained > 0 ? Math.min(constrained, os.totalmem()) : os.totalmem();
  return Math.max(1, Math.floor(usable / 2));
}

export const DEFAULT_LIMITS: Readonly<HostLimits> = Object.freeze({
  ...DEFAULT_PREPARE_LIMITS,
  ...DEFAULT_EXECUTE_LIMITS,
  prepareTimeoutMs: 10_000,
  executeTimeoutMs: 2_000,
  compileTimeoutMs: 10_000,
  hardTimeoutFactor: 4,
  dataBytes: 4 * 1024 * 1024 * 1024,
  openFiles: 128,
  threads: 64,
  workersMemoryBytes: defaultWorkersMemory(),
  workerNice: 10,
  jobHeapMb: 256,
  jobStackMb: 4,
});

/** The default cache dir, following the XDG base directory convention. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'warden');
}

/** Describes a value for an error message: `` `-1` (number) ``. */
export function describe(value: unknown): string {
  let shown: string;
  if (typeof value === 'string' || typeof value === 'bigint') shown = String(value);
  else {
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = Object.prototype.toString.call(value);
    }
  }
  return `\`${shown}\` (${typeof value})`;
}

/** Checks a positive integer option (Infinity allowed when `infinite`); `fallback` when undefined. */
export function positiveInteger(name: string, value: unknown, fallback: number, infinite = false): number {
  if (value === undefined) return fallback;
  const ok = typeof value === 'number' && ((Number.isSafeInteger(value) && value > 0) || (infinite && value === Infinity));
  if (!ok) {
    throw new InvalidOptionError(`Expected the \`${name}\` option to be a positive integer${infinite ? ' or Infinity' : ''}, got ${describe(value)}`, {
      details: { option: name },
    });
  }
  return value as number;
}

function positiveNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(`Expected the \`${name}\` option to be a positive number, got ${describe(value)}`, { details: { option: name } });
  }
  return value;
}

function resolveLimits(limits: unknown): HostLimits {
  if (limits === undefined) return { ...DEFAULT_LIMITS };
  if (limits === null || typeof limits !== 'object') {
    throw new InvalidOptionError(`Expected the \`limits\` option to be an object, got ${describe(limits)}`, { details: { option: 'limits' } });
  }
  const given = limits as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(DEFAULT_LIMITS, key)) {
      throw new InvalidOptionError(`Unknown option \`limits.${key}\`; known: ${Object.keys(DEFAULT_LIMITS).join(', ')}`, {
        details: { option: `limits.${key}` },
      });
    }
  }
  const out = { ...DEFAULT_LIMITS } as HostLimits;
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof HostLimits)[]) {
    if (key === 'workerNice') {
      const nice = given[key];
      if (nice !== undefined && (typeof nice !== 'number' || !Number.isInteger(nice) || nice < 0 || nice > 19)) {
        throw new InvalidOptionError(`Expected the \`limits.workerNice\` option to be an integer from 0 to 19, got ${describe(nice)}`, {
          details: { option: 'limits.workerNice' },
        });
      }
      out[key] = (nice as number | undefined) ?? DEFAULT_LIMITS[key];
      continue;
    }
    out[key] =
      key === 'hardTimeoutFactor'
        ? positiveNumber(`limits.${key}`, given[key], DEFAULT_LIMITS[key])
        : positiveInteger(`limits.${key}`, given[key], DEFAULT_LIMITS[key]);
  }
  // Code, input (with argv, environment and files) and output (with log and files) cross the IPC channel in one frame each.
  const frameBound = 64 * 1024 * 1024;
  const files = maxEncodedBytes(out);
  const fileLimits = ['maxFilesBytes', 'maxFiles', 'maxPathBytes'] as const;
  for (const [names, what, value] of [
    [['maxCodeBytes'], 'maxCodeBytes', out.maxCodeBytes],
    [['maxInputBytes', ...fileLimits, 'maxArgsBytes'], 'maxInputBytes + maxFilesBytes + maxArgsBytes (with names and lengths)', out.maxInputBytes + files.request],
    [['maxOutputBytes', 'maxLogBytes', ...fileLimits], 'maxOutputBytes + maxLogBytes + maxFilesBytes (with names and lengths)', out.maxOutputBytes + out.maxLogBytes + files.reply],
  ] as const) {
    if (value > frameBound) {
      // Named after a limit the caller gave: the one to change.
      const option = names.find((name) => given[name] !== undefined) ?? names[0];
      throw new InvalidOptionError(`Expected \`limits.${what}\` to be at most ${frameBound} bytes (one IPC frame), got ${value}`, {
        details: { option: `limits.${option}` },
      });
    }
  }
  if (out.hardTimeoutFactor < 1 || out.hardTimeoutFactor > MAX_HARD_TIMEOUT_FACTOR) {
    throw new InvalidOptionError(`Expected the \`limits.hardTimeoutFactor\` option to be between 1 and ${MAX_HARD_TIMEOUT_FACTOR}`, {
      details: { option: 'limits.hardTimeoutFactor' },
    });
  }
  // The logical stack must run out before V8's: it is bounded by the job's stack.
  const stackCapacity = maxStackHeightFor(out.jobStackMb);
  if (out.maxStackHeight > stackCapacity) {
    throw new InvalidOptionError(
      `Expected the \`limits.maxStackHeight\` option to be at most ${stackCapacity} with limits.jobStackMb ${out.jobStackMb} (raise jobStackMb for more), got ${out.maxStackHeight}`,
      { details: { option: 'limits.maxStackHeight' } },
    );
  }
  for (const name of ['prepareTimeoutMs', 'executeTimeoutMs', 'compileTimeoutMs'] as const) {
    if (out[name] > MAX_JOB_TIMEOUT_MS) {
      throw new InvalidOptionError(`Expected the \`limits.${name}\` option to be at most ${MAX_JOB_TIMEOUT_MS} ms (a day)`, {
        details: { option: `limits.${name}` },
      });
    }
  }
  return out;
}

const HOST_OPTION_NAMES: readonly (keyof HostOptions)[] = [
  'cacheDir',
  'allowInsecure',
  'cgroups',
  'prepareWorkers',
  'executeWorkers',
  'maxQueue',
  'cacheMaxBytes',
  'limits',
  'handshakeTimeoutMs',
  'isolation',
  'spareMemoryMb',
  'inspect',
];

/** The longest CPU-time limit of a job, ms (a day): with the hard-timeout factor it must stay within setTimeout's range. */
export const MAX_JOB_TIMEOUT_MS = 86_400_000;
/** The largest hard-timeout factor. */
export const MAX_HARD_TIMEOUT_FACTOR = 16;

/** Validates every option at the boundary and merges the defaults once. */
export function resolveHostOptions(options: HostOptions = {}): ResolvedHostOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`Expected the options to be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!HOST_OPTION_NAMES.includes(key as keyof HostOptions)) {
      throw new InvalidOptionError(`Unknown option \`${key}\`; known: ${HOST_OPTION_NAMES.join(', ')}`, { details: { option: key } });
    }
  }
  const { cacheDir, allowInsecure } = options;
  if (cacheDir !== undefined && (typeof cacheDir !== 'string' || cacheDir.length === 0)) {
    throw new InvalidOptionError(`Expected the \`cacheDir\` option to be a non-empty string, got ${describe(cacheDir)}`, {
      details: { option: 'cacheDir' },
    });
  }
  if (allowInsecure !== undefined && typeof allowInsecure !== 'boolean') {
    throw new InvalidOptionError(`Expected the \`allowInsecure\` option to be a boolean, got ${describe(allowInsecure)}`, {
      details: { option: 'allowInsecure' },
    });
  }
  if (options.cgroups !== undefined && typeof options.cgroups !== 'boolean') {
    throw new InvalidOptionError(`Expected the \`cgroups\` option to be a boolean, got ${describe(options.cgroups)}`, {
      details: { option: 'cgroups' },
    });
  }
  return {
    cacheDir: path.resolve(cacheDir ?? defaultCacheDir()),
    allowInsecure: allowInsecure ?? false,
    cgroups: options.cgroups ?? true,
    prepareWorkers: positiveInteger('prepareWorkers', options.prepareWorkers, 1),
    executeWorkers: positiveInteger('executeWorkers', options.executeWorkers, os.availableParallelism()),
    maxQueue: positiveInteger('maxQueue', options.maxQueue, 10_000, true),
    cacheMaxBytes: positiveInteger('cacheMaxBytes', options.cacheMaxBytes, 1024 * 1024 * 1024),
    limits: resolveLimits(options.limits),
    handshakeTimeoutMs: positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, 10_000),
    isolation: isolationOption('isolation', options.isolation, 'worker'),
    spareMemoryMb: positiveInteger('spareMemoryMb', options.spareMemoryMb, Infinity, true),
    inspect: inspectOption(options.inspect),
  };
}

function inspectOption(value: unknown): XStateInspector | undefined {
  if (value === undefined || typeof value === 'function') return value as XStateInspector | undefined;
  if (value !== null && typeof value === 'object' && typeof (value as { next?: unknown }).next === 'function') return value as XStateInspector;
  throw new InvalidOptionError(`Expected the \`inspect\` option to be an XState inspector (a function or an observer with \`next\`), got ${describe(value)}`, {
    details: { option: 'inspect' },
  });
}

/** Checks an isolation option: 'worker' or 'job'. */
export function isolationOption(name: string, value: unknown, fallback: 'worker' | 'job'): 'worker' | 'job' {
  if (value === undefined) return fallback;
  if (value !== 'worker' && value !== 'job') {
    throw new InvalidOptionError(`Expected the \`${name}\` option to be 'worker' or 'job', got ${describe(value)}`, { details: { option: name } });
  }
  return value;
}

/** The process limits of a worker, from the host's limits. */
export function workerLimits(limits: HostLimits): WorkerLimits {
  return {
    dataBytes: limits.dataBytes,
    // A prepare worker writes only the artifact: the file size limit is the artifact limit.
    fileBytes: limits.maxArtifactBytes,
    openFiles: limits.openFiles,
    threads: limits.threads,
    nice: limits.workerNice,
    jobHeapMb: limits.jobHeapMb,
    jobStackMb: limits.jobStackMb,
  };
}

/** The limits that shape an artifact: they are hashed into its name. */
export function prepareLimitsOf(limits: HostLimits): PrepareLimits {
  const { maxCodeBytes, maxDecompressedBytes, maxMemoryPages, maxTableElements, maxFunctions, maxArtifactBytes } = limits;
  return { maxCodeBytes, maxDecompressedBytes, maxMemoryPages, maxTableElements, maxFunctions, maxArtifactBytes };
}

export function executeLimitsOf(limits: HostLimits): ExecuteLimits {
  const { maxMemoryPages, maxInputBytes, maxOutputBytes, maxLogBytes, maxFiles, maxFilesBytes, maxPathBytes, maxArgsBytes, maxFuel, maxStackHeight } = limits;
  return { maxMemoryPages, maxInputBytes, maxOutputBytes, maxLogBytes, maxFiles, maxFilesBytes, maxPathBytes, maxArgsBytes, maxFuel, maxStackHeight };
}

function invalid(option: string, message: string): InvalidOptionError {
  return new InvalidOptionError(message, { details: { option } });
}

/** A string a C program can take (argv, environment): no NUL, which would end it early. */
function cString(option: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(option, `Expected \`${option}\` to be a string, got ${describe(value)}`);
  if (value.includes('\0')) throw invalid(option, `Expected \`${option}\` to contain no NUL character`);
  return value;
}

/** The entries of a record or Map option, or undefined when it is absent. */
function entriesOf(option: string, value: unknown): [string, unknown][] | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Map) return [...value.entries()].map(([k, v]) => [k as string, v]);
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw invalid(option, `Expected the \`${option}\` option to be an object or a Map, got ${describe(value)}`);
  }
  return Object.entries(value);
}

/**
 * The `args`, `env` and `files` options of an execute call, checked against the limits, as what
 * the job's WASI world is built from; undefined when none is given (the defaults: `['main']`, no
 * environment, an empty directory).
 */
export function jobConfigOption(options: { args?: unknown; env?: unknown; files?: unknown }, limits: HostLimits): JobConfig | undefined {
  const { args: argsValue, env: envValue, files: filesValue } = options;
  if (argsValue === undefined && envValue === undefined && filesValue === undefined) return undefined;
  let args = ['main'];
  if (argsValue !== undefined) {
    if (!Array.isArray(argsValue)) throw invalid('args', `Expected the \`args\` option to be an array of strings, got ${describe(argsValue)}`);
    args = argsValue.map((arg, n) => cString(`args[${n}]`, arg));
  }
  const env = (entriesOf('env', envValue) ?? []).map(([name, value]) => {
    if (name === '' || name.includes('=') || name.includes('\0')) throw invalid('env', `Expected every \`env\` name to be non-empty, without "=" or NUL, got ${describe(name)}`);
    return `${name}=${cString(`env.${name}`, value)}`;
  });
  const used = argsBytes(args) + argsBytes(env);
  if (used > limits.maxArgsBytes) {
    throw invalid(argsValue !== undefined ? 'args' : 'env', `\`args\` and \`env\` take ${used} bytes (each string with its NUL), more than limits.maxArgsBytes (${limits.maxArgsBytes})`);
  }
  const files: [string, Uint8Array][] = (entriesOf('files', filesValue) ?? []).map(([name, value]) => {
    const problem = fileNameProblem(name, limits.maxPathBytes);
    if (problem !== undefined) throw invalid('files', `The \`files\` name ${describe(name)} ${problem}`);
    if (typeof value === 'string') return [name, Buffer.from(value, 'utf8')];
    if (!(value instanceof Uint8Array)) throw invalid('files', `Expected \`files[${JSON.stringify(name)}]\` to be a Uint8Array or a string, got ${describe(value)}`);
    return [name, value];
  });
  const setProblem = fileSetProblem(files.map(([name]) => name));
  if (setProblem !== undefined) throw invalid('files', `The \`files\` option is not one directory: ${setProblem}`);
  // Directories named on the way to a file count as entries of the job's directory too.
  const dirs = new Set(files.flatMap(([name]) => name.split('/').slice(0, -1).map((_, n, parts) => parts.slice(0, n + 1).join('/'))));
  if (files.length + dirs.size > limits.maxFiles) {
    throw invalid('files', `The \`files\` option makes ${files.length} files and ${dirs.size} directories, more than limits.maxFiles (${limits.maxFiles})`);
  }
  const bytes = files.reduce((sum, [, data]) => sum + data.byteLength, 0);
  if (bytes > limits.maxFilesBytes) throw invalid('files', `The \`files\` option holds ${bytes} bytes, more than limits.maxFilesBytes (${limits.maxFilesBytes})`);
  return { args, env, files };
}
