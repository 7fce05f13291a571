import test from 'ava';
import { createActor, SimulatedClock } from 'xstate';
import {
  provideWorkerActions,
  workerActionNames,
  workerMachine,
  type WorkerActionName,
  type WorkerActionParams,
  type WorkerActions,
} from '../../src/machines/index.js';

type Call = { [K in WorkerActionName]: { name: K; params: WorkerActionParams[K] } }[WorkerActionName];

/** SimulatedClock that also counts armed timers, so a test can see a timeout was cancelled. */
class CountingClock extends SimulatedClock {
  readonly armed = new Set<number>();
  override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id: number = super.setTimeout(() => {
      this.armed.delete(id);
      fn();
    }, timeout);
    this.armed.add(id);
    return id;
  }
  override clearTimeout(id: number): void {
    this.armed.delete(id);
    super.clearTimeout(id);
  }
}

/** A worker actor whose host actions record their calls (real functions, through `provide`). */
function startWorker() {
  const calls: Call[] = [];
  const actions = Object.fromEntries(
    workerActionNames.map((name) => [name, (params: unknown) => calls.push({ name, params } as Call)]),
  ) as unknown as WorkerActions;
  const clock = new CountingClock();
  const actor = createActor(provideWorkerActions(actions), { input: { id: 'w1', kind: 'execute' }, clock }).start();
  const names = () => calls.map((call) => call.name);
  const callsOf = <K extends WorkerActionName>(name: K): Array<WorkerActionParams[K]> =>
    calls.filter((call) => call.name === name).map((call) => call.params as WorkerActionParams[K]);
  return { actor, calls, clock, names, callsOf };
}

const boom = new Error('boom');

/** Brings a fresh worker to `running.awaiting` with one job. */
function toAwaiting(hardTimeoutMs = 6_000) {
  const worker = startWorker();
  worker.actor.send({ type: 'SPAWNED' });
  worker.actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs, isolation: 'worker' });
  worker.actor.send({ type: 'POPULATED' });
  return worker;
}

test('a job goes populate → send → collect → clear → idle, and the host hears each step once', (t) => {
  const { actor, calls } = startWorker();
  t.is(actor.getSnapshot().value, 'spawning');
  t.deepEqual(calls, []);
  const assigned = { jobId: 'job-1', hardTimeoutMs: 6_000, isolation: 'worker' as const };
  const job = { ...assigned, populated: false };
  actor.send({ type: 'SPAWNED' });
  actor.send({ type: 'ASSIGN', ...assigned });
  t.deepEqual(actor.getSnapshot().value, { running: 'populating' });
  actor.send({ type: 'POPULATED' });
  actor.send({ type: 'RESULT' });
  actor.send({ type: 'COLLECTED' });
  t.is(actor.getSnapshot().value, 'clearingDir');
  t.is(actor.getSnapshot().context.job, undefined);
  actor.send({ type: 'CLEARED' });
  t.is(actor.getSnapshot().value, 'idle');
  t.deepEqual(calls, [
    { name: 'becameIdle', params: { workerId: 'w1', jobsCompleted: 0, spare: true } },
    { name: 'populateDir', params: { workerId: 'w1', job } },
    { name: 'sendJob', params: { workerId: 'w1', job } },
    { name: 'collectResult', params: { workerId: 'w1', job } },
    { name: 'clearDir', params: { workerId: 'w1' } },
    { name: 'becameIdle', params: { workerId: 'w1', jobsCompleted: 1, spare: false } },
  ]);
});

test('a ready dir and a reply collected at once: two transitions; on a read-only dir no clear, on a writable one the clear', (t) => {
  for (const dirReadOnly of [true, false]) {
    const { actor, names } = startWorker();
    actor.send({ type: 'SPAWNED', dirReadOnly });
    const seen: unknown[] = [];
    actor.subscribe((snapshot) => seen.push(snapshot.value));
    actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 6_000, isolation: 'worker', populated: true });
    t.deepEqual(actor.getSnapshot().value, { running: 'awaiting' });
    actor.send({ type: 'RESULT', collected: true });
    if (dirReadOnly) {
      t.deepEqual(seen, [{ running: 'awaiting' }, 'idle'], 'two transitions per job');
      t.deepEqual(names(), ['becameIdle', 'sendJob', 'becameIdle']);
    } else {
      t.is(actor.getSnapshot().value, 'clearingDir');
      actor.send({ type: 'CLEARED' });
      t.deepEqual(names(), ['becameIdle', 'sendJob', 'clearDir', 'becameIdle']);
    }
    t.is(actor.getSnapshot().context.jobsCompleted, 1);
    t.is(actor.getSnapshot().context.job, undefined);
  }
});

test('on a read-only dir, a job that populated it, or whose collect failed, is still followed by the clear', (t) => {
  for (const path of ['populated for the job', 'collect failed'] as const) {
    const { actor, names } = startWorker();
    actor.send({ type: 'SPAWNED', dirReadOnly: true });
    actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 6_000, isolation: 'worker', populated: path === 'collect failed' });
    if (path === 'populated for the job') actor.send({ type: 'POPULATED' });
    actor.send({ type: 'RESULT', collected: path === 'populated for the job' });
    if (path === 'collect failed') actor.send({ type: 'COLLECT_FAILED', error: boom });
    t.is(actor.getSnapshot().value, 'clearingDir', path);
    t.true(names().includes('clearDir'), path);
  }
});

test('the hard timeout fires exactly at hardTimeoutMs after the job is sent, not before', (t) => {
  const worker = startWorker();
  worker.actor.send({ type: 'SPAWNED' });
  worker.actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 6_000, isolation: 'worker' });
  // Populating takes long: the hard timeout guards the job's run, and starts at sendJob.
  worker.clock.increment(10_000);
  worker.actor.send({ type: 'POPULATED' });
  worker.clock.increment(5_999);
  t.deepEqual(worker.actor.getSnapshot().value, { running: 'awaiting' });
  t.deepEqual(worker.callsOf('jobFailed'), []);
  worker.clock.increment(1);
  const snapshot = worker.actor.getSnapshot();
  t.is(snapshot.value, 'dead');
  t.is(snapshot.status, 'done');
  t.deepEqual(worker.names().slice(-2), ['jobFailed', 'killProcess']);
  const [failed] = worker.callsOf('jobFailed');
  t.like(failed, { workerId: 'w1', jobId: 'job-1', reason: 'hard-timeout' });
  t.like(worker.callsOf('killProcess')[0], { workerId: 'w1', reason: 'hard-timeout' });
  t.regex(failed!.message, /job-1.*6000 ms/);
  t.like(snapshot.output, { id: 'w1', jobsCompleted: 0, failure: { reason: 'hard-timeout' } });
});

test('a result before the hard timeout cancels it, and the next job gets its own', (t) => {
  const worker = toAwaiting(6_000);
  t.is(worker.clock.armed.size, 1);
  worker.clock.increment(5_999);
  worker.actor.send({ type: 'RESULT' });
  t.is(worker.clock.armed.size, 0);
  worker.clock.increment(60_000);
  t.deepEqual(worker.actor.getSnapshot().value, { running: 'collecting' });
  worker.actor.send({ type: 'COLLECTED' });
  worker.actor.send({ type: 'CLEARED' });
  t.false(worker.names().includes('jobFailed'));
  t.false(worker.names().includes('killProcess'));

  worker.actor.send({ type: 'ASSIGN', jobId: 'job-2', hardTimeoutMs: 300, isolation: 'worker' });
  worker.actor.send({ type: 'POPULATED' });
  worker.clock.increment(299);
  t.deepEqual(worker.actor.getSnapshot().value, { running: 'awaiting' });
  worker.clock.increment(1);
  t.is(worker.actor.getSnapshot().value, 'dead');
  t.like(worker.callsOf('jobFailed'), [{ jobId: 'job-2', reason: 'hard-timeout' }]);
});

test('a dir that cannot be cleared kills the worker, and no job is failed for it', (t) => {
  const worker = toAwaiting();
  worker.actor.send({ type: 'RESULT' });
  worker.actor.send({ type: 'COLLECTED' });
  worker.actor.send({ type: 'CLEAR_FAILED', error: boom });
  const snapshot = worker.actor.getSnapshot();
  t.is(snapshot.value, 'dead');
  t.like(worker.callsOf('killProcess'), [{ reason: 'clear-failed' }]);
  t.deepEqual(worker.callsOf('jobFailed'), []);
  t.is(snapshot.context.lastFailure?.error, boom);
  t.like(snapshot.output, { jobsCompleted: 1, failure: { reason: 'clear-failed' } });
  // A dead worker takes no job.
  worker.actor.send({ type: 'ASSIGN', jobId: 'job-2', hardTimeoutMs: 1, isolation: 'worker' });
  t.deepEqual(worker.callsOf('populateDir').length, 1);
});

for (const [state, steps] of [
  ['populating', []],
  ['awaiting', ['POPULATED']],
  ['collecting', ['POPULATED', 'RESULT']],
] as const) {
  test(`an exit while ${state} reports the job lost once, then the worker ignores everything`, (t) => {
    const worker = startWorker();
    worker.actor.send({ type: 'SPAWNED' });
    worker.actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 1_000, isolation: 'worker' });
    for (const type of steps) worker.actor.send({ type });
    worker.actor.send({ type: 'EXITED', code: null, signal: 'SIGSEGV', reason: 'worker crashed' });
    const lost = worker.callsOf('jobFailed');
    t.is(lost.length, 1);
    t.like(lost[0], { workerId: 'w1', jobId: 'job-1', reason: 'lost' });
    t.regex(lost[0]!.message, /SIGSEGV.*job-1.*worker crashed/);
    t.like(worker.callsOf('killProcess'), [{ reason: 'exited' }]);
    const dead = worker.actor.getSnapshot();
    t.is(dead.value, 'dead');
    t.is(dead.context.job, undefined);

    const before = worker.calls.length;
    worker.actor.send({ type: 'EXITED', code: 1, signal: null, reason: 'again' });
    worker.actor.send({ type: 'KILL', reason: 'shutdown' });
    worker.actor.send({ type: 'RESULT' });
    worker.actor.send({ type: 'COLLECTED' });
    worker.clock.increment(10_000);
    t.is(worker.calls.length, before);
    t.is(worker.actor.getSnapshot(), dead);
  });
}

test('a late RESULT after a hard timeout does nothing', (t) => {
  const worker = toAwaiting(100);
  worker.clock.increment(100);
  const dead = worker.actor.getSnapshot();
  const before = worker.calls.length;
  worker.actor.send({ type: 'RESULT' });
  t.is(worker.actor.getSnapshot(), dead);
  t.is(worker.calls.length, before);
  t.is(worker.callsOf('collectResult').length, 0);
});

test('a failed populate fails the job, clears the dir and keeps the worker', (t) => {
  const worker = startWorker();
  worker.actor.send({ type: 'SPAWNED' });
  worker.actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 1_000, isolation: 'worker' });
  worker.actor.send({ type: 'POPULATE_FAILED', error: boom });
  t.is(worker.actor.getSnapshot().value, 'clearingDir');
  t.like(worker.callsOf('jobFailed'), [{ jobId: 'job-1', reason: 'populate-failed', error: boom }]);
  t.false(worker.names().includes('sendJob'));
  worker.actor.send({ type: 'CLEARED' });
  const snapshot = worker.actor.getSnapshot();
  t.is(snapshot.value, 'idle');
  t.like(snapshot.context, { jobsCompleted: 0, job: undefined, lastFailure: { reason: 'populate-failed', error: boom } });
  // An exit now, with no job, fails no job.
  worker.actor.send({ type: 'EXITED', code: 0, signal: null, reason: 'bye' });
  t.is(worker.callsOf('jobFailed').length, 1);
});

test('a failed collect fails the job and does not count it as completed', (t) => {
  const worker = toAwaiting();
  worker.actor.send({ type: 'RESULT' });
  worker.actor.send({ type: 'COLLECT_FAILED', error: boom });
  t.like(worker.callsOf('jobFailed'), [{ jobId: 'job-1', reason: 'collect-failed', error: boom }]);
  t.is(worker.actor.getSnapshot().value, 'clearingDir');
  worker.actor.send({ type: 'CLEARED' });
  t.like(worker.callsOf('becameIdle').at(-1), { jobsCompleted: 0 });
});

test("a one-job process ('job' isolation) is retired after its job, not cleared; its exit is no failure", (t) => {
  const worker = startWorker();
  worker.actor.send({ type: 'SPAWNED' });
  t.like(worker.callsOf('becameIdle'), [{ jobsCompleted: 0, spare: true }]);
  const job = { jobId: 'job-1', hardTimeoutMs: 1_000, isolation: 'job' as const };
  worker.actor.send({ type: 'ASSIGN', ...job });
  worker.actor.send({ type: 'POPULATED' });
  worker.actor.send({ type: 'RESULT' });
  worker.actor.send({ type: 'COLLECTED' });
  t.is(worker.actor.getSnapshot().value, 'retiring');
  t.deepEqual(worker.callsOf('retireProcess'), [{ workerId: 'w1' }]);
  t.false(worker.names().includes('clearDir'), 'its dir is never cleared for another job');
  // Nothing more is assigned to it.
  worker.actor.send({ type: 'ASSIGN', jobId: 'job-2', hardTimeoutMs: 1_000, isolation: 'worker' });
  t.is(worker.callsOf('populateDir').length, 1);
  worker.actor.send({ type: 'EXITED', code: null, signal: 'SIGKILL', reason: 'killed by the host' });
  const snapshot = worker.actor.getSnapshot();
  t.is(snapshot.value, 'dead');
  t.like(snapshot.output, { jobsCompleted: 1, failure: { reason: 'retired' } });
  t.deepEqual(worker.callsOf('jobFailed'), [], 'its job had its result');
  t.is(worker.names().at(-1), 'killProcess');
});

test("a one-job process whose job failed to populate or collect is retired too", (t) => {
  for (const failure of ['POPULATE_FAILED', 'COLLECT_FAILED'] as const) {
    const worker = startWorker();
    worker.actor.send({ type: 'SPAWNED' });
    worker.actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 1_000, isolation: 'job' });
    if (failure === 'COLLECT_FAILED') {
      worker.actor.send({ type: 'POPULATED' });
      worker.actor.send({ type: 'RESULT' });
    }
    worker.actor.send({ type: failure, error: boom });
    t.is(worker.actor.getSnapshot().value, 'retiring', failure);
    t.is(worker.callsOf('jobFailed').length, 1, failure);
  }
});

test('a used worker is no spare: spare-ness is idle with no job ever assigned', (t) => {
  const worker = startWorker();
  worker.actor.send({ type: 'SPAWNED' });
  worker.actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 1_000, isolation: 'worker' });
  worker.actor.send({ type: 'POPULATE_FAILED', error: boom });
  worker.actor.send({ type: 'CLEARED' });
  t.like(worker.callsOf('becameIdle'), [{ jobsCompleted: 0, spare: true }, { jobsCompleted: 0, spare: false }]);
  t.is(worker.actor.getSnapshot().context.jobsAssigned, 1);
});

test('a spawn failure ends the worker with the error as its cause', (t) => {
  const worker = startWorker();
  worker.actor.send({ type: 'SPAWN_FAILED', error: boom });
  const snapshot = worker.actor.getSnapshot();
  t.is(snapshot.value, 'dead');
  t.deepEqual(worker.names(), ['killProcess']);
  t.like(snapshot.output, { failure: { reason: 'spawn-failed', error: boom } });
});

test('KILL ends the worker from any state with its reason; a running job is reported lost', (t) => {
  const idle = startWorker();
  idle.actor.send({ type: 'SPAWNED' });
  idle.actor.send({ type: 'KILL', reason: 'pool resized' });
  t.like(idle.callsOf('killProcess'), [{ reason: 'killed' }]);
  t.regex(idle.callsOf('killProcess')[0]!.message, /pool resized/);
  t.deepEqual(idle.callsOf('jobFailed'), []);

  const busy = toAwaiting();
  busy.actor.send({ type: 'KILL', reason: 'job aborted' });
  t.like(busy.callsOf('jobFailed'), [{ reason: 'lost', jobId: 'job-1' }]);
  t.is(busy.clock.armed.size, 0);
});

test('ASSIGN is taken in idle only', (t) => {
  const worker = startWorker();
  worker.actor.send({ type: 'ASSIGN', jobId: 'early', hardTimeoutMs: 1, isolation: 'worker' });
  t.is(worker.actor.getSnapshot().value, 'spawning');
  worker.actor.send({ type: 'SPAWNED' });
  worker.actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 1_000, isolation: 'worker' });
  worker.actor.send({ type: 'ASSIGN', jobId: 'job-2', hardTimeoutMs: 1_000, isolation: 'worker' });
  t.is(worker.actor.getSnapshot().context.job?.jobId, 'job-1');
  t.is(worker.callsOf('populateDir').length, 1);
});

test('the default actions are no-ops: the bare machine runs without a host', (t) => {
  const clock = new SimulatedClock();
  const actor = createActor(workerMachine, { input: { id: 'bare', kind: 'prepare' }, clock }).start();
  actor.send({ type: 'SPAWNED' });
  actor.send({ type: 'ASSIGN', jobId: 'j', hardTimeoutMs: 10, isolation: 'worker' });
  actor.send({ type: 'POPULATED' });
  clock.increment(10);
  t.is(actor.getSnapshot().status, 'done');
});

/** A worker on a read-only dir running job-1 (ready dir) with job-2 pipelined behind it. */
function withNext(hardTimeoutMs = 6_000) {
  const worker = startWorker();
  worker.actor.send({ type: 'SPAWNED', dirReadOnly: true });
  worker.actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs, isolation: 'worker', populated: true });
  worker.actor.send({ type: 'PIPELINE', jobId: 'job-2', hardTimeoutMs, isolation: 'worker' });
  return worker;
}

test('pipelining: the next job is sent at once, starts when the current one is collected, and is not sent again', (t) => {
  const { actor, names, callsOf } = withNext();
  t.is(actor.getSnapshot().context.next?.jobId, 'job-2');
  t.deepEqual(names(), ['becameIdle', 'sendJob', 'sendNext']);
  actor.send({ type: 'RESULT', collected: true });
  t.deepEqual(actor.getSnapshot().value, { running: 'awaiting' });
  t.is(actor.getSnapshot().context.job?.jobId, 'job-2');
  t.is(actor.getSnapshot().context.next, undefined);
  t.is(actor.getSnapshot().context.jobsCompleted, 1);
  t.is(actor.getSnapshot().context.jobsAssigned, 2);
  t.deepEqual(names(), ['becameIdle', 'sendJob', 'sendNext', 'nextStarted']);
  t.is(callsOf('nextStarted')[0]!.job.jobId, 'job-2');
  actor.send({ type: 'RESULT', collected: true });
  t.is(actor.getSnapshot().value, 'idle');
  t.is(actor.getSnapshot().context.jobsCompleted, 2);
});

test("pipelining is refused where it would bring jobs closer: a writable dir, a populated dir, 'job' isolation, a second next", (t) => {
  const refused = (setup: (actor: ReturnType<typeof startWorker>['actor']) => void, isolation: 'worker' | 'job' = 'worker') => {
    const { actor, names } = startWorker();
    setup(actor);
    actor.send({ type: 'PIPELINE', jobId: 'job-9', hardTimeoutMs: 6_000, isolation });
    return actor.getSnapshot().context.next === undefined && !names().includes('sendNext');
  };
  const ready = (dirReadOnly: boolean, populated: boolean, isolation: 'worker' | 'job' = 'worker') => (actor: ReturnType<typeof startWorker>['actor']) => {
    actor.send({ type: 'SPAWNED', dirReadOnly });
    actor.send({ type: 'ASSIGN', jobId: 'job-1', hardTimeoutMs: 6_000, isolation, populated });
    if (!populated) actor.send({ type: 'POPULATED' });
  };
  t.true(refused(ready(false, true)), 'a dir the process can write');
  t.true(refused(ready(true, false)), 'a dir populated for the running job');
  t.true(refused(ready(true, true, 'job')), "a running job with 'job' isolation");
  t.true(refused(ready(true, true), 'job'), "a next job with 'job' isolation");
  t.true(refused((actor) => actor.send({ type: 'SPAWNED', dirReadOnly: true })), 'an idle worker');
  const { actor, names } = withNext();
  actor.send({ type: 'PIPELINE', jobId: 'job-3', hardTimeoutMs: 6_000, isolation: 'worker' });
  t.is(actor.getSnapshot().context.next?.jobId, 'job-2', 'one next job at a time');
  t.is(names().filter((n) => n === 'sendNext').length, 1);
});

test("pipelining: the next job's hard timeout starts when it starts, not when it was sent", (t) => {
  const { actor, clock, callsOf } = withNext(1_000);
  clock.increment(900);
  actor.send({ type: 'RESULT', collected: true });
  clock.increment(999);
  t.deepEqual(actor.getSnapshot().value, { running: 'awaiting' }, 'job-2 has run 999 ms: alive');
  t.deepEqual(callsOf('jobFailed'), []);
  clock.increment(1);
  t.is(actor.getSnapshot().value, 'dead');
  t.deepEqual(callsOf('jobFailed').map((c) => [c.jobId, c.reason]), [['job-2', 'hard-timeout']]);
  t.deepEqual(callsOf('nextReturned'), []);
});

test('pipelining: a death before the next job starts fails the running job and hands the next one back, never fails it', (t) => {
  for (const end of ['exit', 'kill', 'hard-timeout'] as const) {
    const { actor, clock, callsOf, names } = withNext(1_000);
    if (end === 'exit') actor.send({ type: 'EXITED', code: null, signal: 'SIGKILL', reason: 'crashed' });
    else if (end === 'kill') actor.send({ type: 'KILL', reason: 'E_DEADLINE' });
    else clock.increment(1_000);
    t.is(actor.getSnapshot().value, 'dead', end);
    t.deepEqual(callsOf('jobFailed').map((c) => c.jobId), ['job-1'], end);
    t.deepEqual(callsOf('nextReturned'), [{ workerId: 'w1', jobId: 'job-2' }], end);
    t.is(names().at(-1), 'killProcess', end);
  }
});

test('pipelining: a next job that comes back (NEXT_GONE) leaves the running one alone', (t) => {
  const { actor, callsOf } = withNext();
  actor.send({ type: 'NEXT_GONE' });
  t.deepEqual(callsOf('nextReturned'), [{ workerId: 'w1', jobId: 'job-2' }]);
  t.is(actor.getSnapshot().context.next, undefined);
  t.is(actor.getSnapshot().context.job?.jobId, 'job-1');
  actor.send({ type: 'NEXT_GONE' });
  t.is(callsOf('nextReturned').length, 1, 'once');
  actor.send({ type: 'RESULT', collected: true });
  t.is(actor.getSnapshot().value, 'idle');
});
