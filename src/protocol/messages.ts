/**
 * The messages of the host ↔ worker protocol, typed in one place.
 * A worker refuses a HELLO whose `protocol` differs from its own. Version 3: headers are
 * bounded (a prepare reply no longer lists the module's exports: the host reads them from the
 * artifact). Version 4: the job's argv, environment and files travel in the Execute body and
 * come back in the reply, with a failed job's output and log, `E_EXIT`'s exit code and the
 * memory pages. Version 5: fuel (`fuel` in Execute, `fuelUsed` in the reply and in a failure).
 * Version 6: pipelining: a worker takes an Execute while it runs another, runs them in order,
 * and takes `Cancel` for one it has not finished (a withdrawn one is answered `withdrawn`).
 * Version 7: `Prime`: an idle execute worker loads the artifact its dir holds before a job names it.
 */
export const PROTOCOL_VERSION = 7;

export const MessageType = {
  /** host → worker, once: `{ protocol, info: WorkerInfo }`. */
  Hello: 1,
  /** worker → host, once, answers Hello: `{ protocol, attestation }`. */
  Ready: 2,
  Ping: 3,
  Pong: 4,
  /** host → worker: run one named sandbox probe, `{ name, arg }`. */
  Probe: 5,
  /** worker → host: `ProbeResult`. */
  ProbeResult: 6,
  /** host → worker: finish and exit 0. */
  Shutdown: 7,
  /** worker → host: a failure not tied to a request, `{ code, message }`; the worker exits after it. */
  Fatal: 8,
  /** host → worker: `PrepareRequest`, body = the code as submitted. */
  Prepare: 10,
  /** worker → host: `PrepareReply`; on success the artifact is in `tmp-artifact`. */
  PrepareResult: 11,
  /**
   * host → worker: `ExecuteRequest`, body = the input, then (when `inputBytes` is set) the job's
   * argv, environment and files (`shared/jobFiles.ts`); the artifact is hard-linked as `artifact`.
   */
  Execute: 12,
  /** worker → host: `ExecuteReply`, body = output bytes, log bytes, then the files section (`filesBytes`). */
  ExecuteResult: 13,
  /**
   * host → worker, id = an Execute's: `CancelHeader`. No reply of its own: the Execute it names
   * is still answered once, at once with `withdrawn: true` if it had not started.
   */
  Cancel: 14,
  /**
   * host → worker, an idle execute worker: `PrimeRequest`. No reply: the worker reads the
   * artifact copy its dir holds and compiles its module, so that the job that names this copy
   * next finds it loaded; a failure is left for that job to meet.
   */
  Prime: 15,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export type WorkerKind = 'prepare' | 'execute';

/** Which sandbox layers are in force for a worker, decided once per host from the security status. */
export interface SandboxLayers {
  userns: boolean;
  pivotRoot: boolean;
  netns: boolean;
  landlock: boolean;
  seccomp: boolean;
  /** A memory and pids cgroup per worker, under one the host's workers share. */
  cgroup: boolean;
}

export interface WorkerLimits {
  /** V8 old-generation heap of a prepare worker's job thread, MiB. */
  jobHeapMb: number;
  /** V8 stack of a job, MiB (bounds wasm recursion): an execute worker's main thread, a prepare worker's job thread. */
  jobStackMb: number;
  /** RLIMIT_DATA of the worker process, bytes. */
  dataBytes: number;
  /** RLIMIT_FSIZE of the worker process, bytes (bounds what a prepare worker can write). */
  fileBytes: number;
  /** RLIMIT_NOFILE of the worker process. */
  openFiles: number;
  /** Threads of the worker process: with the launcher's monitor, its RLIMIT_NPROC and pids.max. */
  threads: number;
  /** How much lower than the host's the worker's CPU priority is (nice increment, 0–19). */
  nice: number;
}

/**
 * Everything a worker is, as one value: sent once in the handshake, kept by the host.
 * `dir` is the worker dir as the worker sees it (`/worker` inside the new root).
 */
export interface WorkerInfo {
  kind: WorkerKind;
  id: string;
  dir: string;
  limits: WorkerLimits;
  layers: SandboxLayers;
}

export interface HelloHeader {
  protocol: number;
  info: WorkerInfo;
}

/** What the worker observes about its own confinement, from inside, after lockdown. */
export interface Attestation {
  /** 2 = seccomp filter mode. */
  seccompMode: number;
  noNewPrivs: boolean;
  uid: number;
  gid: number;
  capEffective: string;
  capPermitted: string;
  capBounding: string;
  landlockAbi: number;
  /** pid inside the worker's pid namespace (1 when it has its own). */
  pid: number;
  hostname: string;
  /** The addon's filter answers EPERM to execve and to creating a process. */
  execveBlocked: boolean;
  forkBlocked: boolean;
  /** Entries of `/` as the worker sees it, or the errno name when listing is refused. */
  rootEntries: string[] | string;
  /** A host path that must not be reachable, and what opening it gave (an errno name). */
  outsideProbe: { path: string; result: string };
  /** Number of environment variables (always 0). */
  envCount: number;
}

export interface ReadyHeader {
  protocol: number;
  attestation: Attestation;
  /**
   * Whether the worker's bundle was compiled with the build's V8 code cache (scripts/bundleLoader.cjs):
   * `rejected` (made by another node or for other flags) and `absent` only cost it time. Absent
   * from a worker that runs without the loader (a test's entry).
   */
  codeCache?: CodeCacheUse;
}

/** What became of a bundle's V8 code cache when it was compiled. */
export type CodeCacheUse = 'accepted' | 'rejected' | 'absent';

export interface ProbeHeader {
  name: string;
  arg?: string;
}

/** `ok: true` means the attempted action succeeded (for an attack probe, that is a sandbox hole). */
export interface ProbeResult {
  ok: boolean;
  /** errno name or error code when `ok` is false. */
  code?: string;
  detail?: string;
}

export interface FatalHeader {
  code: string;
  message: string;
}

/** A job failure as it crosses the channel (see src/shared/jobError.ts). */
export interface JobFailureHeader {
  code: string;
  message: string;
  deterministic: boolean;
  /** E_EXIT: the module's exit code. */
  exitCode?: number;
  /** Fuel used before the failure, for an execute job whose module ran. */
  fuelUsed?: number;
}

/**
 * Set on every job request from the job's isolation: `job` tells a one-job process that it will never serve
 * another job, so it locks itself down further once the job's files are read (`lockdownJob`).
 */
export interface JobRequestIsolation {
  isolation?: 'worker' | 'job';
}

export interface PrepareRequest extends JobRequestIsolation {
  limits: import('../shared/limits.js').PrepareLimits;
  paramsHash: string;
  cpuTimeLimitMs: number;
  /** CPU time compiling the module may take: a module that needs more is refused (E_TIMEOUT). */
  compileTimeoutMs?: number;
}

/** What a job cost, in every reply. */
export interface JobUsage {
  /** CPU time of the worker process while the job ran, ms. */
  cpuTimeMs: number;
  wallTimeMs: number;
  /** The worker process' peak resident memory so far (getrusage maxrss): a one-job process' is its job's own. */
  peakRssBytes: number;
}

export type PrepareReply =
  | ({ ok: true; artifactBytes: number; moduleBytes: number } & JobUsage)
  | ({ ok: false; failure: JobFailureHeader } & JobUsage);

export interface ExecuteRequest extends JobRequestIsolation {
  abi: 'run' | 'wasi';
  limits: import('../shared/limits.js').ExecuteLimits;
  /** CPU time of the job's own execution (its thread, once the module is compiled). */
  cpuTimeLimitMs: number;
  /** CPU time loading and compiling the module may take before that. */
  compileTimeoutMs?: number;
  /** Set when the body holds more than the input: the input's length, the argv, environment and files section after it. */
  inputBytes?: number;
  /** The job's fuel, at most `limits.maxFuel`. */
  fuel: number;
  /**
   * Which copy of the artifact the worker dir holds: the host never gives two copies one number
   * (and replaces a copy only by another). The worker may keep the file open while jobs name the
   * same copy, and read it again from there.
   */
  artifactCopy?: number;
}

/**
 * Prime: which copy of the artifact the dir holds, and the memory limit its module is loaded
 * under (a job under another limit loads it again). Only an artifact of at most
 * `SYNC_COMPILE_BYTES` (shared/limits.ts) is primed: a Prime never holds the worker for long.
 */
export interface PrimeRequest {
  artifactCopy: number;
  maxMemoryPages: number;
}

/** What an execute job ended with, success or failure while running; the body holds the bytes. */
export interface ExecuteEndHeader {
  outputBytes: number;
  logBytes: number;
  logTruncated: boolean;
  /** Length of the files section after the log (0: the job created or changed no file). */
  filesBytes: number;
  /** The module's memory when it ended, in pages (absent when it exported none). */
  memoryPages?: number;
  maxMemoryPages?: number;
}

export type ExecuteReply =
  | ({ ok: true; fuelUsed: number } & ExecuteEndHeader & JobUsage)
  | ({ ok: false; failure: JobFailureHeader; withdrawn?: true } & Partial<ExecuteEndHeader> & JobUsage);

/**
 * Cancel of a pipelined Execute. One that has not started is dropped and answered at once
 * (`withdrawn: true`, E_ABORTED); one that runs is stopped (E_ABORTED) only when `abort`;
 * one already answered is ignored.
 */
export interface CancelHeader {
  abort: boolean;
}
