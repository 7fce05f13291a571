/**
 * Pipelining with real sandboxed workers (protocol 6): with every worker busy, the next job is
 * sent to a running worker, which starts it as soon as its job ends. A pipelined job that has
 * not started when its worker dies or is killed is handed back and runs elsewhere, never failed
 * or lost; a cancelled one is stopped on the worker, which carries on; the start order is kept.
 * The PIPELINE events the worker machines take are read through the `inspect` option.
 */
import test from 'ava';
import type { InspectionEvent } from 'xstate';
import { waitFor } from '../helpers/host.js';
import { hello, pidOf, rejection, sleepCode, startScheduler, text } from '../helpers/scheduler.js';

const EMPTY = new Uint8Array(0);

/** A host with one execute worker, and the ids of the jobs its worker machines took as PIPELINE. */
async function pipelinedHost(t: Parameters<typeof startScheduler>[0], options: Parameters<typeof startScheduler>[1] = {}) {
  const pipelined: string[] = [];
  const inspect = (event: InspectionEvent) => {
    if (event.type === '@xstate.event' && event.event.type === 'PIPELINE') pipelined.push(event.event.jobId as string);
  };
  const started = await startScheduler(t, { ...options, inspect });
  return { ...started, pipelined };
}

test.serial('jobs pipelined behind one another on one worker all succeed, in the order they were submitted', async (t) => {
  const { host, events, pipelined } = await pipelinedHost(t);
  const artifact = await host.prepare(hello.wasm);
  // The first job links the artifact into the worker dir; the others find it there.
  await host.execute(artifact, Buffer.from('first'));
  const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
  const results = await Promise.all(names.map((name) => host.execute(artifact, Buffer.from(name))));
  t.deepEqual(results.map((r) => text(r.output)), names.map((name) => `Hello, ${name}!`));
  t.true(results.every((r) => r.attempts === 1));
  t.true(pipelined.length > 0, 'jobs were pipelined');
  const succeeded = events.of('job:succeeded').filter((e) => e.kind === 'execute').map((e) => e.jobId);
  t.deepEqual(succeeded.slice(1), results.map((r) => r.jobId), 'they ended in the order they were submitted');
  t.deepEqual(events.of('worker:exited').filter((e) => e.kind === 'execute'), []);
});

test.serial('a job pipelined behind one whose worker is SIGKILLed runs on the replacement and succeeds, started once', async (t) => {
  const { host, events, pipelined } = await pipelinedHost(t);
  const artifact = await host.prepare(sleepCode(400));
  await host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  let killed: string | undefined;
  host.on('job:started', (e) => {
    if (e.kind !== 'execute' || killed !== undefined) return;
    killed = e.workerId;
    const pid = pidOf(host, e.workerId);
    setTimeout(() => process.kill(pid, 'SIGKILL'), 150);
  });
  const first = host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  const behind = host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  const [a, b] = await Promise.all([first, behind]);
  t.true(pipelined.length > 0, 'the second job was pipelined');
  t.is(a.attempts, 2, 'the job the worker died under ran again');
  t.is(b.attempts, 1, 'the pipelined job never started on the dead worker');
  t.not(b.workerId, killed);
  t.is(b.output.byteLength, 40);
  t.deepEqual(events.of('job:failed'), []);
});

test.serial('a job pipelined behind one that passes its hard timeout (SIGSTOP) runs on the replacement and succeeds', async (t) => {
  // Hard timeout of an execute: (500 ms + 300 ms of compileTimeoutMs) × 1 + 1000 ms.
  const { host, events, pipelined } = await pipelinedHost(t, { limits: { hardTimeoutFactor: 1, compileTimeoutMs: 300 } });
  const artifact = await host.prepare(sleepCode(200));
  await host.execute(artifact, EMPTY, { timeoutMs: 500 });
  let stopped: string | undefined;
  host.on('job:started', (e) => {
    if (e.kind !== 'execute' || stopped !== undefined) return;
    stopped = e.workerId;
    process.kill(pidOf(host, e.workerId), 'SIGSTOP');
  });
  const first = rejection(host.execute(artifact, EMPTY, { timeoutMs: 500 }));
  const behind = host.execute(artifact, EMPTY, { timeoutMs: 500 });
  const error = await first;
  t.is(error.code, 'E_TIMEOUT', error.message);
  const result = await behind;
  t.true(pipelined.length > 0, 'the second job was pipelined');
  t.is(result.attempts, 1);
  t.not(result.workerId, stopped);
  t.is(events.of('worker:exited').find((e) => e.id === stopped)?.reason, 'hard-timeout');
});

test.serial('an aborted pipelined job fails E_ABORTED at once; the worker is not killed and the job ahead of it succeeds', async (t) => {
  const { host, events, pipelined } = await pipelinedHost(t);
  const artifact = await host.prepare(sleepCode(600));
  await host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  const running = host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  const controller = new AbortController();
  const behind = rejection(host.execute(artifact, EMPTY, { timeoutMs: 5000, signal: controller.signal }));
  await waitFor(() => pipelined.length, (n) => n === 1, 10_000);
  t.is(pipelined.length, 1, 'the second job was pipelined');
  controller.abort();
  const error = await behind;
  t.is(error.code, 'E_ABORTED', error.message);
  const result = await running;
  t.is(result.output.byteLength, 40);
  t.deepEqual(events.of('worker:exited').filter((e) => e.kind === 'execute'), [], 'no worker was killed');
  // The worker skipped the withdrawn job and serves the next one.
  const after = await host.execute(hello.wasm, Buffer.from('after'));
  t.is(text(after.output), 'Hello, after!');
  t.is(after.workerId, result.workerId);
});

// An execute worker runs its job on the thread that reads the channel: it answers the Cancel of
// the job behind once the running one ends (and reads it before starting that job).
test.serial('a pipelined job past its own deadline fails E_DEADLINE at once and never runs; the worker carries on', async (t) => {
  const { host, events, pipelined } = await pipelinedHost(t);
  const artifact = await host.prepare(sleepCode(1000));
  await host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  const running = host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  let runningDone = false;
  void running.then(() => (runningDone = true));
  const late = rejection(host.execute(artifact, EMPTY, { timeoutMs: 5000, deadline: Date.now() + 150 }));
  t.is((await late).code, 'E_DEADLINE');
  t.false(runningDone, 'failed while the job ahead of it still ran');
  t.is(pipelined.length, 1, 'the late job was pipelined');
  const r = await running;
  const after = await host.execute(hello.wasm, Buffer.from('after'));
  t.is(text(after.output), 'Hello, after!');
  const started = events.of('job:started').filter((e) => e.kind === 'execute').map((e) => e.jobId);
  t.deepEqual(started.slice(-2), [r.jobId, after.jobId], 'the late job never started');
  t.deepEqual(events.of('worker:exited').filter((e) => e.kind === 'execute'), []);
});

test.serial('a high-priority job still starts before a pipelined background one', async (t) => {
  const { host, events, pipelined } = await pipelinedHost(t);
  const artifact = await host.prepare(sleepCode(1000));
  await host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  const running = host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  const background = host.execute(artifact, EMPTY, { timeoutMs: 5000, priority: 'background' });
  await waitFor(() => pipelined.length, (n) => n === 1, 10_000);
  const high = host.execute(artifact, EMPTY, { timeoutMs: 5000, priority: 'high' });
  const [r, b, h] = await Promise.all([running, background, high]);
  t.true(pipelined.length >= 1, 'the background job was pipelined');
  const started = events.of('job:started').filter((e) => e.kind === 'execute').map((e) => e.jobId);
  t.deepEqual(started.slice(-3), [r.jobId, h.jobId, b.jobId], 'started: the running job, high, then background');
  t.is(b.attempts, 1);
  t.deepEqual(events.of('worker:exited').filter((e) => e.kind === 'execute'), []);
});
