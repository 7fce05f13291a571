/**
 * AbortSignal and deadlines, before a job is queued, while it waits and while it runs (its
 * worker is then killed and replaced), and timers far in the future.
 */
import test from 'ava';
import { getEventListeners } from 'node:events';
import { fixtures } from '../helpers/wat.js';
import { waitFor } from '../helpers/host.js';
import { hello, nextEvent, rejection, sleepCode, startScheduler, text } from '../helpers/scheduler.js';

const EMPTY = new Uint8Array(0);

test.serial('a signal aborted before the call: E_ABORTED and nothing is queued or run', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const signal = AbortSignal.abort(new Error('changed my mind'));
  for (const call of [
    () => host.execute(artifact, Buffer.from('x'), { signal }),
    () => host.execute(hello.wasm, Buffer.from('x'), { signal }),
    () => host.prepare(hello.wasm, { signal }),
    () => host.prepare(sleepCode(5), { signal }),
  ]) {
    const error = await rejection(call());
    t.is(error.code, 'E_ABORTED');
    t.false(error.deterministic);
  }
  t.is(events.of('job:queued').length, 1, 'only the prepare before the test');
  t.is(events.of('job:started').length, 1);
  t.is(host.cache.list().length, 1, 'the aborted prepare of new code did not run');
});

test.serial('a deadline already passed: E_DEADLINE and nothing is queued', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const error = await rejection(host.execute(artifact, Buffer.from('x'), { deadline: Date.now() - 1 }));
  t.is(error.code, 'E_DEADLINE');
  t.is(events.of('job:queued').filter((e) => e.kind === 'execute').length, 0);
});

test.serial('aborting a waiting job: E_ABORTED at once, it never starts', async (t) => {
  const { host, events } = await startScheduler(t);
  const [sleep, artifact] = await Promise.all([host.prepare(sleepCode(1000)), host.prepare(hello.wasm)]);
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const busy = host.execute(sleep, EMPTY, { timeoutMs: 2000 });
  await started;
  const controller = new AbortController();
  const waiting = host.execute(artifact, Buffer.from('x'), { signal: controller.signal });
  const t0 = Date.now();
  controller.abort();
  const error = await rejection(waiting);
  t.is(error.code, 'E_ABORTED');
  t.true(Date.now() - t0 < 900, 'not after the busy job (1 s)');
  await busy;
  t.is(events.of('job:started').filter((e) => e.kind === 'execute').length, 1);
  t.deepEqual(host.queueSizes().execute, { critical: 0, high: 0, normal: 0, background: 0 });
});

test.serial('aborting a running job: E_ABORTED promptly, its worker is replaced, the next job succeeds', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(sleepCode(10_000));
  const controller = new AbortController();
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const running = host.execute(artifact, EMPTY, { timeoutMs: 5000, signal: controller.signal });
  const { workerId } = await started;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const t0 = Date.now();
  controller.abort(new Error('user gave up'));
  const error = await rejection(running);
  t.true(Date.now() - t0 < 3000, `aborted after ${Date.now() - t0} ms, not after the 10 s sleep`);
  t.is(error.code, 'E_ABORTED');
  t.is((error.cause as Error | undefined)?.message, 'user gave up');
  const exited = await waitFor(() => events.of('worker:exited').find((e) => e.id === workerId), Boolean);
  t.is(exited?.reason, 'killed');
  t.regex(exited?.message ?? '', /E_ABORTED/);
  const next = await host.execute(hello.wasm, Buffer.from('next'));
  t.is(text(next.output), 'Hello, next!');
  t.not(next.workerId, workerId);
  t.is(events.of('job:failed').filter((e) => e.code === 'E_ABORTED').length, 1);
});

test.serial('a deadline passing while the job runs: E_DEADLINE, the worker is replaced', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(sleepCode(5000));
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const t0 = Date.now();
  const running = host.execute(artifact, EMPTY, { timeoutMs: 5000, deadline: Date.now() + 500 });
  const { workerId } = await started;
  const error = await rejection(running);
  const elapsed = Date.now() - t0;
  t.is(error.code, 'E_DEADLINE');
  t.true(elapsed >= 450 && elapsed < 4000, `${elapsed} ms`);
  const next = await host.execute(hello.wasm, Buffer.from('next'));
  t.is(text(next.output), 'Hello, next!');
  t.not(next.workerId, workerId);
});

test.serial('a deadline passing while the job waits: E_DEADLINE, it never starts', async (t) => {
  const { host, events } = await startScheduler(t);
  const [sleep, artifact] = await Promise.all([host.prepare(sleepCode(1000)), host.prepare(hello.wasm)]);
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const busy = host.execute(sleep, EMPTY, { timeoutMs: 2000 });
  await started;
  const error = await rejection(host.execute(artifact, Buffer.from('x'), { deadline: Date.now() + 200 }));
  t.is(error.code, 'E_DEADLINE');
  await busy;
  t.is(events.of('job:started').filter((e) => e.kind === 'execute').length, 1);
});

// Node fires a timer longer than 2^31-1 ms (~24.8 days) after 1 ms: a far deadline must not.
test.serial('a deadline far in the future (30 days) does not expire at once', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(sleepCode(200));
  const result = await host.execute(artifact, EMPTY, { timeoutMs: 1000, deadline: Date.now() + 30 * 24 * 3600 * 1000 });
  t.is(result.output.byteLength, 40);
});

test.serial('an infinite deadline means none', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(sleepCode(200));
  const result = await host.execute(artifact, EMPTY, { timeoutMs: 1000, deadline: Infinity });
  t.is(result.output.byteLength, 40);
});

// timeoutMs × hardTimeoutFactor + 1 s is the hard timeout, a timer: past 2^31-1 ms Node fires
// it after 1 ms. A huge timeoutMs may be refused as an invalid option, never cut at once.
test.serial('a huge timeoutMs is refused or honoured, never turned into an immediate hard timeout', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(sleepCode(300));
  for (const timeoutMs of [86_400_000, 600_000_000, 1_000_000_000]) {
    const outcome = await host.execute(artifact, EMPTY, { timeoutMs }).then(
      (r) => (r.output.byteLength === 40 ? 'ok' : 'bad output'),
      (error: { code: string; details: { option?: string } }) => `${error.code}${error.details.option ? ` (${error.details.option})` : ''}`,
    );
    t.true(['ok', 'E_INVALID_OPTION (timeoutMs)'].includes(outcome), `timeoutMs ${timeoutMs}: ${outcome}`);
  }
});

test.serial('aborting one execute does not disturb another running on the other worker', async (t) => {
  const { host } = await startScheduler(t, { executeWorkers: 2 });
  const artifact = await host.prepare(sleepCode(1000));
  const controller = new AbortController();
  const a = host.execute(artifact, EMPTY, { timeoutMs: 2000, signal: controller.signal });
  const b = host.execute(artifact, EMPTY, { timeoutMs: 2000 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  controller.abort();
  t.is((await rejection(a)).code, 'E_ABORTED');
  t.is((await b).attempts, 1);
});

test.serial('an infinite deadline on code still to be prepared means none', async (t) => {
  const { host } = await startScheduler(t);
  const result = await host.execute(hello.wasm, Buffer.from('forever'), { deadline: Infinity });
  t.is(text(result.output), 'Hello, forever!');
  t.truthy(await host.prepare(sleepCode(4), { deadline: Date.now() + 30 * 24 * 3600 * 1000 }));
});

test.serial('a signal that outlives its jobs holds no abort listener once they settled', async (t) => {
  const { host } = await startScheduler(t);
  const controller = new AbortController();
  const { signal } = controller;
  const artifact = await host.prepare(hello.wasm, { signal });
  const trap = await host.prepare(fixtures.trap);
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < 15; i++) jobs.push(host.execute(artifact, Buffer.from(`${i}`), { signal }));
  for (let i = 0; i < 5; i++) jobs.push(host.execute(trap, Buffer.from('x'), { signal }));
  jobs.push(host.execute(sleepCode(6), EMPTY, { signal }));
  await Promise.allSettled(jobs);
  t.is(getEventListeners(signal, 'abort').length, 0);
});
