// Pipelining in the pool, on a simulated clock with worker handles that keep the real contract
// (test/helpers/fakeWorkerHandle.ts; their `cancel` withdraws a request that is not the oldest,
// as the worker's line does). With every worker busy, the head of the queue is sent to a running
// worker as its next job; a next job that never started is handed back, never failed or lost.
// The same paths run end to end with real sandboxed workers in test/host/pipelining.test.ts.
import test from 'ava';
import { ALL_LAYERS, FakeJob, FakeWorkerHandle, fakePool } from '../helpers/fakeWorkerHandle.js';

async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

function setup(t: { teardown(fn: () => unknown): void }, options: { size?: number; writableDir?: boolean } = {}) {
  const layers = options.writableDir ? { ...ALL_LAYERS, pivotRoot: false, landlock: false } : ALL_LAYERS;
  const fake = fakePool(t, { size: options.size ?? 1, layers });
  const resubmit = (job: FakeJob) => fake.pool.submit(job);
  return { ...fake, resubmit };
}

const sent = (handle: FakeWorkerHandle) => handle.received.map((header) => (header as { jobId: string }).jobId);
const code = (job: FakeJob) => (job.outcome as { error?: { code: string } } | undefined)?.error?.code;

test('with every worker busy, the head of the queue is sent as the next job; it starts as the running one is answered, with no idle in between', async (t) => {
  const { pool, handles, states } = setup(t);
  await settle();
  const [a, b, c] = ['a', 'b', 'c'].map((id) => new FakeJob(id, { ready: true }));
  for (const job of [a!, b!, c!]) pool.submit(job);
  await settle();
  const worker = handles[0]!;
  t.deepEqual(sent(worker), ['a', 'b'], 'b sent while a runs; c waits: one next job per worker');
  t.is(pool.queue.size, 1);
  t.is(pool.load, 3);
  t.deepEqual(b!.workers, [], 'b has not started');
  const before = states.length;
  worker.answer();
  await settle();
  t.true((await a!.done).ok);
  t.deepEqual(b!.workers, [worker.id], 'b started when a was answered');
  t.deepEqual(sent(worker), ['a', 'b', 'c'], 'c sent as b started');
  worker.answer();
  worker.answer();
  t.true((await b!.done).ok && (await c!.done).ok);
  await settle();
  t.false(states.slice(before, -1).includes(`${worker.id}:idle`), 'never idle between a, b and c');
  t.is(pool.load, 0);
});

test("no pipelining where it would bring jobs closer: a writable dir, 'job' isolation, a dir to populate", async (t) => {
  for (const [name, writableDir, options] of [
    ['writable dir', true, {}],
    ["'job' isolation", false, { isolation: 'job' as const }],
    ['a dir to populate', false, { io: true }],
  ] as const) {
    const { pool, handles } = setup(t, { writableDir, size: 1 });
    await settle();
    pool.submit(new FakeJob(`${name}-1`, { ready: true, ...options }));
    pool.submit(new FakeJob(`${name}-2`, { ready: true, ...options }));
    await settle();
    t.is(handles.map((h) => h.received.length).reduce((x, y) => x + y, 0), 1, name);
    await pool.stop();
  }
});

test('a job pipelined behind one that passes its hard timeout is handed back, then runs on the replacement; its own hard timeout starts when it starts', async (t) => {
  const { pool, clock, handles } = setup(t);
  await settle();
  const stuck = new FakeJob('stuck', { ready: true, hardTimeoutMs: 3_000 });
  const behind = new FakeJob('behind', { ready: true, hardTimeoutMs: 3_000 });
  pool.submit(stuck);
  pool.submit(behind);
  await settle();
  t.deepEqual(sent(handles[0]!), ['stuck', 'behind']);
  clock.advance(3_000);
  await settle();
  t.is(code(stuck), 'E_TIMEOUT');
  t.false(behind.settled, 'never failed for the job before it');
  await settle();
  t.is(handles.length, 2, 'replaced');
  t.deepEqual(sent(handles[1]!), ['behind']);
  // It has waited 3 s already; its own bound of 3 s runs from its start on the new worker.
  clock.advance(2_999);
  await settle();
  t.false(behind.settled);
  handles[1]!.answer();
  t.true((await behind.done).ok);
  t.deepEqual(behind.workers, [handles[1]!.id], 'it started once, on the replacement');
});

test('a job pipelined behind one whose worker crashes, or is killed for a deadline, is handed back and succeeds; it is never counted an attempt', async (t) => {
  for (const end of ['crash', 'deadline'] as const) {
    const { pool, clock, handles, resubmit } = setup(t);
    await settle();
    const first = new FakeJob(`first-${end}`, { ready: true, resubmit, deadline: end === 'deadline' ? clock.now() + 500 : undefined });
    const behind = new FakeJob(`behind-${end}`, { ready: true });
    pool.submit(first);
    pool.submit(behind);
    await settle();
    if (end === 'crash') handles[0]!.die(null, 'SIGSEGV');
    else clock.advance(500);
    await settle(10);
    if (end === 'deadline') t.is(code(first), 'E_DEADLINE');
    t.false(behind.settled, end);
    t.is(handles.length, 2, end);
    // A lost job is retried at the back of the queue; the next job goes back to its place, ahead.
    t.deepEqual(sent(handles[1]!), end === 'crash' ? [`behind-${end}`, `first-${end}`] : [`behind-${end}`], end);
    handles[1]!.answer();
    t.true((await behind.done).ok, end);
    t.is(behind.workers.length, 1, end);
    if (end === 'crash') {
      handles[1]!.answer();
      t.true((await first.done).ok, 'the crashed job ran again');
    }
    await pool.stop();
  }
});

test('an aborted or late pipelined job fails at once, is stopped on its worker, and the worker and the running job carry on', async (t) => {
  for (const end of ['abort', 'deadline'] as const) {
    const { pool, clock, handles, exits } = setup(t);
    await settle();
    const controller = new AbortController();
    const running = new FakeJob(`running-${end}`, { ready: true });
    const behind = new FakeJob(`behind-${end}`, { ready: true, signal: controller.signal, deadline: end === 'deadline' ? clock.now() + 500 : undefined });
    pool.submit(running);
    pool.submit(behind);
    await settle();
    if (end === 'abort') controller.abort();
    else clock.advance(500);
    t.is(code(behind), end === 'abort' ? 'E_ABORTED' : 'E_DEADLINE');
    await settle();
    t.deepEqual(handles[0]!.cancels, [{ id: 2, abort: true }], end);
    t.is(handles[0]!.killed, 0, end);
    t.deepEqual(behind.workers, [], `${end}: it never started`);
    handles[0]!.answer();
    t.true((await running.done).ok, end);
    // The worker takes the next job as usual.
    const after = new FakeJob(`after-${end}`, { ready: true });
    pool.submit(after);
    await settle();
    handles[0]!.answer();
    t.true((await after.done).ok, end);
    t.is(exits.length, 0, end);
    t.is(pool.load, 0, end);
    await pool.stop();
  }
});

test('a job of a higher priority submitted after one was pipelined starts first: the pipelined one is asked back to its place', async (t) => {
  const { pool, handles } = setup(t);
  await settle();
  const first = new FakeJob('first', { ready: true });
  const background = new FakeJob('background', { ready: true, priority: 'background' });
  pool.submit(first);
  pool.submit(background);
  await settle();
  t.deepEqual(sent(handles[0]!), ['first', 'background']);
  const high = new FakeJob('high', { ready: true, priority: 'high' });
  pool.submit(high);
  await settle();
  t.deepEqual(handles[0]!.cancels.map((c) => c.abort), [false], 'asked back, not aborted');
  t.false(background.settled, 'handed back, not failed');
  t.deepEqual(sent(handles[0]!), ['first', 'background', 'high']);
  const ended: string[] = [];
  for (const job of [first, high, background]) void job.done.then(() => ended.push(job.id));
  for (let i = 0; i < 3; i++) {
    handles[0]!.answer();
    await settle();
  }
  await Promise.all([first.done, high.done, background.done]);
  t.deepEqual(ended, ['first', 'high', 'background']);
  t.true([first, high, background].every((job) => job.outcome?.ok === true));
  t.deepEqual(sent(handles[0]!), ['first', 'background', 'high', 'background'], 'background sent again after high');
});

test('a worker that reads a Cancel only once its job ends: the job asked back is reported started once, where it runs; a late one never', async (t) => {
  const { pool, clock, handles } = setup(t);
  await settle();
  handles[0]!.readsCancelsAfterItsJob = true;
  const first = new FakeJob('first', { ready: true });
  const background = new FakeJob('background', { ready: true, priority: 'background' });
  pool.submit(first);
  pool.submit(background);
  await settle();
  const high = new FakeJob('high', { ready: true, priority: 'high' });
  pool.submit(high);
  await settle();
  t.deepEqual(handles[0]!.cancels.map((c) => c.abort), [false], 'asked back, not aborted');
  handles[0]!.answer();
  await settle();
  t.deepEqual(background.workers, [], 'asked back before it ran: not reported started');
  const ended: string[] = [];
  for (const job of [high, background]) void job.done.then(() => ended.push(job.id));
  for (let i = 0; i < 2; i++) {
    handles[0]!.answer();
    await settle();
  }
  await Promise.all([first.done, high.done, background.done]);
  t.deepEqual(ended, ['high', 'background']);
  t.is(background.workers.length, 1, 'started once');
  // A late job pipelined behind a long one: failed at once, and never reported started.
  const long = new FakeJob('long', { ready: true });
  const late = new FakeJob('late', { ready: true, deadline: clock.now() + 500 });
  pool.submit(long);
  pool.submit(late);
  await settle();
  clock.advance(500);
  t.is(code(late), 'E_DEADLINE');
  handles[0]!.answer();
  await settle();
  t.true((await long.done).ok);
  t.deepEqual(late.workers, []);
  t.is(handles[0]!.killed, 0);
  t.is(pool.load, 0);
  await pool.stop();
});

test('a worker that goes idle with nothing queued takes back a job pipelined behind a long one', async (t) => {
  const { pool, handles } = setup(t, { size: 2 });
  await settle();
  t.is(handles.length, 2);
  const [long, short, behind] = ['long', 'short', 'behind'].map((id) => new FakeJob(id, { ready: true }));
  pool.submit(long!);
  pool.submit(short!);
  pool.submit(behind!);
  await settle();
  const holder = handles.find((h) => sent(h).includes('behind'))!;
  const other = handles.find((h) => h !== holder)!;
  // The other worker's job ends: it is idle, the queue is empty, `behind` waits behind a job still running.
  other.answer();
  await settle(10);
  t.is(holder.cancels.length, 1);
  t.false(holder.cancels[0]!.abort);
  t.is(sent(other).at(-1), 'behind', 'it moved to the idle worker');
  other.answer();
  t.true((await behind!.done).ok);
  t.deepEqual(behind!.workers, [other.id]);
  holder.answer();
  await Promise.all([long!.done, short!.done]);
  t.is(pool.load, 0);
});

test('stop fails a pipelined job with the running one; nothing is handed back after', async (t) => {
  const { pool, handles } = setup(t);
  await settle();
  const running = new FakeJob('running', { ready: true });
  const behind = new FakeJob('behind', { ready: true });
  pool.submit(running);
  pool.submit(behind);
  await settle();
  t.is(handles[0]!.received.length, 2);
  await pool.stop();
  t.is(code(running), 'E_HOST_CLOSED');
  t.is(code(behind), 'E_HOST_CLOSED');
  t.is(pool.load, 0);
});
