import type { WorkerKind } from '../protocol/messages.js';

/** What the host knows about a worker when it creates its machine. */
export interface WorkerMachineInput {
  id: string;
  kind: WorkerKind;
}

/**
 * How far a job is kept from others: `worker` (the process serves job after job) or `job` (the
 * process serves this job only and is retired after it).
 */
export type WorkerJobIsolation = 'worker' | 'job';

/** The job a worker is running. */
export interface WorkerJob {
  jobId: string;
  /** Wall-clock bound the host keeps on top of the worker's own CPU-time limit. */
  hardTimeoutMs: number;
  isolation: WorkerJobIsolation;
  /** The dir already held what the job needs: nothing was put in it for this job (ASSIGN's `populated`). */
  populated?: boolean;
  /**
   * Its request has gone to the worker already: while the job before it ran (PIPELINE), or with
   * ASSIGN's `sent` (a ready dir: the host sent it before this machine took the job). Not sent again.
   */
  sent?: boolean;
}

/** Why a worker failed: a stable code the host maps to a typed error. */
export type WorkerFailureReason =
  | 'spawn-failed'
  | 'populate-failed'
  | 'collect-failed'
  | 'clear-failed'
  | 'hard-timeout'
  | 'exited'
  | 'killed'
  /** Killed for using CPU while idle (reuse mode): work a job left running (src/actors/idleCpu.ts). */
  | 'idle-cpu'
  /** Not a failure: a one-job process ended after its job, as planned. */
  | 'retired';

/** The last thing that went wrong with a worker (it may still be alive: a failed populate). */
export interface WorkerFailure {
  reason: WorkerFailureReason;
  /** For people: names the worker, the job and the cause. */
  message: string;
  /** The error the host reported with the event, when it reported one. */
  error?: Error;
}

/**
 * Why a job ended without a result. `lost` means the worker died under it (exit or kill):
 * the job itself may be fine, so the scheduler may retry it, as PVF does on an ambiguous
 * worker death.
 */
export type JobFailureReason = 'populate-failed' | 'collect-failed' | 'hard-timeout' | 'lost';

export interface WorkerMachineContext {
  id: string;
  kind: WorkerKind;
  /** Set while the machine is in `running`, and only then. */
  job: WorkerJob | undefined;
  /**
   * The job sent while `job` runs (PIPELINE), which the worker starts as soon as `job` ends. It
   * has not started as far as the host knows: its hard timeout starts when it becomes `job`; a
   * death first hands it back (`nextReturned`) to run elsewhere.
   */
  next: WorkerJob | undefined;
  /** Jobs that ended with a collected result. */
  jobsCompleted: number;
  /** Jobs ever assigned: an idle worker with none is a spare, a process no job has touched. */
  jobsAssigned: number;
  lastFailure: WorkerFailure | undefined;
  /**
   * The process cannot write its dir (SPAWNED said so): a job that ended with its result
   * collected, on a dir the host did not change for it either (ASSIGN `populated`), left
   * nothing there to clear, and the worker goes back to `idle` without `clearingDir`.
   */
  dirReadOnly: boolean;
}

/** What the worker machine reports when it reaches `dead`. */
export interface WorkerMachineOutput {
  id: string;
  kind: WorkerKind;
  jobsCompleted: number;
  /** Why the worker died. */
  failure: WorkerFailure;
}

/** Everything the host tells a worker machine. */
export type WorkerMachineEvent =
  /** The handshake completed. */
  /** `dirReadOnly`: the sandbox keeps the process from writing its dir (read-only bind or Landlock). */
  | { type: 'SPAWNED'; dirReadOnly?: boolean }
  | { type: 'SPAWN_FAILED'; error: Error }
  /** Only taken in `idle`; the scheduler assigns after `becameIdle`. */
  /**
   * `populated`: the dir already holds what the job needs (nothing to do): straight to
   * `running.awaiting`. `sent` (with `populated` only): the host sent the request already.
   */
  | { type: 'ASSIGN'; jobId: string; hardTimeoutMs: number; isolation: WorkerJobIsolation; populated?: boolean; sent?: boolean }
  /**
   * Sends the next job while this one runs (taken in `running.awaiting` only, when both jobs are
   * `worker` isolation on a ready dir the process cannot write, and no next job is there yet).
   */
  | { type: 'PIPELINE'; jobId: string; hardTimeoutMs: number; isolation: WorkerJobIsolation }
  /** The next job came back before it started (withdrawn or cancelled): the worker no longer holds it. */
  | { type: 'NEXT_GONE' }
  | { type: 'POPULATED' }
  | { type: 'POPULATE_FAILED'; error: Error }
  /**
   * The worker answered the job (success or a job error: either is a result). `collected`: the
   * host already turned the reply into the job's outcome (synchronously): the job is over, no
   * `running.collecting`.
   */
  | { type: 'RESULT'; collected?: boolean }
  | { type: 'COLLECTED' }
  | { type: 'COLLECT_FAILED'; error: Error }
  | { type: 'CLEARED' }
  | { type: 'CLEAR_FAILED'; error: Error }
  /** The process ended, whatever the state. */
  | { type: 'EXITED'; code: number | null; signal: string | null; reason: string }
  /** The host wants the worker gone (shutdown, resize, abort). */
  | { type: 'KILL'; reason: string }
  /**
   * The host measured CPU use while the worker was idle beyond its budget (`cpuMs` over the
   * last `idleMs` of idleness): a job left work running. Only taken in `idle`: a worker that
   * has meanwhile taken a job is measured again at its next idle stretch.
   */
  | { type: 'IDLE_CPU'; cpuMs: number; idleMs: number };

/** The parameters each named action receives: the host needs nothing else from the machine. */
export interface WorkerActionParams {
  /** Hard-link the artifact (execute) or create the empty `tmp-artifact` (prepare); answer POPULATED or POPULATE_FAILED. */
  populateDir: { workerId: string; job: WorkerJob };
  /** Send the job frame; answer RESULT when the reply arrives. */
  sendJob: { workerId: string; job: WorkerJob };
  /** Send the next job's frame now (PIPELINE): its reply comes after the current job's. */
  sendNext: { workerId: string; job: WorkerJob };
  /** The next job became the running one (the current one ended collected): its hard timeout starts. */
  nextStarted: { workerId: string; job: WorkerJob };
  /** The next job never started here (the worker died, or it came back): run it elsewhere unless settled. */
  nextReturned: { workerId: string; jobId: string };
  /** Take the result (rename the artifact, read the output), settle the job; answer COLLECTED or COLLECT_FAILED. */
  collectResult: { workerId: string; job: WorkerJob };
  /** Clear the worker dir without following links; answer CLEARED or CLEAR_FAILED. */
  clearDir: { workerId: string };
  /** A one-job process is done: kill it (its dir goes with it); its exit arrives as EXITED. */
  retireProcess: { workerId: string };
  /** Kill the process (idempotent: also called when the process already exited) and remove its dir. */
  killProcess: { workerId: string; reason: WorkerFailureReason; message: string };
  /** Settle the job with an error. Called at most once per job. */
  jobFailed: { workerId: string; jobId: string; reason: JobFailureReason; message: string; error?: Error };
  /** The worker can take a job. `spare`: no job was ever assigned to it. */
  becameIdle: { workerId: string; jobsCompleted: number; spare: boolean };
}

/** The names of the actions the host provides. */
export type WorkerActionName = keyof WorkerActionParams;

// A record, so that adding an action without listing it here fails to compile.
const listed: Record<WorkerActionName, true> = {
  populateDir: true,
  sendJob: true,
  sendNext: true,
  nextStarted: true,
  nextReturned: true,
  collectResult: true,
  clearDir: true,
  retireProcess: true,
  killProcess: true,
  jobFailed: true,
  becameIdle: true,
};

/** Every action the host provides, in the order a job meets them. */
export const workerActionNames = Object.freeze(Object.keys(listed) as WorkerActionName[]);

/** The host's side effects, as plain functions of their parameters. */
export type WorkerActions = { [K in WorkerActionName]: (params: WorkerActionParams[K]) => void };
