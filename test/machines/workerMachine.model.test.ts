// Model-based tests: xstate/graph walks every reachable state and every transition of the
// worker machine; each is checked against invariants, then replayed on a real actor (host
// actions recording, the hard timeout driven by a SimulatedClock) to check what the host heard.
import test from 'ava';
import { createActor, SimulatedClock, type SnapshotFrom } from 'xstate';
import { serializeSnapshot } from 'xstate/graph';
import { explore, stateNodesOf, valueOf } from '../helpers/model.js';
import { workerActionNames, workerMachine, type WorkerMachineEvent } from '../../src/machines/index.js';

type Snapshot = SnapshotFrom<typeof workerMachine>;
type ModelEvent = WorkerMachineEvent | { type: `xstate.after.${string}` };

const input = { id: 'w1', kind: 'execute' } as const;
const HARD_TIMEOUT_MS = 1_000;
/** Enough to loop idle → running → idle twice: the counter makes the state space infinite. */
const MAX_JOBS = 2;
const populateError = new Error('populate');
const collectError = new Error('collect');
const clearError = new Error('clear');
const spawnError = new Error('spawn');

// Every event the machine defines, with the payloads the model sends. The mapped type makes a
// new event type a compile error here until the model knows how to send it.
const payloads: { [K in WorkerMachineEvent['type']]: (snapshot: Snapshot) => Array<Extract<WorkerMachineEvent, { type: K }>> } = {
  SPAWNED: () => [{ type: 'SPAWNED' }, { type: 'SPAWNED', dirReadOnly: true }],
  SPAWN_FAILED: () => [{ type: 'SPAWN_FAILED', error: spawnError }],
  ASSIGN: (snapshot) =>
    (['worker', 'job'] as const).flatMap((isolation) =>
      [false, true].map((populated) => ({
        type: 'ASSIGN' as const,
        jobId: `job-${snapshot.context.jobsAssigned + 1}`,
        hardTimeoutMs: HARD_TIMEOUT_MS,
        isolation,
        populated,
      })),
    ),
  PIPELINE: (snapshot) =>
    (['worker', 'job'] as const).map((isolation) => ({
      type: 'PIPELINE' as const,
      jobId: `job-${snapshot.context.jobsAssigned + 1}`,
      hardTimeoutMs: HARD_TIMEOUT_MS,
      isolation,
    })),
  NEXT_GONE: () => [{ type: 'NEXT_GONE' }],
  POPULATED: () => [{ type: 'POPULATED' }],
  POPULATE_FAILED: () => [{ type: 'POPULATE_FAILED', error: populateError }],
  RESULT: () => [{ type: 'RESULT' }, { type: 'RESULT', collected: true }],
  COLLECTED: () => [{ type: 'COLLECTED' }],
  COLLECT_FAILED: () => [{ type: 'COLLECT_FAILED', error: collectError }],
  CLEARED: () => [{ type: 'CLEARED' }],
  CLEAR_FAILED: () => [{ type: 'CLEAR_FAILED', error: clearError }],
  EXITED: () => [
    { type: 'EXITED', code: 1, signal: null, reason: 'crashed' },
    { type: 'EXITED', code: null, signal: 'SIGKILL', reason: 'oom-killed' },
  ],
  KILL: () => [{ type: 'KILL', reason: 'shutdown' }],
  IDLE_CPU: () => [{ type: 'IDLE_CPU', cpuMs: 600, idleMs: 1_000 }],
};

/** Delayed transitions appear as `xstate.after.*` events: the model takes them like any other. */
const { stateNodes, afterEvents } = stateNodesOf(workerMachine);

/** The whole alphabet, in every state: events a state ignores are self-loops the walk discards. */
function events(snapshot: Snapshot): ModelEvent[] {
  const makers = Object.values(payloads) as Array<(snapshot: Snapshot) => ModelEvent[]>;
  const all = makers.flatMap((make) => make(snapshot));
  return [...all, ...afterEvents.map((type) => ({ type }) as ModelEvent)];
}

const traversal = {
  input,
  events,
  filterEvents: (snapshot: Snapshot, event: ModelEvent) =>
    !((event.type === 'ASSIGN' || event.type === 'PIPELINE') && snapshot.context.jobsAssigned + (snapshot.context.next ? 1 : 0) >= MAX_JOBS),
};
const { paths, adjacency } = explore<Snapshot, ModelEvent>(workerMachine, traversal);

/** What must hold in every reachable snapshot. */
function checkInvariants(snapshot: Snapshot): string[] {
  const { context } = snapshot;
  const problems: string[] = [];
  const running = snapshot.matches('running');
  if (running !== (context.job !== undefined)) problems.push('a job is set exactly while running');
  if (context.job && context.job.hardTimeoutMs !== HARD_TIMEOUT_MS) problems.push('the job is the one assigned');
  if (context.jobsCompleted < 0 || context.jobsCompleted > context.jobsAssigned) problems.push('jobsCompleted in range');
  if (context.jobsAssigned > MAX_JOBS) problems.push('jobsAssigned in range');
  if (snapshot.matches('retiring') && (context.jobsAssigned === 0 || context.job)) problems.push('only a process that ran a job retires, with no job left');
  if (snapshot.matches('dead') && context.lastFailure?.reason === 'retired' && context.jobsAssigned === 0) problems.push('a spare is never retired');
  if (snapshot.matches('dead') !== (snapshot.status === 'done')) problems.push('done exactly when dead');
  if (snapshot.matches('dead') && context.lastFailure === undefined) problems.push('a dead worker knows why');
  if (snapshot.matches('spawning') && (context.jobsAssigned > 0 || context.lastFailure)) problems.push('spawning is the start');
  if (context.next && !running) problems.push('a next job only behind a running one');
  if (context.next && !(context.dirReadOnly && context.job?.populated && context.job.isolation === 'worker' && context.next.isolation === 'worker')) {
    problems.push('a next job only where pipelining keeps jobs apart');
  }
  if (context.next && context.next.hardTimeoutMs !== HARD_TIMEOUT_MS) problems.push('the next job is the one pipelined');
  return problems;
}

test('IDLE_CPU kills an idle worker and only an idle one, and fails no job', (t) => {
  let kills = 0;
  for (const { state, transitions: edges } of Object.values(adjacency)) {
    for (const { event, state: next } of Object.values(edges)) {
      if (event.type !== 'IDLE_CPU') continue;
      if (state.matches('idle')) {
        kills++;
        t.true(next.matches('dead'), serializeSnapshot(state));
        t.is(next.context.lastFailure?.reason, 'idle-cpu');
        t.is(next.context.jobsCompleted, state.context.jobsCompleted);
      } else {
        t.is(serializeSnapshot(next), serializeSnapshot(state), `IDLE_CPU outside idle changes nothing: ${serializeSnapshot(state)}`);
      }
    }
  }
  t.true(kills > 0);
  // On a real actor: the kill is the last thing the host hears, and no job is failed for it.
  const calls: string[] = [];
  const actions = Object.fromEntries(workerActionNames.map((name) => [name, () => calls.push(name)]));
  const actor = createActor(workerMachine.provide({ actions }), { input }).start();
  actor.send({ type: 'SPAWNED' });
  actor.send({ type: 'IDLE_CPU', cpuMs: 600, idleMs: 1_000 });
  t.deepEqual(calls, ['becameIdle', 'killProcess']);
  t.deepEqual(actor.getSnapshot().output?.failure.reason, 'idle-cpu');
  t.regex(actor.getSnapshot().output?.failure.message ?? '', /used 600 ms of CPU in 1000 ms while idle/);
});

test('the walk reaches every state node of the worker machine', (t) => {
  const reached = stateNodes.filter((node) => paths.some((path) => path.state.matches(valueOf(node.path) as never)));
  t.deepEqual(
    reached.map((node) => node.id),
    stateNodes.map((node) => node.id),
  );
  t.true(afterEvents.length === 1, 'the hard timeout is the only delay');
  t.true(paths.some((path) => path.steps.some((step) => step.event.type.startsWith('xstate.after.'))));
});

test('every reachable snapshot and every transition target satisfies the invariants', (t) => {
  let transitions = 0;
  for (const { state, transitions: edges } of Object.values(adjacency)) {
    t.deepEqual(checkInvariants(state), [], serializeSnapshot(state));
    for (const { event, state: next } of Object.values(edges)) {
      transitions++;
      t.deepEqual(checkInvariants(next), [], `${serializeSnapshot(state)} --${event.type}-->`);
      // A final state is final: nothing moves it, a late RESULT included.
      if (state.status === 'done') t.is(serializeSnapshot(next), serializeSnapshot(state));
    }
  }
  t.true(transitions > 100, `walked ${transitions} transitions`);
  t.log(`${Object.keys(adjacency).length} snapshots, ${transitions} transitions, ${paths.length} shortest paths`);
});

/**
 * Replays events on a real actor; `xstate.after.*` events become clock time, not sends.
 * Counts the jobs assigned and checks that each is settled (a collected result or one
 * `jobFailed`) at most once, and only while it is open.
 */
function replay(eventsToSend: readonly ModelEvent[]) {
  const calls: Array<{ name: string; params: Record<string, unknown> }> = [];
  const actions = Object.fromEntries(
    workerActionNames.map((name) => [name, (_: unknown, params: Record<string, unknown>) => calls.push({ name, params })]),
  );
  const clock = new SimulatedClock();
  const actor = createActor(workerMachine.provide({ actions }), { input, clock }).start();
  let assigned = 0;
  let settled = 0;
  let returned = 0;
  let settledWhileClosed = 0;
  /** Jobs the worker holds: the running one and a pipelined one. */
  const open = new Set<string>();
  for (const event of eventsToSend) {
    if ((event.type as string) === 'xstate.init') continue;
    const before = actor.getSnapshot();
    const seen = calls.length;
    if (event.type.startsWith('xstate.after.')) {
      // Time passes; it fires the hard timeout only where one is armed.
      clock.increment(HARD_TIMEOUT_MS);
    } else {
      actor.send(event as WorkerMachineEvent);
    }
    const after = actor.getSnapshot();
    if (event.type === 'ASSIGN' && before.matches('idle')) {
      assigned++;
      open.add(after.context.job!.jobId);
    }
    if (event.type === 'PIPELINE' && !before.context.next && after.context.next) {
      assigned++;
      open.add(after.context.next.jobId);
    }
    const failed = calls.slice(seen).filter((call) => call.name === 'jobFailed');
    const collected =
      (event.type === 'COLLECTED' && before.matches({ running: 'collecting' })) ||
      (event.type === 'RESULT' && event.collected === true && before.matches({ running: 'awaiting' }))
        ? [before.context.job!.jobId]
        : [];
    for (const jobId of [...failed.map((call) => call.params.jobId as string), ...collected]) {
      settled++;
      if (!open.delete(jobId)) settledWhileClosed++;
    }
    for (const call of calls.slice(seen).filter((c) => c.name === 'nextReturned')) {
      returned++;
      if (!open.delete(call.params.jobId as string)) settledWhileClosed++;
    }
  }
  return { snapshot: actor.getSnapshot(), calls, settled, returned, settledWhileClosed, assigned, open: open.size };
}

test('each shortest path, replayed on a real actor, ends in the model state with a consistent action log', (t) => {
  for (const path of paths) {
    const label = path.steps.map((step) => step.event.type).join(' → ');
    const { snapshot, calls, settled, returned, settledWhileClosed, assigned, open } = replay(path.steps.map((step) => step.event));
    t.deepEqual(snapshot.value, path.state.value, label);
    t.deepEqual(snapshot.context, path.state.context, label);
    const names = calls.map((call) => call.name);
    const count = (name: string) => names.filter((n) => n === name).length;
    // Every job assigned is settled or handed back exactly once, except those the worker still
    // holds (the running one and a pipelined one); a dead worker holds none.
    const held = (snapshot.matches('running') ? 1 : 0) + (snapshot.context.next ? 1 : 0);
    t.is(open, held, label);
    t.is(settled + returned, assigned - held, label);
    t.is(settledWhileClosed, 0, label);
    // Each job is sent once: a pipelined one by PIPELINE, and not again when it starts.
    t.true(count('sendJob') + count('sendNext') <= assigned, label);
    t.true(count('nextStarted') <= count('sendNext'), label);
    // A dir that already held what the job needs is not populated.
    t.true(count('populateDir') <= assigned, label);
    t.true(count('sendJob') <= assigned, label);
    t.true(count('collectResult') <= count('sendJob'), label);
    // killProcess exactly once when dead, and it is the last thing the host hears.
    t.is(count('killProcess'), snapshot.matches('dead') ? 1 : 0, label);
    if (snapshot.matches('dead')) t.is(names.at(-1), 'killProcess', label);
    // Between two jobs the dir is cleared: idle is entered once at spawn, then once per clear;
    // a worker that cannot write its dir may also skip the clear after a collected job (and only then).
    const skippable = snapshot.context.dirReadOnly ? count('sendJob') : 0;
    t.true(count('becameIdle') <= count('clearDir') + 1 + skippable, label);
    // A job ends in idle without the clear only on a dir its process cannot write, and only if
    // nothing was populated for it: between two idles there is a clear, or neither a populate
    // nor a failure (a job failed to populate or collect is always cleared after).
    const idles = names.flatMap((name, i) => (name === 'becameIdle' ? [i] : []));
    for (let k = 1; k < idles.length; k++) {
      const between = names.slice(idles[k - 1]! + 1, idles[k]);
      if (between.includes('clearDir')) continue;
      t.true(snapshot.context.dirReadOnly, label);
      t.false(between.includes('populateDir') || between.includes('jobFailed'), label);
    }
    t.true(count('clearDir') + count('retireProcess') <= assigned, label);
    // A retired process is done with jobs: nothing is populated or cleared after, no idle again.
    const retiredAt = names.indexOf('retireProcess');
    if (retiredAt >= 0) {
      const after = names.slice(retiredAt + 1);
      t.true(after.every((name) => name === 'killProcess'), label);
      const lastJob = path.steps.filter((step) => step.event.type === 'ASSIGN').at(-1)!.event;
      t.is((lastJob as Extract<WorkerMachineEvent, { type: 'ASSIGN' }>).isolation, 'job', label);
    }
    // Spare-ness: idle with no job ever assigned, reported with becameIdle.
    for (const call of calls.filter((c) => c.name === 'becameIdle')) t.is(typeof call.params.spare, 'boolean', label);
  }
});

test('every transition, replayed on a real actor, matches the model', (t) => {
  const byState = new Map(paths.map((path) => [serializeSnapshot(path.state), path]));
  let checked = 0;
  for (const [key, { transitions }] of Object.entries(adjacency)) {
    const head = byState.get(key as never);
    if (!head) continue;
    for (const { event, state: expected } of Object.values(transitions)) {
      const { snapshot } = replay([...head.steps.map((step) => step.event), event]);
      t.deepEqual(snapshot.value, expected.value);
      t.deepEqual(snapshot.context, expected.context);
      checked++;
    }
  }
  t.true(checked > 100, `replayed ${checked} transitions`);
});
