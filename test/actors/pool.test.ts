// The pool's own logic on a simulated clock, with worker handles that keep the real contract
// without a process (test/helpers/fakeWorkerHandle.ts): queue order, deadlines, hard timeouts,
// a worker dying under its job, spares. The same paths run end to end with real sandboxed
// workers in test/host (pool.test.ts, timeouts, workerFaults, isolation).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { InspectionEvent } from 'xstate';
import { Pool } from '../../src/actors/pool.js';
import { SimulatedClock } from '../../src/actors/clock.js';
import type { SandboxLayers, WorkerKind } from '../../src/protocol/messages.js';
import type { WorkerMachineOutput } from '../../src/machines/index.js';
import { ALL_LAYERS, FakeJob, FakeWorkerHandle, recordingPoolEvents } from '../helpers/fakeWorkerHandle.js';

/** Lets promise callbacks and the fakes' exits (setImmediate) run: no time passes on the clock. */
async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Waits (on real time: the clear step is real filesystem work) until the worker is idle again. */
async function untilIdle(states: string[], id: string): Promise<void> {
  for (let i = 0; i < 2000 && states.at(-1) !== `${id}:idle`; i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

interface Setup {
  size?: number;
  layers?: SandboxLayers;
  /** XState inspection of every worker actor. */
  inspect?: (event: InspectionEvent) => void;
}

function setup(t: { teardown(fn: () => unknown): void }, options: Setup = {}) {
  const clock = new SimulatedClock(1_000_000);
  // Real dirs: the clear step, when it runs, works on the filesystem.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-pool-unit-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const makeDir = (id: string) => {
    const dir = path.join(root, id);
    fs.mkdirSync(dir);
    return dir;
  };
  const handles: FakeWorkerHandle[] = [];
  const exits: { id: string; output: WorkerMachineOutput }[] = [];
  const states: string[] = [];
  const pool = new Pool({
    kind: 'execute',
    size: options.size ?? 1,
    maxQueue: 100,
    supervisor: {
      backoff: { initialMs: 100, maxMs: 1_000, factor: 2 },
      crashLoop: { maxFailures: 5, windowMs: 10_000 },
      cooldownMs: 10_000,
    },
    clock,
    readCpuMs: () => 0,
    spawn: async (_kind: WorkerKind, id: string) => {
      const handle = new FakeWorkerHandle(id, makeDir(id), options.layers ?? ALL_LAYERS);
      handles.push(handle);
      return handle;
    },
    events: recordingPoolEvents(states, exits),
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
  t.teardown(() => pool.stop());
  /** The live handle of the worker with this id. */
  const handle = (id: string) => handles.find((h) => h.id === id)!;
  /** Handles with a request waiting for an answer. */
  const busy = () => handles.filter((h) => h.pending.length > 0);
  const resubmit = (job: FakeJob) => pool.submit(job);
  return { pool, clock, handles, handle, busy, exits, states, resubmit };
}

test('waiting jobs go out by priority, oldest first within one', async (t) => {
  const { pool, handles } = setup(t);
  await settle();
  t.is(handles.length, 1);
  const worker = handles[0]!;
  const first = new FakeJob('first');
  pool.submit(first);
  await settle();
  const jobs = [new FakeJob('background', { priority: 'background' }), new FakeJob('normal-1'), new FakeJob('high', { priority: 'high' }), new FakeJob('normal-2')];
  for (const job of jobs) pool.submit(job);
  t.is(pool.queue.size, 4);
  for (let i = 0; i < 5; i++) {
    await settle();
    worker.answer({ ok: true, n: i });
    await settle();
  }
  await Promise.all([first, ...jobs].map((job) => job.done));
  t.deepEqual(
    worker.received.map((header) => (header as { jobId: string }).jobId),
    ['first', 'high', 'normal-1', 'normal-2', 'background'],
  );
  t.true([first, ...jobs].every((job) => job.outcome?.ok === true));
  t.is(pool.load, 0);
});

test('a waiting job past its deadline fails E_DEADLINE when the clock reaches it, and is never sent', async (t) => {
  const { pool, clock, handles } = setup(t);
  await settle();
  pool.submit(new FakeJob('busy'));
  const late = new FakeJob('late', { deadline: clock.now() + 500 });
  pool.submit(late);
  await settle();
  clock.advance(499);
  await settle();
  t.false(late.settled, 'not before its deadline');
  clock.advance(1);
  await settle();
  t.is(late.outcome?.ok, false);
  t.is((late.outcome as { error: { code: string } }).error.code, 'E_DEADLINE');
  t.deepEqual(handles[0]!.received.map((h) => (h as { jobId: string }).jobId), ['busy']);
});

test('a running job past its deadline fails E_DEADLINE, its worker is killed and replaced', async (t) => {
  const { pool, clock, handles, exits } = setup(t);
  await settle();
  const job = new FakeJob('slow', { deadline: clock.now() + 1_000 });
  pool.submit(job);
  await settle();
  t.is(handles[0]!.pending.length, 1, 'sent');
  clock.advance(1_000);
  await settle();
  t.is((job.outcome as { error: { code: string } }).error.code, 'E_DEADLINE');
  t.true(handles[0]!.killed > 0);
  t.is(exits.length, 1);
  t.is(exits[0]!.output.failure.reason, 'killed');
  // The supervisor replaces it at once (a death the host caused is no failure: no backoff).
  await settle();
  t.is(handles.length, 2);
  const next = new FakeJob('next');
  pool.submit(next);
  await settle();
  handles[1]!.answer();
  t.true((await next.done).ok);
});

test('the hard timeout fires on the simulated clock, not before: the job fails E_TIMEOUT and the worker is replaced', async (t) => {
  const { pool, clock, handles, exits } = setup(t);
  await settle();
  const job = new FakeJob('stuck', { hardTimeoutMs: 3_000 });
  pool.submit(job);
  await settle();
  clock.advance(2_999);
  await settle();
  t.false(job.settled, 'the worker is still within its bound');
  t.is(handles[0]!.killed, 0);
  clock.advance(1);
  await settle();
  const outcome = (await job.done) as { ok: false; reason: string; error: { code: string } };
  t.is(outcome.reason, 'hard-timeout');
  t.is(outcome.error.code, 'E_TIMEOUT');
  t.true(handles[0]!.killed > 0);
  t.is(exits[0]!.output.failure.reason, 'hard-timeout');
  await settle();
  t.is(handles.length, 2, 'a replacement was spawned');
  // A job answered in time leaves no timer behind.
  const quick = new FakeJob('quick', { hardTimeoutMs: 3_000 });
  pool.submit(quick);
  await settle();
  handles[1]!.answer();
  t.true((await quick.done).ok);
  await settle();
  clock.advance(10_000);
  await settle();
  t.is(handles[1]!.killed, 0, 'no hard timeout after the answer');
});

test('a worker that dies under its job: the job is retried once on a fresh worker, the dead one replaced', async (t) => {
  const { pool, handles, exits, resubmit } = setup(t);
  await settle();
  const job = new FakeJob('victim', { resubmit });
  pool.submit(job);
  await settle();
  handles[0]!.die(139);
  await settle(10);
  t.is(exits.length, 1);
  t.is(exits[0]!.output.failure.reason, 'exited');
  t.is(handles.length, 2, 'replaced');
  t.false(job.settled, 'retried, not failed');
  t.is(handles[1]!.pending.length, 1, 'the retry runs on the replacement');
  handles[1]!.answer({ ok: true });
  const outcome = await job.done;
  t.true(outcome.ok);
  t.deepEqual(job.workers, [handles[0]!.id, handles[1]!.id]);
});

test('a worker that dies under the retry too: the job fails E_WORKER_DIED, the pool carries on', async (t) => {
  const { pool, handles, resubmit } = setup(t);
  await settle();
  const job = new FakeJob('twice', { resubmit });
  pool.submit(job);
  await settle();
  handles[0]!.die(1);
  await settle(10);
  handles[1]!.die(1);
  await settle(10);
  const outcome = (await job.done) as { ok: false; reason: string; error: { code: string } };
  t.is(outcome.reason, 'lost');
  t.is(outcome.error.code, 'E_WORKER_DIED');
  t.false(pool.degraded, 'deaths under a job never degrade the pool');
  const after = new FakeJob('after');
  pool.submit(after);
  await settle(10);
  handles.at(-1)!.answer();
  t.true((await after.done).ok);
});

test('an idle worker whose channel has closed gets no job before its exit is known: the job goes to another, or waits for the replacement', async (t) => {
  const { pool, handles, resubmit, clock } = setup(t, { size: 2 });
  await settle();
  t.is(handles.length, 2);
  const [gone, other] = handles as [FakeWorkerHandle, FakeWorkerHandle];
  // Killed from outside: its channel closes at once, its exit comes later.
  gone.closeChannel();
  const first = new FakeJob('first', { resubmit });
  pool.submit(first);
  await settle();
  t.is(gone.pending.length, 0, 'nothing sent to the worker that cannot be reached');
  t.is(other.pending.length, 1);
  other.answer({ ok: true });
  t.true((await first.done).ok);
  t.deepEqual(first.workers, [other.id]);
  // The only idle worker left is the other one again: a second unreachable one leaves none.
  await settle();
  other.closeChannel();
  const second = new FakeJob('second', { resubmit });
  pool.submit(second);
  await settle();
  t.is(other.pending.length, 0);
  t.false(second.settled, 'it waits');
  gone.die(null, 'SIGKILL');
  other.die(null, 'SIGKILL');
  await settle(10);
  // Replacements of young deaths come after the supervisor's backoff, on its clock.
  for (let i = 0; i < 10 && !handles.some((h) => h.pending.length > 0); i++) {
    clock.advance(1_000);
    await settle(10);
  }
  const replacement = handles.find((h) => h.pending.length > 0);
  t.truthy(replacement, 'a replacement takes it');
  t.false([gone.id, other.id].includes(replacement!.id));
  replacement!.answer({ ok: true });
  t.true((await second.done).ok);
  t.deepEqual(second.workers, [replacement!.id], 'never sent to a dead worker, never retried');
});

test("isolation 'job' takes a fresh spare, never a used worker; its process is retired and replaced", async (t) => {
  const { pool, handles, exits } = setup(t, { size: 2 });
  await settle();
  t.is(handles.length, 2);
  // Use one worker.
  const warm = new FakeJob('warm');
  pool.submit(warm);
  await settle();
  const used = handles.find((h) => h.pending.length > 0)!;
  used.answer();
  await warm.done;
  await settle();
  // A reuse job prefers the used worker, keeping the fresh one as a spare.
  const reuse = new FakeJob('reuse');
  pool.submit(reuse);
  await settle();
  t.is(used.pending.length, 1, 'a reuse job goes to the used worker');
  used.answer();
  await reuse.done;
  await settle();
  const own = new FakeJob('own', { isolation: 'job' });
  pool.submit(own);
  await settle();
  const spare = handles.find((h) => h !== used)!;
  t.is(spare.pending.length, 1, 'the one-job job runs on the spare');
  t.is(used.pending.length, 0);
  spare.answer();
  t.true((await own.done).ok);
  await settle(10);
  t.true(spare.killed > 0, 'retired after its one job');
  t.is(exits.find((e) => e.id === spare.id)?.output.failure.reason, 'retired');
  t.is(handles.length, 3, 'a fresh spare replaces it');
});

test("isolation 'job' with only used workers idle: one is recycled into a fresh spare, the queue order kept", async (t) => {
  const { pool, handles } = setup(t);
  await settle();
  const warm = new FakeJob('warm');
  pool.submit(warm);
  await settle();
  handles[0]!.answer();
  await warm.done;
  await settle();
  const own = new FakeJob('own', { isolation: 'job' });
  const behind = new FakeJob('behind');
  pool.submit(own);
  pool.submit(behind);
  await settle(10);
  t.true(handles[0]!.killed > 0, 'the used worker is recycled');
  t.is(handles.length, 2);
  t.deepEqual(handles[1]!.received.map((h) => (h as { jobId: string }).jobId), ['own'], 'the one-job job first, on the fresh process');
  handles[1]!.answer();
  t.true((await own.done).ok);
  await settle(10);
  handles[2]!.answer();
  t.true((await behind.done).ok);
});

test('a job with nothing to populate or wait for costs its worker two transitions: awaiting, then idle', async (t) => {
  const { pool, handles, states } = setup(t);
  await settle();
  const id = handles[0]!.id;
  const before = states.length;
  const job = new FakeJob('fast');
  pool.submit(job);
  await settle();
  handles[0]!.answer();
  t.true((await job.done).ok);
  await settle();
  t.deepEqual(states.slice(before), [`${id}:running.awaiting`, `${id}:idle`]);
});

test("a job on a ready dir is sent before its worker's machine takes it, and once; one with I/O to wait for, once populated", async (t) => {
  // The events each worker's machine has been given, in order.
  const given: string[] = [];
  const inspect = (event: InspectionEvent) => {
    // The worker machines' only (the pool's supervisor is inspected too).
    if (event.type === '@xstate.event' && (event.actorRef as { logic?: { id?: string } }).logic?.id === 'worker') given.push((event.event as { type: string }).type);
  };
  const { pool, handles } = setup(t, { inspect });
  await settle();
  const handle = handles[0]!;
  // The last event the machine had been given when each request went out.
  const lastGiven: string[] = [];
  const request = handle.request.bind(handle);
  handle.request = (...args) => {
    lastGiven.push(given.at(-1)!);
    return request(...args);
  };
  const ready = new FakeJob('ready');
  pool.submit(ready);
  await settle();
  t.deepEqual(lastGiven, ['SPAWNED'], 'sent before the machine was given ASSIGN');
  t.is(handle.received.length, 1, 'sent once');
  t.is(pool.workers.get(handle.id)!.state, 'running.awaiting');
  handle.answer();
  t.true((await ready.done).ok);
  await settle();
  const slow = new FakeJob('slow', { io: true });
  pool.submit(slow);
  await settle(10);
  t.deepEqual(lastGiven.slice(1), ['POPULATED'], 'sent by the machine, once its populate ended');
  t.is(handle.received.length, 2);
  handle.answer();
  t.true((await slow.done).ok);
});

test("a one-job process's caller resumes before its worker's machine leaves awaiting, which follows in the same turn; a reused worker is idle at once", async (t) => {
  const { pool, handles, exits } = setup(t, { size: 2 });
  await settle();
  const [first, second] = [handles[0]!, handles[1]!];
  const reuse = new FakeJob('reuse');
  pool.submit(reuse);
  await settle();
  const reused = handles.find((h) => h.pending.length > 0)!;
  reused.answer();
  t.true((await reuse.done).ok);
  t.not(pool.workers.get(reused.id)!.state, 'running.awaiting', 'a reused worker took its RESULT before its caller resumed');
  const own = new FakeJob('own', { isolation: 'job' });
  pool.submit(own);
  await settle();
  const spare = [first, second].find((h) => h !== reused)!;
  t.is(spare.pending.length, 1, 'on the spare');
  spare.answer();
  t.true((await own.done).ok);
  t.is(pool.workers.get(spare.id)!.state, 'running.awaiting', 'its caller resumed first');
  t.is(spare.killed, 0);
  await new Promise((resolve) => setImmediate(resolve));
  t.not(pool.workers.get(spare.id)?.state, 'running.awaiting', 'the machine followed in the same turn');
  t.true(spare.killed > 0, 'retired');
  await settle(10);
  t.is(exits.find((e) => e.id === spare.id)?.output.failure.reason, 'retired');

  // A kill between the caller's resumption and the machine's RESULT: the job stays a success, the worker ends after it, not in it.
  await settle(10);
  const next = handles.find((h) => h.pending.length === 0 && !h.exitInfo && h !== reused)!;
  const killedAfter = new FakeJob('killed-after', { isolation: 'job' });
  pool.submit(killedAfter);
  await settle();
  t.is(next.pending.length, 1);
  next.answer();
  const outcome = await killedAfter.done;
  pool.workers.get(next.id)!.kill('test');
  t.true(outcome.ok);
  t.is(killedAfter.outcome, outcome, 'settled once, as a success');
  await settle(10);
  const exit = exits.find((e) => e.id === next.id)!;
  t.false(exit.output.failure.message.includes('while running job'), exit.output.failure.message);
});

test('a job whose populate and collect wait for I/O goes through populating and collecting', async (t) => {
  const { pool, handles, states } = setup(t);
  await settle();
  const id = handles[0]!.id;
  const before = states.length;
  const job = new FakeJob('slow-io', { io: true });
  pool.submit(job);
  await settle();
  handles[0]!.answer();
  t.true((await job.done).ok);
  await settle();
  await untilIdle(states, id);
  // What the populate put in the dir is checked by the clear after the job.
  t.deepEqual(states.slice(before), [`${id}:running.populating`, `${id}:running.awaiting`, `${id}:running.collecting`, `${id}:clearingDir`, `${id}:idle`]);
});

test('a reply the job refuses fails the job (collect-failed); the worker clears its dir and takes the next job', async (t) => {
  const { pool, handles, states } = setup(t);
  await settle();
  const id = handles[0]!.id;
  const refused = new FakeJob('refused');
  const next = new FakeJob('next');
  pool.submit(refused);
  pool.submit(next);
  await settle();
  handles[0]!.answer({ bad: true });
  const outcome = (await refused.done) as { ok: false; reason: string };
  t.is(outcome.reason, 'collect-failed');
  await settle(10);
  t.true(states.includes(`${id}:clearingDir`), 'a failed collect is always followed by the clear step');
  handles[0]!.answer();
  t.true((await next.done).ok);
  t.is(handles.length, 1, 'the same worker');
});

test('a worker that cannot write its dir skips the clear after a job with a ready dir; one that can is always cleared', async (t) => {
  for (const [name, layers, io, cleared] of [
    ['read-only, ready dir', ALL_LAYERS, false, false],
    ['read-only, dir populated for the job', ALL_LAYERS, true, true],
    ['writable, ready dir', { ...ALL_LAYERS, pivotRoot: false, landlock: false }, false, true],
  ] as const) {
    const { pool, handles, states } = setup(t, { layers });
    await settle();
    const job = new FakeJob(`job-${name}`, { io });
    pool.submit(job);
    await settle();
    // What a job could leave if its process could write the dir (or what a populate put there).
    const left = path.join(handles[0]!.hostDir, 'left-by-a-job');
    fs.writeFileSync(left, 'x');
    handles[0]!.answer();
    await job.done;
    const id = handles[0]!.id;
    await untilIdle(states, id);
    t.is(states.at(-1), `${id}:idle`, name);
    t.is(states.includes(`${id}:clearingDir`), cleared, name);
    t.is(fs.existsSync(left), !cleared, name);
    await pool.stop();
  }
});

test('stop fails what waits and what runs, and kills every worker', async (t) => {
  const { pool, handles } = setup(t);
  await settle();
  const running = new FakeJob('running');
  const waiting = new FakeJob('waiting');
  pool.submit(running);
  pool.submit(waiting);
  await settle();
  await pool.stop();
  t.is((running.outcome as { error: { code: string } }).error.code, 'E_HOST_CLOSED');
  t.is((waiting.outcome as { error: { code: string } }).error.code, 'E_HOST_CLOSED');
  t.true(handles.every((h) => h.killed > 0));
  t.is(pool.load, 0);
});
