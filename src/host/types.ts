/**
 * The host facade's public types, in a file of their own: the event stream, the metrics and
 * the inspector name them without importing the `Host` class (no import cycle through it).
 * `src/host.ts` re-exports them.
 */
import type { StateValue } from 'xstate';
import type { ExecuteOutcome } from '../actors/hostJobs.js';
import type { Priority } from '../actors/jobQueue.js';
import type { Isolation } from '../actors/poolJob.js';
import type { Abi } from '../artifactHandle.js';
import type { WorkerKind } from '../protocol/messages.js';
import type { FeatureStatus, SecurityStatus } from '../sandbox/security.js';

/** Options of one `prepare` call. */
export interface PrepareOptions {
  priority?: Priority;
  /** `job`: run in a process of its own, killed afterwards. Default: the host's `isolation`. */
  isolation?: Isolation;
  /** CPU time the preparation may use, ms. Default: `limits.prepareTimeoutMs`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Epoch ms by which the artifact must be ready. */
  deadline?: number;
}

/** Options of one `execute` call. */
export interface ExecuteOptions extends Omit<PrepareOptions, 'timeoutMs'> {
  /** `run` or `wasi`. Default: what the module's exports imply. */
  abi?: Abi;
  /** CPU time the execution may use, ms: the CPU time of the thread that runs the job, once the module is compiled. Default: `limits.executeTimeoutMs`. */
  timeoutMs?: number;
  /** The module's argv, argv[0] included (as node:wasi's `args`). Default `['main']`. */
  args?: string[];
  /** The module's environment. Default: empty. */
  env?: Record<string, string>;
  /** Files the job's directory (preopened as `/`) starts with: relative path → contents (a string is UTF-8). */
  files?: Record<string, Uint8Array | string> | Map<string, Uint8Array | string>;
  /** Fuel the execution may use (about one unit per instruction), at most `limits.maxFuel`. Default: `limits.maxFuel`. */
  fuel?: number;
}

/** What `execute` resolves with. */
export interface ExecuteResult extends ExecuteOutcome {
  /** The worker that ran it. */
  workerId: string;
  jobId: string;
  artifactKey: string;
  /** 2 when the first worker died under the job and it ran again. */
  attempts: number;
}

/** The host's typed events. */
export type HostEvents = {
  /** Once per host, just after `createHost` resolved: the sandbox check's result (as `host.securityStatus`). */
  'security:status': [SecurityStatus];
  /** Once per missing sandbox layer per host, when started with `allowInsecure`. */
  'security:warning': [FeatureStatus];
  'worker:spawned': [{ id: string; kind: WorkerKind; pid: number | undefined }];
  'worker:state': [{ id: string; kind: WorkerKind; state: string }];
  'worker:exited': [{ id: string; kind: WorkerKind; reason: string; message: string; jobsCompleted: number }];
  'job:queued': [{ jobId: string; kind: WorkerKind; priority: Priority }];
  'job:started': [{ jobId: string; kind: WorkerKind; workerId: string; attempt: number }];
  /** `fuelUsed` for execute jobs. */
  'job:succeeded': [{ jobId: string; kind: WorkerKind; workerId: string; cpuTimeMs: number; wallTimeMs: number; peakRssBytes: number; fuelUsed?: number }];
  /** `fuelUsed` for an execute job whose module ran. */
  'job:failed': [{ jobId: string; kind: WorkerKind; code: string; deterministic: boolean; message: string; fuelUsed?: number }];
  'artifact:prepared': [{ key: string; size: number }];
  'artifact:deleted': [{ key: string; reason: string }];
  'artifact:pruned': [{ key: string; size: number }];
  'pool:degraded': [{ kind: WorkerKind; recentFailures: number; lastFailure: string | undefined }];
  'pool:recovered': [{ kind: WorkerKind }];
};

export interface CloseOptions {
  /** Cancel waiting and running jobs (E_HOST_CLOSED) instead of letting them finish. */
  force?: boolean;
}

/** One worker as `host.workers()` lists it. */
export interface WorkerSummary {
  id: string;
  kind: WorkerKind;
  state: string;
  pid: number | undefined;
  jobId: string | undefined;
  jobsCompleted: number;
  /** The artifact a copy of which its dir holds (kept from its last job, or a spare's priming); undefined when none. */
  artifactKey: string | undefined;
}

/** One pool as `host.pools()` lists it: its supervisor's state value and whether it is degraded. */
export interface PoolSummary {
  kind: WorkerKind;
  state: StateValue;
  degraded: boolean;
}

/** Jobs waiting per pool and priority (`host.queueSizes()`). */
export type QueueSizes = Record<WorkerKind, Record<Priority, number>>;
