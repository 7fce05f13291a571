import type { WorkerKind } from '../protocol/messages.js';

/** How long to wait before spawning again after a failure. */
export interface BackoffPolicy {
  /** The first wait. */
  initialMs: number;
  /** The longest wait. */
  maxMs: number;
  /** Each consecutive failure multiplies the wait by this (≥ 1). */
  factor: number;
}

/** When failures mean the pool is broken rather than unlucky. */
export interface CrashLoopPolicy {
  /** More failures than this within `windowMs` degrade the pool. */
  maxFailures: number;
  windowMs: number;
}

/** One pool's policy. */
export interface SupervisorMachineInput {
  kind: WorkerKind;
  /** How many workers the pool keeps alive. */
  size: number;
  backoff: BackoffPolicy;
  crashLoop: CrashLoopPolicy;
  /** How long a degraded pool waits before trying one spawn. */
  cooldownMs: number;
  /**
   * How long a new worker must stay alive to prove that spawning works: its later death is
   * not a failure, and it resets the backoff. Default: {@link DEFAULT_STABLE_MS}.
   */
  stableMs?: number;
}

/** The default of {@link SupervisorMachineInput.stableMs}. */
export const DEFAULT_STABLE_MS = 5_000;

/** A worker the supervisor counts as alive. */
export interface SupervisedWorker {
  id: string;
  /** It has been alive for `stableMs`, or it has taken a job: either way spawning it worked. */
  stable: boolean;
}

export interface SupervisorMachineContext {
  kind: WorkerKind;
  size: number;
  backoff: BackoffPolicy;
  crashLoop: CrashLoopPolicy;
  cooldownMs: number;
  stableMs: number;
  /** Workers spawned and not yet dead. */
  workers: SupervisedWorker[];
  /** `spawnWorker` calls not yet answered. */
  spawning: number;
  /** Workers asked to retire (resize down) whose death has not been reported yet. */
  retiring: number;
  /**
   * Failures within the last `windowMs`. Each failure schedules its own expiry on the
   * actor's clock, so the window needs no timestamps and no `Date.now()`.
   */
  recentFailures: number;
  /** Bumped on recovery: expiries of failures from before it are ignored, the window starts afresh. */
  failureEpoch: number;
  /** The wait the next backoff will use. */
  backoffMs: number;
  /** What went wrong last, for `poolDegraded`. */
  lastFailure: string | undefined;
}

/** Everything the host tells a supervisor. */
export type SupervisorMachineEvent =
  /** A `spawnWorker` request succeeded: the worker completed its handshake. */
  | { type: 'WORKER_SPAWNED'; id: string }
  /** A `spawnWorker` request failed. */
  | { type: 'SPAWN_FAILED'; error: Error }
  /**
   * A worker the supervisor counts died. `expected` is true when the host ended it on
   * purpose (a retirement, an abort, a hard timeout): such a death is never a pool failure.
   */
  | { type: 'WORKER_DIED'; id: string; reason: string; expected?: boolean }
  /**
   * A worker took its first job. It has started: its death from now on is about the jobs it ran
   * (a tenant's code may end it on purpose), never a sign that spawning fails, so it never counts
   * toward a crash loop. Crash-loop detection is for workers that cannot start.
   */
  | { type: 'WORKER_SERVED'; id: string }
  | { type: 'RESIZE'; size: number }
  | { type: 'STOP' };

/** Events the supervisor schedules for itself on its clock. @internal */
export type SupervisorInternalEvent =
  | { type: 'supervisor.workerStable'; id: string }
  | { type: 'supervisor.failureExpired'; epoch: number };

/** The parameters each named action receives. */
export interface SupervisorActionParams {
  /** Spawn one worker of `kind`; answer WORKER_SPAWNED or SPAWN_FAILED. */
  spawnWorker: { kind: WorkerKind };
  /** Stop `count` workers (idle ones first, busy ones after their job); answer WORKER_DIED with `expected: true` for each. */
  retireWorkers: { kind: WorkerKind; count: number };
  /** The pool stopped respawning: report it. */
  poolDegraded: { kind: WorkerKind; recentFailures: number; lastFailure: string | undefined };
  /** A spawn succeeded after the cooldown: the pool is respawning again. */
  poolRecovered: { kind: WorkerKind };
}

export type SupervisorActionName = keyof SupervisorActionParams;

// A record, so that adding an action without listing it here fails to compile.
const listed: Record<SupervisorActionName, true> = {
  spawnWorker: true,
  retireWorkers: true,
  poolDegraded: true,
  poolRecovered: true,
};

/** Every action the host provides. */
export const supervisorActionNames = Object.freeze(Object.keys(listed) as SupervisorActionName[]);

/** The host's side effects, as plain functions of their parameters. */
export type SupervisorActions = { [K in SupervisorActionName]: (params: SupervisorActionParams[K]) => void };
