import test from 'ava';
import { createActor, SimulatedClock } from 'xstate';
import { InvalidOptionError } from '../../src/errors.js';
import {
  provideSupervisorActions,
  resolveSupervisorInput,
  supervisorActionNames,
  type SupervisorActionName,
  type SupervisorActionParams,
  type SupervisorActions,
  type SupervisorMachineInput,
} from '../../src/machines/index.js';

interface Call {
  name: SupervisorActionName;
  params: SupervisorActionParams[SupervisorActionName];
  at: number;
}

const baseInput: SupervisorMachineInput = {
  kind: 'execute',
  size: 1,
  backoff: { initialMs: 100, maxMs: 1_000, factor: 2 },
  crashLoop: { maxFailures: 100, windowMs: 60_000 },
  cooldownMs: 30_000,
  stableMs: 5_000,
};

type InputOverrides = Partial<Omit<SupervisorMachineInput, 'backoff' | 'crashLoop'>> & {
  backoff?: Partial<SupervisorMachineInput['backoff']>;
  crashLoop?: Partial<SupervisorMachineInput['crashLoop']>;
};

/** A supervisor whose host actions record their calls and the simulated time of each. */
function startSupervisor(overrides: InputOverrides = {}) {
  const clock = new SimulatedClock();
  const calls: Call[] = [];
  const actions = Object.fromEntries(
    supervisorActionNames.map((name) => [name, (params: Call['params']) => calls.push({ name, params, at: clock.now() })]),
  ) as unknown as SupervisorActions;
  const input = {
    ...baseInput,
    ...overrides,
    backoff: { ...baseInput.backoff, ...overrides.backoff },
    crashLoop: { ...baseInput.crashLoop, ...overrides.crashLoop },
  };
  const actor = createActor(provideSupervisorActions(actions), { input, clock }).start();
  const callsOf = <K extends SupervisorActionName>(name: K) =>
    calls.filter((call) => call.name === name) as Array<{ name: K; params: SupervisorActionParams[K]; at: number }>;
  const spawnTimes = () => callsOf('spawnWorker').map((call) => call.at);
  return { actor, clock, calls, callsOf, spawnTimes, state: () => actor.getSnapshot().value, context: () => actor.getSnapshot().context };
}

const boom = new Error('launcher: step=userns errno=EPERM');
let nextId = 0;
const freshId = () => `w${++nextId}`;

test('starts by spawning the whole pool, one spawnWorker per worker', (t) => {
  const pool = startSupervisor({ size: 3 });
  t.is(pool.state(), 'running');
  t.deepEqual(pool.callsOf('spawnWorker').map((call) => call.params), [{ kind: 'execute' }, { kind: 'execute' }, { kind: 'execute' }]);
  t.is(pool.context().spawning, 3);
  for (let i = 0; i < 3; i++) pool.actor.send({ type: 'WORKER_SPAWNED', id: freshId() });
  t.like(pool.context(), { spawning: 0 });
  t.is(pool.context().workers.length, 3);
  t.is(pool.callsOf('spawnWorker').length, 3);
});

test('keeps the pool at its size: a stable worker that dies is replaced at once', (t) => {
  const pool = startSupervisor({ size: 2 });
  const [a, b] = [freshId(), freshId()];
  pool.actor.send({ type: 'WORKER_SPAWNED', id: a });
  pool.actor.send({ type: 'WORKER_SPAWNED', id: b });
  pool.clock.increment(5_000);
  pool.actor.send({ type: 'WORKER_DIED', id: a, reason: 'exit code 1' });
  t.is(pool.state(), 'running');
  t.deepEqual(pool.spawnTimes(), [0, 0, 5_000]);
  t.is(pool.context().recentFailures, 0);
  // A death the host caused (a hard timeout, a retirement) is no failure even when early.
  const c = freshId();
  pool.actor.send({ type: 'WORKER_SPAWNED', id: c });
  pool.actor.send({ type: 'WORKER_DIED', id: c, reason: 'hard-timeout', expected: true });
  t.is(pool.state(), 'running');
  t.deepEqual(pool.spawnTimes(), [0, 0, 5_000, 5_000]);
});

test('a worker that took a job and then dies young is never a failure: one tenant cannot degrade the pool', (t) => {
  const pool = startSupervisor({ crashLoop: { maxFailures: 5, windowMs: 10_000 }, stableMs: 5_000 });
  // Each worker serves one job, then exits while idle 100 ms after its spawn: ten in one second.
  for (let i = 0; i < 10; i++) {
    const id = freshId();
    pool.actor.send({ type: 'WORKER_SPAWNED', id });
    pool.actor.send({ type: 'WORKER_SERVED', id });
    pool.clock.increment(100);
    pool.actor.send({ type: 'WORKER_DIED', id, reason: 'exited' });
    t.is(pool.state(), 'running');
  }
  t.is(pool.context().recentFailures, 0);
  t.is(pool.callsOf('poolDegraded').length, 0);
  t.is(pool.spawnTimes().length, 11, 'each one replaced at once');
  // The same deaths without a job are a crash loop: crash-loop detection is for workers that cannot start.
  for (let i = 0; i < 6; i++) {
    const id = freshId();
    pool.actor.send({ type: 'WORKER_SPAWNED', id });
    pool.clock.increment(100);
    pool.actor.send({ type: 'WORKER_DIED', id, reason: 'exited' });
    pool.clock.increment(pool.context().backoffMs);
  }
  t.is(pool.callsOf('poolDegraded').length, 1);
});

test('WORKER_SERVED makes a worker stable at once: its stability timer is cancelled and the backoff starts over', (t) => {
  const pool = startSupervisor({ stableMs: 5_000 });
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  pool.clock.increment(100);
  t.is(pool.context().backoffMs, 200);
  const a = freshId();
  pool.actor.send({ type: 'WORKER_SPAWNED', id: a });
  pool.actor.send({ type: 'WORKER_SERVED', id: a });
  t.deepEqual(pool.context().workers, [{ id: a, stable: true }]);
  t.is(pool.context().backoffMs, 100);
  // Served again, served by a stranger, its stability delay passing: nothing changes.
  const before = pool.actor.getSnapshot().context;
  pool.actor.send({ type: 'WORKER_SERVED', id: a });
  pool.actor.send({ type: 'WORKER_SERVED', id: 'stranger' });
  pool.clock.increment(5_000);
  t.deepEqual(pool.actor.getSnapshot().context, before);
});

test('backs off exponentially after spawn failures, up to maxMs, with the exact delays', (t) => {
  const pool = startSupervisor({ backoff: { initialMs: 100, maxMs: 1_000, factor: 2 } });
  const expectedGaps = [100, 200, 400, 800, 1_000, 1_000];
  for (const gap of expectedGaps) {
    pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
    t.is(pool.state(), 'backingOff');
    const spawned = pool.spawnTimes().length;
    pool.clock.increment(gap - 1);
    t.is(pool.spawnTimes().length, spawned, `no spawn 1 ms before the ${gap} ms backoff ends`);
    pool.clock.increment(1);
    t.is(pool.spawnTimes().length, spawned + 1, `a spawn when the ${gap} ms backoff ends`);
    t.is(pool.state(), 'running');
  }
  const times = pool.spawnTimes();
  t.deepEqual(times.slice(1).map((time, i) => time - times[i]!), expectedGaps);
});

test('an early death backs off; the backoff resets once a new worker stays alive stableMs', (t) => {
  const pool = startSupervisor({ stableMs: 5_000 });
  const a = freshId();
  pool.actor.send({ type: 'WORKER_SPAWNED', id: a });
  pool.clock.increment(4_999);
  pool.actor.send({ type: 'WORKER_DIED', id: a, reason: 'SIGSYS' });
  t.is(pool.state(), 'backingOff');
  t.is(pool.context().recentFailures, 1);
  pool.clock.increment(100);
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  pool.clock.increment(200);
  t.is(pool.context().backoffMs, 400);
  const b = freshId();
  pool.actor.send({ type: 'WORKER_SPAWNED', id: b });
  pool.clock.increment(4_999);
  t.is(pool.context().backoffMs, 400, 'not stable yet');
  pool.clock.increment(1);
  t.is(pool.context().backoffMs, 100);
  t.deepEqual(pool.context().workers, [{ id: b, stable: true }]);
  // Stable now: its death is no failure and it is replaced at once.
  pool.actor.send({ type: 'WORKER_DIED', id: b, reason: 'exit code 1' });
  t.is(pool.state(), 'running');
  t.is(pool.spawnTimes().at(-1), pool.clock.now());
  // The next failure waits the initial backoff again.
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  const failedAt = pool.clock.now();
  pool.clock.increment(100);
  t.is(pool.spawnTimes().at(-1), failedAt + 100);
});

test('a spawn that answers after the worker died early does not restart the wait', (t) => {
  const pool = startSupervisor({ size: 2 });
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  t.is(pool.state(), 'backingOff');
  pool.clock.increment(60);
  // The second spawn of the first round fails during the wait: counted, but the wait goes on.
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  t.is(pool.context().recentFailures, 2);
  pool.clock.increment(40);
  t.is(pool.state(), 'running');
  t.deepEqual(pool.spawnTimes(), [0, 0, 100, 100]);
});

test('degrades after more than maxFailures failures within windowMs, and stops respawning', (t) => {
  const pool = startSupervisor({ crashLoop: { maxFailures: 2, windowMs: 10_000 }, cooldownMs: 30_000 });
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  pool.clock.increment(100);
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  pool.clock.increment(200);
  t.is(pool.state(), 'running');
  t.is(pool.callsOf('poolDegraded').length, 0);
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  t.deepEqual(pool.state(), { degraded: 'waiting' });
  t.like(pool.callsOf('poolDegraded'), [
    { params: { kind: 'execute', recentFailures: 3, lastFailure: `spawn failed: ${boom.message}` }, at: 300 },
  ]);
  const spawned = pool.spawnTimes().length;
  pool.clock.increment(29_999);
  t.is(pool.spawnTimes().length, spawned, 'nothing is spawned during the cooldown');
  t.is(pool.callsOf('poolDegraded').length, 1);
});

test('the failure window slides on the clock: failures older than windowMs do not count', (t) => {
  // Constant 600 ms backoff: failures at 0, 600, 1200, ... With a 1000 ms window at most two
  // are ever inside it; with a 1300 ms window the third failure finds both earlier ones.
  const steady = startSupervisor({ backoff: { initialMs: 600, maxMs: 600, factor: 1 }, crashLoop: { maxFailures: 2, windowMs: 1_000 } });
  for (let i = 0; i < 10; i++) {
    steady.actor.send({ type: 'SPAWN_FAILED', error: boom });
    steady.clock.increment(600);
  }
  t.is(steady.callsOf('poolDegraded').length, 0);
  t.is(steady.state(), 'running');

  const loop = startSupervisor({ backoff: { initialMs: 600, maxMs: 600, factor: 1 }, crashLoop: { maxFailures: 2, windowMs: 1_300 } });
  for (let i = 0; i < 3; i++) {
    loop.actor.send({ type: 'SPAWN_FAILED', error: boom });
    loop.clock.increment(600);
  }
  t.like(loop.callsOf('poolDegraded'), [{ at: 1_200 }]);
});

test('a degraded pool tries one spawn after the cooldown and recovers when it succeeds', (t) => {
  const pool = startSupervisor({ size: 3, crashLoop: { maxFailures: 2, windowMs: 10_000 }, cooldownMs: 30_000 });
  for (let i = 0; i < 3; i++) pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  t.deepEqual(pool.state(), { degraded: 'waiting' });
  const degradedAt = pool.clock.now();
  const spawned = pool.spawnTimes().length;
  pool.clock.increment(29_999);
  t.is(pool.spawnTimes().length, spawned);
  pool.clock.increment(1);
  t.deepEqual(pool.state(), { degraded: 'probing' });
  t.deepEqual(pool.spawnTimes().slice(spawned), [degradedAt + 30_000], 'exactly one probe, not the whole pool');
  pool.actor.send({ type: 'WORKER_SPAWNED', id: freshId() });
  t.is(pool.state(), 'running');
  t.like(pool.callsOf('poolRecovered'), [{ params: { kind: 'execute' }, at: degradedAt + 30_000 }]);
  t.is(pool.spawnTimes().length, spawned + 3, 'running spawns the two still missing');
  t.like(pool.context(), { recentFailures: 0, spawning: 2 });
  // The window starts afresh: the failures that degraded the pool expire without effect.
  pool.clock.increment(10_000);
  t.is(pool.context().recentFailures, 0);
});

test('a failed probe keeps the pool degraded for another cooldown', (t) => {
  const pool = startSupervisor({ crashLoop: { maxFailures: 0, windowMs: 10_000 }, cooldownMs: 1_000 });
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  t.deepEqual(pool.state(), { degraded: 'waiting' });
  pool.clock.increment(1_000);
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  t.deepEqual(pool.state(), { degraded: 'waiting' });
  pool.clock.increment(999);
  t.deepEqual(pool.spawnTimes(), [0, 1_000]);
  pool.clock.increment(1);
  t.deepEqual(pool.spawnTimes(), [0, 1_000, 2_000]);
  t.is(pool.callsOf('poolDegraded').length, 1, 'reported once per episode');
  pool.actor.send({ type: 'WORKER_SPAWNED', id: freshId() });
  t.is(pool.callsOf('poolRecovered').length, 1);
});

test('RESIZE up spawns the difference; RESIZE down retires the surplus and does not replace it', (t) => {
  const pool = startSupervisor({ size: 2 });
  const ids = [freshId(), freshId()];
  for (const id of ids) pool.actor.send({ type: 'WORKER_SPAWNED', id });
  pool.actor.send({ type: 'RESIZE', size: 4 });
  t.is(pool.spawnTimes().length, 4);
  const more = [freshId(), freshId()];
  for (const id of more) pool.actor.send({ type: 'WORKER_SPAWNED', id });

  pool.actor.send({ type: 'RESIZE', size: 1 });
  t.like(pool.callsOf('retireWorkers'), [{ params: { kind: 'execute', count: 3 } }]);
  t.is(pool.context().retiring, 3);
  // Asking again while the retirements are pending asks for nothing more.
  pool.actor.send({ type: 'RESIZE', size: 1 });
  t.is(pool.callsOf('retireWorkers').length, 1);
  for (const id of [...ids, more[0]!]) pool.actor.send({ type: 'WORKER_DIED', id, reason: 'retired', expected: true });
  t.like(pool.context(), { retiring: 0, size: 1 });
  t.is(pool.context().workers.length, 1);
  t.is(pool.spawnTimes().length, 4, 'retired workers are not replaced');
  t.is(pool.context().recentFailures, 0, 'retirements are no failures');
  pool.actor.send({ type: 'RESIZE', size: -1 });
  pool.actor.send({ type: 'RESIZE', size: 1.5 });
  t.is(pool.context().size, 1, 'an invalid size is ignored');
});

test('a spawn answering after a RESIZE down retires the worker it brings', (t) => {
  const pool = startSupervisor({ size: 2 });
  pool.actor.send({ type: 'RESIZE', size: 0 });
  t.is(pool.callsOf('retireWorkers').length, 0, 'nothing alive to retire yet');
  pool.actor.send({ type: 'WORKER_SPAWNED', id: freshId() });
  pool.actor.send({ type: 'WORKER_SPAWNED', id: freshId() });
  t.deepEqual(
    pool.callsOf('retireWorkers').map((call) => call.params.count),
    [1, 1],
  );
});

test('RESIZE while backing off waits for the backoff before spawning', (t) => {
  const pool = startSupervisor({ size: 1 });
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  pool.actor.send({ type: 'RESIZE', size: 3 });
  t.is(pool.spawnTimes().length, 1);
  pool.clock.increment(100);
  t.deepEqual(pool.spawnTimes(), [0, 100, 100, 100]);
});

test('STOP stops spawning: no backoff, cooldown or death spawns again', (t) => {
  const backingOff = startSupervisor();
  backingOff.actor.send({ type: 'SPAWN_FAILED', error: boom });
  backingOff.actor.send({ type: 'STOP' });
  t.is(backingOff.state(), 'stopped');
  t.is(backingOff.actor.getSnapshot().status, 'done');
  backingOff.clock.increment(1_000_000);
  t.deepEqual(backingOff.spawnTimes(), [0]);

  const running = startSupervisor({ size: 2 });
  const id = freshId();
  running.actor.send({ type: 'WORKER_SPAWNED', id });
  running.clock.increment(10_000);
  running.actor.send({ type: 'STOP' });
  running.actor.send({ type: 'WORKER_DIED', id, reason: 'shutdown' });
  running.actor.send({ type: 'RESIZE', size: 5 });
  t.is(running.spawnTimes().length, 2);

  const degraded = startSupervisor({ crashLoop: { maxFailures: 0, windowMs: 1_000 }, cooldownMs: 500 });
  degraded.actor.send({ type: 'SPAWN_FAILED', error: boom });
  degraded.actor.send({ type: 'STOP' });
  degraded.clock.increment(10_000);
  t.deepEqual(degraded.spawnTimes(), [0]);
});

test('stray answers do not corrupt the counts', (t) => {
  const pool = startSupervisor({ size: 1 });
  const id = freshId();
  pool.actor.send({ type: 'WORKER_SPAWNED', id });
  pool.actor.send({ type: 'WORKER_SPAWNED', id: freshId() });
  pool.actor.send({ type: 'SPAWN_FAILED', error: boom });
  pool.actor.send({ type: 'WORKER_DIED', id: 'never-spawned', reason: 'x' });
  t.like(pool.context(), { spawning: 0, recentFailures: 0 });
  t.deepEqual(pool.context().workers, [{ id, stable: false }]);
  t.is(pool.state(), 'running');
});

const invalidInputs: Array<[option: string, value: string, overrides: InputOverrides]> = [
  ['size', '-1', { size: -1 }],
  ['size', '1.5', { size: 1.5 }],
  ['backoff.initialMs', '0', { backoff: { initialMs: 0 } }],
  ['backoff.maxMs', 'below initialMs', { backoff: { initialMs: 100, maxMs: 50 } }],
  ['backoff.factor', '0.5', { backoff: { factor: 0.5 } }],
  ['crashLoop.maxFailures', '-1', { crashLoop: { maxFailures: -1 } }],
  ['crashLoop.windowMs', 'NaN', { crashLoop: { windowMs: Number.NaN } }],
  ['cooldownMs', '-5', { cooldownMs: -5 }],
  ['stableMs', '-1', { stableMs: -1 }],
  ['kind', "'compile'", { kind: 'compile' as never }],
];

for (const [option, value, overrides] of invalidInputs) {
  test(`rejects \`${option}\` = ${value}, naming the option`, (t) => {
    const input = {
      ...baseInput,
      ...overrides,
      backoff: { ...baseInput.backoff, ...overrides.backoff },
      crashLoop: { ...baseInput.crashLoop, ...overrides.crashLoop },
    };
    const error = t.throws(() => resolveSupervisorInput(input), { instanceOf: InvalidOptionError });
    t.true(error?.message.includes(`\`${option}\``));
    t.is(error?.details.option, option);
  });
}

test('stableMs defaults to DEFAULT_STABLE_MS', (t) => {
  const { stableMs: _omitted, ...input } = baseInput;
  t.is(resolveSupervisorInput(input).stableMs, 5_000);
});
