import { and, assign, not, setup, stateIn } from 'xstate';
import type {
  JobFailureReason,
  WorkerActionParams,
  WorkerActions,
  WorkerFailure,
  WorkerJob,
  WorkerMachineContext,
  WorkerMachineEvent,
  WorkerMachineInput,
  WorkerMachineOutput,
} from './workerTypes.js';

/** The job of a context that must have one: its absence is a bug in this machine, not a runtime failure. */
function currentJob(context: WorkerMachineContext): WorkerJob {
  if (context.job === undefined) throw new Error(`worker ${context.id} has no job in a state that needs one`);
  return context.job;
}

/** The failure a `dead` transition records, so that `killProcess` and the output can say why. */
function deathFailure(context: WorkerMachineContext, event: WorkerMachineEvent): WorkerFailure {
  const job = context.job ? ` while running job ${context.job.jobId}` : '';
  switch (event.type) {
    case 'SPAWN_FAILED':
      return { reason: 'spawn-failed', message: `worker ${context.id} failed to spawn: ${event.error.message}`, error: event.error };
    case 'CLEAR_FAILED':
      return {
        reason: 'clear-failed',
        message: `worker ${context.id} is killed: its dir could not be cleared: ${event.error.message}`,
        error: event.error,
      };
    case 'EXITED': {
      const how = event.signal ? `signal ${event.signal}` : `exit code ${String(event.code)}`;
      return { reason: 'exited', message: `worker ${context.id} exited (${how})${job}: ${event.reason}` };
    }
    case 'KILL':
      return { reason: 'killed', message: `worker ${context.id} was killed${job}: ${event.reason}` };
    case 'COLLECT_FAILED':
      // Only with a next job on the worker: it would run a job the host no longer tracks.
      return {
        reason: 'killed',
        message: `worker ${context.id} is killed: collecting a result failed while its next job was queued on it: ${event.error.message}`,
        error: event.error,
      };
    case 'IDLE_CPU':
      return {
        reason: 'idle-cpu',
        message: `worker ${context.id} is killed: it used ${Math.round(event.cpuMs)} ms of CPU in ${Math.round(event.idleMs)} ms while idle (work its last job left running)`,
      };
    default:
      // The only other way into `dead` is the hard timeout, a delayed event of the machine itself.
      return {
        reason: 'hard-timeout',
        message: `worker ${context.id} is killed: job ${currentJob(context).jobId} passed its hard timeout of ${currentJob(context).hardTimeoutMs} ms`,
      };
  }
}

/** The failure a job ends with when its worker survives it (populate or collect failed). */
function jobFailure(context: WorkerMachineContext, reason: 'populate-failed' | 'collect-failed', error: Error): WorkerFailure {
  const step = reason === 'populate-failed' ? 'populate the worker dir' : 'collect the result';
  return { reason, message: `worker ${context.id} could not ${step} for job ${currentJob(context).jobId}: ${error.message}`, error };
}

function jobFailedParams(context: WorkerMachineContext, reason: JobFailureReason, failure: WorkerFailure): WorkerActionParams['jobFailed'] {
  return {
    workerId: context.id,
    jobId: currentJob(context).jobId,
    reason,
    message: failure.message,
    ...(failure.error ? { error: failure.error } : {}),
  };
}

const noop = () => {};

const workerSetup = setup({
  types: {
    context: {} as WorkerMachineContext,
    events: {} as WorkerMachineEvent,
    input: {} as WorkerMachineInput,
    output: {} as WorkerMachineOutput,
  },
  // Defaults do nothing: the host supplies every side effect through `provide`.
  actions: {
    populateDir: noop as (_: unknown, params: WorkerActionParams['populateDir']) => void,
    sendJob: noop as (_: unknown, params: WorkerActionParams['sendJob']) => void,
    sendNext: noop as (_: unknown, params: WorkerActionParams['sendNext']) => void,
    nextStarted: noop as (_: unknown, params: WorkerActionParams['nextStarted']) => void,
    nextReturned: noop as (_: unknown, params: WorkerActionParams['nextReturned']) => void,
    collectResult: noop as (_: unknown, params: WorkerActionParams['collectResult']) => void,
    clearDir: noop as (_: unknown, params: WorkerActionParams['clearDir']) => void,
    retireProcess: noop as (_: unknown, params: WorkerActionParams['retireProcess']) => void,
    killProcess: noop as (_: unknown, params: WorkerActionParams['killProcess']) => void,
    jobFailed: noop as (_: unknown, params: WorkerActionParams['jobFailed']) => void,
    becameIdle: noop as (_: unknown, params: WorkerActionParams['becameIdle']) => void,
  },
  guards: {
    hasJob: ({ context }) => context.job !== undefined,
    hasNext: ({ context }) => context.next !== undefined,
    // Pipelining keeps every job apart as much as running them one by one does: both jobs share
    // the process (isolation 'worker'), and the running one can leave nothing in the dir for the
    // next (it cannot write it, and the host did not change it for either job).
    canPipeline: ({ context, event }) =>
      event.type === 'PIPELINE' &&
      context.next === undefined &&
      context.dirReadOnly &&
      context.job?.populated === true &&
      context.job.isolation === 'worker' &&
      event.isolation === 'worker',
    // Read before the transition's actions clear the job.
    isOneJob: ({ context }) => context.job?.isolation === 'job',
    // Nothing a job did can be in a dir its process cannot write; a dir the host did not change
    // for the job either (a ready dir: ASSIGN `populated`) is as the last clear left it. Only a
    // collected job skips the clear: the first job after each artifact change is followed by it.
    dirStaysClean: ({ context }) => context.dirReadOnly && context.job?.populated === true,
    populated: ({ event }) => event.type === 'ASSIGN' && event.populated === true,
    collected: ({ event }) => event.type === 'RESULT' && event.collected === true,
    // An actor stops in `dead`, but the pure transition function (restored snapshots, graph
    // walks) does not: this keeps `dead` final for it too.
    isAlive: not(stateIn('#worker.dead')),
  },
  delays: {
    hardTimeout: ({ context }) => currentJob(context).hardTimeoutMs,
  },
});

/** Records why the worker is about to die; `dead`'s entry reads it. */
const recordDeath = workerSetup.assign(({ context, event }) => ({ lastFailure: deathFailure(context, event), job: undefined, next: undefined }));

/** Hands back a next job that never started here (run before `recordDeath` clears it). */
const returnNext = workerSetup.enqueueActions(({ context, enqueue }) => {
  if (context.next) enqueue({ type: 'nextReturned', params: { workerId: context.id, jobId: context.next.jobId } });
});

/**
 * PIPELINE: the next job is recorded and its request sent. Plain `assign`s and actions with
 * `params` here and in {@link completeAndStartNext}, not `enqueueActions`: these run once per
 * pipelined job, and XState resolves the plain forms at about half the cost.
 */
const takeNext = [
  workerSetup.assign(({ event }) => {
    if (event.type !== 'PIPELINE') throw new Error(`PIPELINE expected, got ${event.type}`);
    return { next: { jobId: event.jobId, hardTimeoutMs: event.hardTimeoutMs, isolation: event.isolation, populated: true, sent: true } };
  }),
  { type: 'sendNext', params: ({ context }: { context: WorkerMachineContext }) => ({ workerId: context.id, job: context.next! }) },
] as const;

/** The running job ended collected and the next one becomes the running one: both counted, the next reported started. */
const completeAndStartNext = [
  workerSetup.assign(({ context }) => ({ job: context.next, next: undefined, jobsCompleted: context.jobsCompleted + 1, jobsAssigned: context.jobsAssigned + 1 })),
  { type: 'nextStarted', params: ({ context }: { context: WorkerMachineContext }) => ({ workerId: context.id, job: currentJob(context) }) },
] as const;

/** Reports the running job lost: its worker died under it. Runs before `recordDeath` clears the job. */
const reportJobLost = workerSetup.enqueueActions(({ context, event, enqueue }) => {
  enqueue({ type: 'jobFailed', params: jobFailedParams(context, 'lost', deathFailure(context, event)) });
});

/** A populate or collect failure: the job fails, the worker lives on to clear its dir. */
const failJob = (reason: 'populate-failed' | 'collect-failed') =>
  workerSetup.enqueueActions(({ context, event, enqueue }) => {
    if (event.type !== 'POPULATE_FAILED' && event.type !== 'COLLECT_FAILED') return;
    const failure = jobFailure(context, reason, event.error);
    enqueue({ type: 'jobFailed', params: jobFailedParams(context, reason, failure) });
    enqueue.assign({ lastFailure: failure, job: undefined });
  });

/** A one-job process that exits after `retireProcess` ended as planned: no failure. */
const recordRetired = workerSetup.assign(({ context }) => ({
  lastFailure: { reason: 'retired' as const, message: `worker ${context.id} was retired after its one job` },
}));

/**
 * Where a worker goes when its job is over: a one-job process is retired; any other clears its
 * dir for the next job, unless the job was collected from a ready dir its process cannot write
 * (`skipClean`: straight back to `idle`).
 */
const afterJob = <Actions>(actions: Actions, skipClean = false) => [
  { guard: 'isOneJob' as const, target: '#worker.retiring', actions },
  ...(skipClean ? [{ guard: 'dirStaysClean' as const, target: '#worker.idle', actions }] : []),
  { target: '#worker.clearingDir', actions },
];

/** A job that ended with its result collected: counted, its job cleared. */
const completeJob = workerSetup.assign(({ context }) => ({ job: undefined, jobsCompleted: context.jobsCompleted + 1 }));

/** `afterJob` for a RESULT the host has already collected (guard `collected` on every branch). */
const afterCollectedResult = [
  // A pipelined job was waiting on the worker: it starts now, with no round trip to the host.
  { guard: and(['collected', 'hasNext']), target: '#worker.running.awaiting', reenter: true, actions: completeAndStartNext },
  { guard: and(['collected', 'isOneJob']), target: '#worker.retiring', actions: completeJob },
  { guard: and(['collected', 'dirStaysClean']), target: '#worker.idle', actions: completeJob },
  { guard: 'collected' as const, target: '#worker.clearingDir', actions: completeJob },
];

/** Taking a job: recorded in the context, counted. */
const takeJob = workerSetup.assign(({ context, event }) => {
  if (event.type !== 'ASSIGN') throw new Error(`ASSIGN expected, got ${event.type}`);
  const populated = event.populated === true;
  // Only a job with nothing to populate can have been sent before it was taken.
  const job: WorkerJob = { jobId: event.jobId, hardTimeoutMs: event.hardTimeoutMs, isolation: event.isolation, populated };
  if (populated && event.sent === true) job.sent = true;
  return { job, jobsAssigned: context.jobsAssigned + 1 };
});

/** Leaving for `dead` from anywhere: a running job is reported lost first. */
const toDead = [
  { guard: and(['isAlive', 'hasJob']), target: '#worker.dead', actions: [reportJobLost, returnNext, recordDeath] },
  { guard: 'isAlive' as const, target: '#worker.dead', actions: recordDeath },
];

/**
 * The life of one worker process, with no I/O: every side effect is a named action the host
 * provides (see {@link WorkerActionParams}), and the only timer, the hard timeout, is an
 * XState delay, so it runs on the actor's clock.
 *
 * `spawning → idle → running (populating → awaiting → collecting) → clearingDir → idle`
 * (`collecting → idle` directly for a worker that cannot write its dir), and
 * `dead` (final) from anywhere. A job with `isolation: 'job'` ends in `retiring` instead of
 * `clearingDir`: the process is killed and never serves another job. An idle worker that was
 * never assigned a job (`jobsAssigned` 0) is a spare. Events a state does not expect are ignored; once `dead`,
 * the actor is done and ignores everything (a late `RESULT` included).
 *
 * @example
 * const worker = createActor(
 *   workerMachine.provide({ actions: { sendJob: (_, { job }) => send(job), becameIdle: () => schedule() } }),
 *   { input: { id: 'execute-1a2b', kind: 'execute' } },
 * ).start();
 * worker.send({ type: 'SPAWNED' });
 * worker.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 6_000, isolation: 'worker' });
 */
export const workerMachine = workerSetup.createMachine({
  id: 'worker',
  context: ({ input }) => ({
    id: input.id,
    kind: input.kind,
    job: undefined,
    next: undefined,
    jobsCompleted: 0,
    jobsAssigned: 0,
    lastFailure: undefined,
    dirReadOnly: false,
  }),
  initial: 'spawning',
  on: {
    EXITED: toDead,
    KILL: toDead,
  },
  states: {
    spawning: {
      on: {
        SPAWNED: { target: 'idle', actions: assign({ dirReadOnly: ({ event }) => event.dirReadOnly === true }) },
        SPAWN_FAILED: { target: 'dead', actions: recordDeath },
      },
    },
    idle: {
      entry: {
        type: 'becameIdle',
        params: ({ context }) => ({ workerId: context.id, jobsCompleted: context.jobsCompleted, spare: context.jobsAssigned === 0 }),
      },
      on: {
        // Work a job left running: the worker must not take another job.
        IDLE_CPU: { target: 'dead', actions: recordDeath },
        // A dir that already holds what the job needs (the same artifact as the last job) skips `populating`.
        ASSIGN: [
          { guard: 'populated', target: '#worker.running.awaiting', actions: takeJob },
          { target: 'running', actions: takeJob },
        ],
      },
    },
    running: {
      initial: 'populating',
      on: {
        NEXT_GONE: { guard: 'hasNext', actions: [returnNext, assign({ next: undefined })] },
      },
      states: {
        populating: {
          entry: { type: 'populateDir', params: ({ context }) => ({ workerId: context.id, job: currentJob(context) }) },
          on: {
            POPULATED: 'awaiting',
            POPULATE_FAILED: afterJob(failJob('populate-failed')),
          },
        },
        awaiting: {
          // A pipelined job's request went out with PIPELINE: it is not sent again.
          entry: workerSetup.enqueueActions(({ context, enqueue }) => {
            const job = currentJob(context);
            if (!job.sent) enqueue({ type: 'sendJob', params: { workerId: context.id, job } });
          }),
          // Leaving `awaiting` (a RESULT, an exit) cancels the timer: XState cancels a state's delays on exit.
          after: {
            hardTimeout: {
              target: '#worker.dead',
              actions: [
                workerSetup.enqueueActions(({ context, event, enqueue }) => {
                  enqueue({ type: 'jobFailed', params: jobFailedParams(context, 'hard-timeout', deathFailure(context, event)) });
                }),
                returnNext,
                recordDeath,
              ],
            },
          },
          // A reply the host collected at once (an execute's) ends the job here: no `collecting`.
          on: {
            RESULT: [...afterCollectedResult, { target: 'collecting' }],
            PIPELINE: { guard: 'canPipeline', actions: takeNext },
          },
        },
        collecting: {
          entry: { type: 'collectResult', params: ({ context }) => ({ workerId: context.id, job: currentJob(context) }) },
          on: {
            // A next job waits on the worker (pipelined): it starts now. A failed collect with one
            // kills the worker, which would run a job the host no longer tracks; the next job is handed back.
            COLLECTED: [{ guard: 'hasNext', target: '#worker.running.awaiting', reenter: true, actions: completeAndStartNext }, ...afterJob(completeJob, true)],
            COLLECT_FAILED: [{ guard: 'hasNext', target: '#worker.dead', actions: [failJob('collect-failed'), returnNext, recordDeath] }, ...afterJob(failJob('collect-failed'))],
          },
        },
      },
    },
    clearingDir: {
      entry: { type: 'clearDir', params: ({ context }) => ({ workerId: context.id }) },
      on: {
        CLEARED: 'idle',
        // A dir that cannot be cleared may hold the last job's data: the worker must not take another.
        CLEAR_FAILED: { target: 'dead', actions: recordDeath },
      },
    },
    retiring: {
      entry: { type: 'retireProcess', params: ({ context }) => ({ workerId: context.id }) },
      on: {
        // The exit it asked for: a planned end, not a failure (a KILL still counts as one).
        EXITED: { target: 'dead', actions: recordRetired },
      },
    },
    dead: {
      type: 'final',
      entry: {
        type: 'killProcess',
        params: ({ context }) => ({
          workerId: context.id,
          reason: context.lastFailure?.reason ?? 'killed',
          message: context.lastFailure?.message ?? `worker ${context.id} is dead`,
        }),
      },
    },
  },
  output: ({ context }) => ({
    id: context.id,
    kind: context.kind,
    jobsCompleted: context.jobsCompleted,
    failure: context.lastFailure ?? { reason: 'killed', message: `worker ${context.id} is dead` },
  }),
});

/**
 * The worker machine with the host's side effects as plain functions of their parameters,
 * so the host does not depend on XState's action signature. Missing actions stay no-ops.
 *
 * @example
 * const machine = provideWorkerActions({
 *   clearDir: ({ workerId }) => clear(workerId).then(() => actor.send({ type: 'CLEARED' }), (error) => actor.send({ type: 'CLEAR_FAILED', error })),
 *   killProcess: ({ workerId, reason }) => void processes.get(workerId)?.kill(),
 * });
 */
export function provideWorkerActions(actions: Partial<WorkerActions>) {
  const provided: Record<string, (_: unknown, params: never) => void> = {};
  for (const [name, action] of Object.entries(actions)) {
    if (action) provided[name] = (_, params) => (action as (params: unknown) => void)(params);
  }
  return workerMachine.provide({ actions: provided });
}
