/**
 * `maxQueue`: beyond it a submission fails at once with E_QUEUE_FULL, and the host keeps serving.
 */
import test from 'ava';
import { hello, nextEvent, rejection, settledBeforeMacrotask, sleepCode, startScheduler, text } from '../helpers/scheduler.js';

test.serial('beyond maxQueue an execute is rejected at once with E_QUEUE_FULL; the host keeps serving', async (t) => {
  const { host, events } = await startScheduler(t, { maxQueue: 2 });
  const [sleep, artifact] = await Promise.all([host.prepare(sleepCode(800)), host.prepare(hello.wasm)]);
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const busy = host.execute(sleep, new Uint8Array(0), { timeoutMs: 2000 });
  await started;
  const waiting = [host.execute(artifact, Buffer.from('q1')), host.execute(artifact, Buffer.from('q2'))];
  t.is(host.queueSizes().execute.normal, 2);
  const refused = host.execute(artifact, Buffer.from('q3'), { priority: 'critical' });
  t.is(await settledBeforeMacrotask(refused), 'rejected', 'refused without waiting for anything');
  const error = await rejection(refused);
  t.is(error.code, 'E_QUEUE_FULL');
  t.false(error.deterministic);
  t.is(host.queueSizes().execute.critical, 0, 'nothing was queued');
  t.is(events.of('job:queued').filter((e) => e.kind === 'execute').length, 3);

  const results = await Promise.all(waiting);
  t.deepEqual(results.map((r) => text(r.output)), ['Hello, q1!', 'Hello, q2!']);
  await busy;
  const after = await host.execute(artifact, Buffer.from('after'));
  t.is(text(after.output), 'Hello, after!');
});

test.serial('the queue bound counts waiting jobs only: a free slot is usable again at once', async (t) => {
  const { host } = await startScheduler(t, { maxQueue: 1 });
  const [sleep, artifact] = await Promise.all([host.prepare(sleepCode(500)), host.prepare(hello.wasm)]);
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const busy = host.execute(sleep, new Uint8Array(0), { timeoutMs: 2000 });
  await started;
  const controller = new AbortController();
  const first = host.execute(artifact, Buffer.from('1'), { signal: controller.signal });
  t.is((await rejection(host.execute(artifact, Buffer.from('2')))).code, 'E_QUEUE_FULL');
  controller.abort();
  t.is((await rejection(first)).code, 'E_ABORTED');
  const third = await host.execute(artifact, Buffer.from('3'));
  t.is(text(third.output), 'Hello, 3!');
  await busy;
});

test.serial('the prepare pool has its own bound: E_QUEUE_FULL for prepares beyond it', async (t) => {
  const { host } = await startScheduler(t, { maxQueue: 1 });
  // Three different modules: no dedup. One runs, one waits, the third is refused.
  const codes = [hello.wasm, sleepCode(1), sleepCode(2)];
  const [a, b, c] = codes.map((code) => host.prepare(code));
  const error = await rejection(c!);
  t.is(error.code, 'E_QUEUE_FULL');
  t.truthy(await a);
  t.truthy(await b);
});
