import { and, setup } from 'xstate';
import { isPoolSize, resolveSupervisorInput } from './supervisorInput.js';
import type {
  SupervisorActionParams,
  SupervisorActions,
  SupervisorInternalEvent,
  SupervisorMachineContext,
  SupervisorMachineEvent,
  SupervisorMachineInput,
} from './supervisorTypes.js';

type Context = SupervisorMachineContext;
type Event = SupervisorMachineEvent | SupervisorInternalEvent;

/** Workers to spawn so that alive + spawning reaches the size. */
function missing(context: Context): number {
  return Math.max(0, context.size - context.workers.length - context.spawning);
}

/** Workers to retire so that alive + spawning, less those already retiring, comes down to the size. */
function surplus(context: Context): number {
  const over = context.workers.length - context.retiring + context.spawning - context.size;
  return Math.max(0, Math.min(over, context.workers.length - context.retiring));
}

function findWorker(context: Context, event: Event) {
  return event.type === 'WORKER_DIED' || event.type === 'WORKER_SERVED' || event.type === 'supervisor.workerStable'
    ? context.workers.find((worker) => worker.id === event.id)
    : undefined;
}

function failureMessage(event: Event): string {
  if (event.type === 'SPAWN_FAILED') return `spawn failed: ${event.error.message}`;
  if (event.type === 'WORKER_DIED') return `worker ${event.id} died before it was stable: ${event.reason}`;
  return event.type;
}

const noop = () => {};

const supervisorSetup = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as SupervisorMachineInput,
  },
  // Defaults do nothing: the host supplies every side effect through `provide`.
  actions: {
    spawnWorker: noop as (_: unknown, params: SupervisorActionParams['spawnWorker']) => void,
    retireWorkers: noop as (_: unknown, params: SupervisorActionParams['retireWorkers']) => void,
    poolDegraded: noop as (_: unknown, params: SupervisorActionParams['poolDegraded']) => void,
    poolRecovered: noop as (_: unknown, params: SupervisorActionParams['poolRecovered']) => void,
  },
  guards: {
    /** Answers a pending `spawnWorker` with a worker not already counted (the host's ids are unique). */
    isNewWorker: ({ context, event }) =>
      event.type === 'WORKER_SPAWNED' && context.spawning > 0 && !context.workers.some((worker) => worker.id === event.id),
    /** Answers a pending `spawnWorker`: anything else is a stray the counts must not absorb. */
    isPendingSpawn: ({ context }) => context.spawning > 0,
    isKnownWorker: ({ context, event }) => findWorker(context, event) !== undefined,
    /**
     * A death the host did not cause, of a worker that never started properly (not alive for
     * `stableMs`, never took a job): spawning, or the sandbox, is failing.
     */
    isEarlyDeath: ({ context, event }) =>
      event.type === 'WORKER_DIED' && event.expected !== true && findWorker(context, event)?.stable === false,
    /** Evaluated before the failure is counted, hence the + 1. */
    wouldCrashLoop: ({ context }) => context.recentFailures + 1 > context.crashLoop.maxFailures,
    isUnstableWorker: ({ context, event }) => findWorker(context, event)?.stable === false,
    isCurrentFailure: ({ context, event }) =>
      event.type === 'supervisor.failureExpired' && event.epoch === context.failureEpoch && context.recentFailures > 0,
    isValidSize: ({ event }) => event.type === 'RESIZE' && isPoolSize(event.size),
    isFull: ({ context }) => context.workers.length >= context.size,
  },
  delays: {
    backoff: ({ context }) => context.backoffMs,
    cooldown: ({ context }) => context.cooldownMs,
    failureWindow: ({ context }) => context.crashLoop.windowMs,
    stable: ({ context }) => context.stableMs,
  },
});

const spawnMissing = supervisorSetup.enqueueActions(({ context, enqueue }) => {
  const count = missing(context);
  for (let i = 0; i < count; i++) enqueue({ type: 'spawnWorker', params: { kind: context.kind } });
  enqueue.assign({ spawning: context.spawning + count });
});

/** The one spawn a degraded pool tries after its cooldown (none if a spawn is already in flight for the gap). */
const spawnProbe = supervisorSetup.enqueueActions(({ context, enqueue }) => {
  if (missing(context) === 0) return;
  enqueue({ type: 'spawnWorker', params: { kind: context.kind } });
  enqueue.assign({ spawning: context.spawning + 1 });
});

const retireSurplus = supervisorSetup.enqueueActions(({ context, enqueue }) => {
  const count = surplus(context);
  if (count === 0) return;
  enqueue({ type: 'retireWorkers', params: { kind: context.kind, count } });
  enqueue.assign({ retiring: context.retiring + count });
});

const resize = supervisorSetup.assign(({ event }) => (event.type === 'RESIZE' ? { size: event.size } : {}));

const addWorker = supervisorSetup.enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'WORKER_SPAWNED') return;
  enqueue.assign({
    spawning: context.spawning - 1,
    workers: [...context.workers, { id: event.id, stable: false }],
  });
  // The worker proves spawning works by staying alive; its death cancels this.
  enqueue.raise({ type: 'supervisor.workerStable', id: event.id }, { id: `stable:${event.id}`, delay: 'stable' });
});

const removeWorker = supervisorSetup.enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'WORKER_DIED') return;
  enqueue.cancel(`stable:${event.id}`);
  const workers = context.workers.filter((worker) => worker.id !== event.id);
  const retiring = event.expected === true ? Math.max(0, context.retiring - 1) : context.retiring;
  // A worker picked for retirement that dies some other way should still be reported
  // `expected`; if it is not, no more retirements can be pending than workers are alive.
  enqueue.assign({ workers, retiring: Math.min(retiring, workers.length) });
});

const spawnAnswered = supervisorSetup.assign(({ context }) => ({ spawning: context.spawning - 1 }));

/** Counts a failure in the window and schedules its expiry on the actor's clock. */
const recordFailure = supervisorSetup.enqueueActions(({ context, event, enqueue }) => {
  enqueue.assign({ recentFailures: context.recentFailures + 1, lastFailure: failureMessage(event) });
  enqueue.raise({ type: 'supervisor.failureExpired', epoch: context.failureEpoch }, { delay: 'failureWindow' });
});

const growBackoff = supervisorSetup.assign(({ context }) => ({
  backoffMs: Math.min(context.backoffMs * context.backoff.factor, context.backoff.maxMs),
}));

/** The worker proved that spawning works (it stayed alive, or it took a job): the backoff starts over. */
const markStable = supervisorSetup.enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'supervisor.workerStable' && event.type !== 'WORKER_SERVED') return;
  // Served before `stableMs`: its own timer has nothing left to prove.
  if (event.type === 'WORKER_SERVED') enqueue.cancel(`stable:${event.id}`);
  enqueue.assign({
    workers: context.workers.map((worker) => (worker.id === event.id ? { ...worker, stable: true } : worker)),
    backoffMs: context.backoff.initialMs,
  });
});

const expireFailure = supervisorSetup.assign(({ context }) => ({ recentFailures: context.recentFailures - 1 }));

/** A recovered pool starts a fresh window: the failures that degraded it are forgiven. */
const startFreshWindow = supervisorSetup.assign(({ context }) => ({ recentFailures: 0, failureEpoch: context.failureEpoch + 1 }));

const poolRecovered = { type: 'poolRecovered', params: ({ context }: { context: Context }) => ({ kind: context.kind }) } as const;

/** A failure in `running` or `backingOff`: too many in the window degrade the pool. */
const degradeOnCrashLoop = {
  SPAWN_FAILED: {
    guard: and(['isPendingSpawn', 'wouldCrashLoop']),
    target: '#supervisor.degraded',
    actions: [spawnAnswered, recordFailure],
  },
  WORKER_DIED: {
    guard: and(['isEarlyDeath', 'wouldCrashLoop']),
    target: '#supervisor.degraded',
    actions: [removeWorker, recordFailure],
  },
} as const;

/**
 * What every live state does with the host's reports: keep the counts. States that react
 * further (spawn, back off, degrade) list their own transitions first. Not on the root, so
 * that `stopped` is inert even for the pure transition function (restored snapshots, graph
 * walks), which does not stop at a final state as an actor does.
 */
const bookkeeping = {
  STOP: { target: '#supervisor.stopped' },
  RESIZE: { guard: 'isValidSize', actions: [resize, retireSurplus] },
  WORKER_SPAWNED: { guard: 'isNewWorker', actions: [addWorker, retireSurplus] },
  SPAWN_FAILED: { guard: 'isPendingSpawn', actions: [spawnAnswered, recordFailure] },
  WORKER_DIED: [
    { guard: 'isEarlyDeath', actions: [removeWorker, recordFailure] },
    { guard: 'isKnownWorker', actions: removeWorker },
  ],
  WORKER_SERVED: { guard: 'isUnstableWorker', actions: markStable },
  'supervisor.workerStable': { guard: 'isUnstableWorker', actions: markStable },
  'supervisor.failureExpired': { guard: 'isCurrentFailure', actions: expireFailure },
} as const;

/**
 * Keeps one pool (prepare or execute) at its size, with no I/O: the host spawns and retires
 * workers when asked through named actions ({@link SupervisorActionParams}) and reports back
 * with events; backoff, cooldown, the failure window and worker stability are XState delays
 * on the actor's clock.
 *
 * - `running`: spawns what is missing (`spawnWorker` once per worker).
 * - `backingOff`: after a spawn failure or an early death; waits `backoff`, which grows by
 *   `factor` up to `maxMs` and resets once a new worker stays alive for `stableMs` or takes a job.
 * - A failure is a spawn failure or an early death: a worker the host did not end, dying before
 *   it was stable. A worker that took a job (`WORKER_SERVED`) is stable: what ends it later is
 *   its jobs' doing, and one tenant's code must not degrade the pool for everyone.
 * - `degraded`: more than `maxFailures` failures within `windowMs`; no respawning
 *   (`poolDegraded`); after `cooldownMs`, one spawn: success → `running` (`poolRecovered`).
 * - `stopped` (final): after STOP, nothing is spawned any more.
 *
 * @example
 * const supervisor = createActor(
 *   supervisorMachine.provide({ actions: { spawnWorker: (_, { kind }) => host.spawn(kind) } }),
 *   { input: { kind: 'execute', size: 4, cooldownMs: 30_000,
 *     backoff: { initialMs: 100, maxMs: 10_000, factor: 2 }, crashLoop: { maxFailures: 5, windowMs: 60_000 } } },
 * ).start();
 */
export const supervisorMachine = supervisorSetup.createMachine({
  id: 'supervisor',
  context: ({ input }) => resolveSupervisorInput(input),
  initial: 'running',
  states: {
    running: {
      entry: spawnMissing,
      on: {
        ...bookkeeping,
        RESIZE: { guard: 'isValidSize', actions: [resize, retireSurplus, spawnMissing] },
        SPAWN_FAILED: [
          degradeOnCrashLoop.SPAWN_FAILED,
          { guard: 'isPendingSpawn', target: 'backingOff', actions: [spawnAnswered, recordFailure] },
        ],
        WORKER_DIED: [
          degradeOnCrashLoop.WORKER_DIED,
          { guard: 'isEarlyDeath', target: 'backingOff', actions: [removeWorker, recordFailure] },
          // A death that is no failure (a long-lived worker, a retirement): replace it now.
          { guard: 'isKnownWorker', actions: [removeWorker, spawnMissing] },
        ],
      },
    },
    backingOff: {
      // Below the crash-loop threshold a failure is only counted: the wait is not restarted.
      on: {
        ...bookkeeping,
        SPAWN_FAILED: [degradeOnCrashLoop.SPAWN_FAILED, bookkeeping.SPAWN_FAILED],
        WORKER_DIED: [degradeOnCrashLoop.WORKER_DIED, ...bookkeeping.WORKER_DIED],
      },
      after: { backoff: { target: 'running', actions: growBackoff } },
    },
    degraded: {
      entry: {
        type: 'poolDegraded',
        params: ({ context }) => ({ kind: context.kind, recentFailures: context.recentFailures, lastFailure: context.lastFailure }),
      },
      on: bookkeeping,
      initial: 'waiting',
      states: {
        waiting: {
          after: {
            cooldown: [
              // Workers that were alive all along fill the pool: nothing to prove.
              { guard: 'isFull', target: '#supervisor.running', actions: [startFreshWindow, poolRecovered] },
              { target: 'probing' },
            ],
          },
        },
        probing: {
          entry: spawnProbe,
          on: {
            WORKER_SPAWNED: {
              guard: 'isNewWorker',
              target: '#supervisor.running',
              actions: [addWorker, retireSurplus, startFreshWindow, poolRecovered],
            },
            SPAWN_FAILED: { guard: 'isPendingSpawn', target: 'waiting', actions: [spawnAnswered, recordFailure] },
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
});

/**
 * The supervisor machine with the host's side effects as plain functions of their
 * parameters. Missing actions stay no-ops.
 *
 * @example
 * const machine = provideSupervisorActions({
 *   spawnWorker: ({ kind }) => void spawn(kind),
 *   poolDegraded: ({ kind, lastFailure }) => host.emit('pool:degraded', { kind, lastFailure }),
 * });
 */
export function provideSupervisorActions(actions: Partial<SupervisorActions>) {
  const provided: Record<string, (_: unknown, params: never) => void> = {};
  for (const [name, action] of Object.entries(actions)) {
    if (action) provided[name] = (_, params) => (action as (params: unknown) => void)(params);
  }
  return supervisorMachine.provide({ actions: provided });
}
