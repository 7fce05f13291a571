// Model-based tests: xstate/graph walks every reachable state and transition of the
// supervisor, including the events it schedules for itself on its clock (backoff, cooldown,
// worker stability, failure expiry), which the walk takes like any other event; each is
// checked against the pool invariants, and each shortest path is replayed on a real actor.
import test from 'ava';
import { createActor, SimulatedClock, type SnapshotFrom } from 'xstate';
import { serializeSnapshot } from 'xstate/graph';
import { explore, stateNodesOf, valueOf, type ModelPath } from '../helpers/model.js';
import {
  supervisorActionNames,
  supervisorMachine,
  type SupervisorInternalEvent,
  type SupervisorMachineEvent,
  type SupervisorMachineInput,
} from '../../src/machines/index.js';

type Snapshot = SnapshotFrom<typeof supervisorMachine>;
type Event = SupervisorMachineEvent | SupervisorInternalEvent;
type ModelEvent = Event | { type: `xstate.after.${string}` };

// Small numbers keep the state space small; backoffMs takes the values 100, 200, 400.
const input: SupervisorMachineInput = {
  kind: 'prepare',
  size: 2,
  backoff: { initialMs: 100, maxMs: 400, factor: 2 },
  crashLoop: { maxFailures: 1, windowMs: 1_000 },
  cooldownMs: 500,
  stableMs: 300,
};
const spawnError = new Error('spawn');
const IDS = ['w0', 'w1', 'w2', 'w3'];

// Every event type with the payloads the model sends, from the snapshot: the host's ids are
// unique among live workers, and internal events carry what the machine would have scheduled.
const payloads: { [K in Event['type']]: (snapshot: Snapshot) => Array<Extract<Event, { type: K }>> } = {
  WORKER_SPAWNED: ({ context }) => {
    const id = IDS.find((candidate) => !context.workers.some((worker) => worker.id === candidate));
    return id ? [{ type: 'WORKER_SPAWNED', id }] : [];
  },
  SPAWN_FAILED: () => [{ type: 'SPAWN_FAILED', error: spawnError }],
  WORKER_DIED: ({ context }) =>
    context.workers.flatMap((worker) => [
      { type: 'WORKER_DIED' as const, id: worker.id, reason: 'crashed' },
      { type: 'WORKER_DIED' as const, id: worker.id, reason: 'retired', expected: true },
    ]),
  WORKER_SERVED: ({ context }) => context.workers.map((worker) => ({ type: 'WORKER_SERVED' as const, id: worker.id })),
  RESIZE: () => [1, 3, -1].map((size) => ({ type: 'RESIZE' as const, size })),
  STOP: () => [{ type: 'STOP' }],
  'supervisor.workerStable': ({ context }) =>
    context.workers.filter((worker) => !worker.stable).map((worker) => ({ type: 'supervisor.workerStable' as const, id: worker.id })),
  'supervisor.failureExpired': ({ context }) => [
    { type: 'supervisor.failureExpired', epoch: context.failureEpoch },
    // A stale expiry from before a recovery must change nothing.
    ...(context.failureEpoch > 0 ? [{ type: 'supervisor.failureExpired' as const, epoch: context.failureEpoch - 1 }] : []),
  ],
};

const { stateNodes, afterEvents } = stateNodesOf(supervisorMachine);

function events(snapshot: Snapshot): ModelEvent[] {
  const makers = Object.values(payloads) as Array<(snapshot: Snapshot) => ModelEvent[]>;
  return [...makers.flatMap((make) => make(snapshot)), ...afterEvents.map((type) => ({ type }) as ModelEvent)];
}

/**
 * Snapshots that differ only in worker names, worker order or the failure message behave
 * alike (ids serve as identity only; the message only feeds `poolDegraded`): the walk treats
 * them as one state, which keeps it to a few thousand. Paths still carry real snapshots.
 */
function serializeState(snapshot: Snapshot): string {
  const { workers, lastFailure: _message, ...rest } = snapshot.context;
  const stable = workers.map((worker) => worker.stable).sort();
  return JSON.stringify({ value: snapshot.value, context: { ...rest, stable } });
}

const traversal = {
  input,
  events,
  serializeState,
  // The epoch and the failure count grow without bound on loops through `degraded`: walk
  // one recovery and a couple of failures past the threshold, which covers every state.
  stopWhen: (snapshot: Snapshot) =>
    snapshot.context.failureEpoch > 1 || snapshot.context.recentFailures > input.crashLoop.maxFailures + 2,
};
type Path = ModelPath<Snapshot, ModelEvent>;
const { paths, adjacency } = explore<Snapshot, ModelEvent>(supervisorMachine, traversal);

/** What must hold after every step. */
function checkInvariants(snapshot: Snapshot): string[] {
  const c = snapshot.context;
  const problems: string[] = [];
  const alive = c.workers.length;
  if (c.spawning < 0 || c.retiring < 0 || c.recentFailures < 0) problems.push('counts are non-negative');
  if (c.retiring > alive) problems.push('retiring only live workers');
  if (new Set(c.workers.map((worker) => worker.id)).size !== alive) problems.push('worker ids are unique');
  if (![100, 200, 400].includes(c.backoffMs)) problems.push(`backoff ${c.backoffMs} is initialMs·factor^n capped at maxMs`);
  if (snapshot.matches('running') && alive + c.spawning < c.size) problems.push('running keeps alive + spawning at the size');
  if (alive - c.retiring + c.spawning > c.size && alive - c.retiring > 0) problems.push('any surplus is being retired');
  if (!snapshot.matches('degraded') && !snapshot.matches('stopped') && c.recentFailures > c.crashLoop.maxFailures) {
    problems.push('outside degraded, the window holds at most maxFailures failures');
  }
  if (snapshot.matches('stopped') !== (snapshot.status === 'done')) problems.push('done exactly when stopped');
  return problems;
}

test('the walk reaches every state node of the supervisor', (t) => {
  const reached = stateNodes.filter((node) => paths.some((path) => path.state.matches(valueOf(node.path) as never)));
  t.deepEqual(
    reached.map((node) => node.id),
    stateNodes.map((node) => node.id),
  );
  t.deepEqual(afterEvents.sort(), ['xstate.after.backoff.supervisor.backingOff', 'xstate.after.cooldown.supervisor.degraded.waiting']);
});

test('every reachable snapshot and every transition target satisfies the pool invariants', (t) => {
  let transitions = 0;
  const problems: string[] = [];
  for (const { state, transitions: edges } of Object.values(adjacency)) {
    for (const problem of checkInvariants(state)) problems.push(`${problem}: ${serializeSnapshot(state)}`);
    for (const { event, state: next } of Object.values(edges)) {
      transitions++;
      for (const problem of checkInvariants(next)) {
        problems.push(`${problem}: ${serializeSnapshot(state)} --${JSON.stringify(event)}--> ${serializeSnapshot(next)}`);
      }
      // `stopped` is final even for the pure transition function: nothing changes it.
      if (state.status === 'done' && serializeSnapshot(next) !== serializeSnapshot(state)) {
        problems.push(`stopped moved: --${JSON.stringify(event)}--> ${serializeSnapshot(next)}`);
      }
    }
  }
  t.deepEqual(problems.slice(0, 5), []);
  t.true(transitions > 10_000);
  t.log(`${Object.keys(adjacency).length} snapshots, ${transitions} transitions, ${paths.length} shortest paths`);
});

/**
 * Replays events on a real actor by sending them, internal and delayed ones included (the
 * clock never moves, so the actor's own timers never fire twice), and checks the action log
 * against the steps.
 */
function replay(path: Path) {
  const calls: Array<{ name: string; params: Record<string, unknown> }> = [];
  const actions = Object.fromEntries(
    supervisorActionNames.map((name) => [name, (_: unknown, params: Record<string, unknown>) => calls.push({ name, params })]),
  );
  const actor = createActor(supervisorMachine.provide({ actions }), { input, clock: new SimulatedClock() }).start();
  let answered = 0;
  let degradations = 0;
  let recoveries = 0;
  for (const { event } of path.steps) {
    if ((event.type as string) === 'xstate.init') continue;
    const before = actor.getSnapshot();
    actor.send(event as Event);
    const after = actor.getSnapshot();
    // Counted from the effect on the counts: the model sends stray answers too, which must change nothing.
    if (event.type === 'WORKER_SPAWNED' && after.context.workers.length > before.context.workers.length) answered++;
    if (event.type === 'SPAWN_FAILED' && after.context.spawning < before.context.spawning) answered++;
    if (!before.matches('degraded') && after.matches('degraded')) degradations++;
    if (before.matches('degraded') && after.matches('running')) recoveries++;
  }
  return { snapshot: actor.getSnapshot(), calls, answered, degradations, recoveries };
}

test('a worker that took a job never counts against the pool: its death is no failure, whatever it died of', (t) => {
  let served = 0;
  let deathsAfterServing = 0;
  const problems: string[] = [];
  for (const { state, transitions: edges } of Object.values(adjacency)) {
    for (const { event, state: next } of Object.values(edges)) {
      // A worker's first job proves spawning works, as staying alive for stableMs does.
      if (event.type === 'WORKER_SERVED' && state.context.workers.some((worker) => worker.id === event.id && !worker.stable) && !state.matches('stopped')) {
        served++;
        if (!next.context.workers.find((worker) => worker.id === event.id)?.stable) problems.push(`served but not stable: ${serializeSnapshot(next)}`);
        if (next.context.backoffMs !== input.backoff.initialMs) problems.push(`served but the backoff was not reset: ${serializeSnapshot(next)}`);
      }
      const dead = event.type === 'WORKER_DIED' ? state.context.workers.find((worker) => worker.id === event.id) : undefined;
      if (dead?.stable && !state.matches('stopped')) {
        deathsAfterServing++;
        if (next.context.recentFailures !== state.context.recentFailures) problems.push(`a stable worker's death was counted: ${JSON.stringify(event)}`);
        if (state.matches('running') && !next.matches('running')) problems.push(`a stable worker's death left running: ${JSON.stringify(event)}`);
      }
    }
  }
  t.deepEqual(problems.slice(0, 5), []);
  t.true(served > 100 && deathsAfterServing > 100, `${served} WORKER_SERVED, ${deathsAfterServing} deaths of stable workers walked`);
});

test('each shortest path, replayed on a real actor, ends in the model state with a consistent action log', (t) => {
  for (const path of paths) {
    const label = path.steps.map((step) => step.event.type).join(' → ');
    const { snapshot, calls, answered, degradations, recoveries } = replay(path);
    // The walk keeps one snapshot per abstract state: compare under the same abstraction.
    t.is(serializeState(snapshot), serializeState(path.state), label);
    const count = (name: string) => calls.filter((call) => call.name === name).length;
    // Every spawn request is answered once or still pending: none lost, none invented.
    t.is(count('spawnWorker'), answered + snapshot.context.spawning, label);
    t.is(count('poolDegraded'), degradations, label);
    t.is(count('poolRecovered'), recoveries, label);
    const retired = calls.filter((call) => call.name === 'retireWorkers').reduce((sum, call) => sum + (call.params.count as number), 0);
    t.true(retired >= snapshot.context.retiring, label);
    for (const call of calls) if (call.name === 'spawnWorker') t.deepEqual(call.params, { kind: 'prepare' }, label);
  }
});
