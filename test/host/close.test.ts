/**
 * `close()`: idempotent, graceful by default (what waits or runs finishes), `force` cancels
 * with E_HOST_CLOSED; every pending promise settles, nothing is left behind, and submissions
 * after it fail with E_HOST_CLOSED.
 */
import test from 'ava';
import fsp from 'node:fs/promises';
import { createHost } from '../../src/index.js';
import { tempCacheDir, waitFor, workerDirsIn, workerProcesses } from '../helpers/host.js';
import { delay, flipByte, hello, nextEvent, pidOf, rejection, sleepCode, startScheduler, text, within } from '../helpers/scheduler.js';

const EMPTY = new Uint8Array(0);


test.serial('close() twice returns the same promise; the host is closed', async (t) => {
  const { host } = await startScheduler(t);
  const first = host.close();
  const second = host.close();
  t.is(first, second);
  t.is(host.close({ force: true }), first);
  t.true(host.closed);
  await first;
  await host.close();
});

test.serial('submissions after close fail with E_HOST_CLOSED', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  await host.close();
  for (const call of [
    () => host.execute(artifact, Buffer.from('x')),
    () => host.execute(hello.wasm, Buffer.from('x')),
    () => host.prepare(hello.wasm),
    () => host.prepare(sleepCode(3)),
  ]) {
    const error = await rejection(call());
    t.is(error.code, 'E_HOST_CLOSED');
  }
  t.deepEqual(workerDirsIn(cacheDir), []);
  t.deepEqual(workerProcesses(cacheDir), []);
});

test.serial('a graceful close lets running and waiting jobs finish, then resolves', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const [sleep, artifact] = await Promise.all([host.prepare(sleepCode(500)), host.prepare(hello.wasm)]);
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const settled: string[] = [];
  const running = host.execute(sleep, EMPTY, { timeoutMs: 2000 }).finally(() => settled.push('running'));
  await started;
  const waiting = [1, 2, 3].map((i) => host.execute(artifact, Buffer.from(`w${i}`)).finally(() => settled.push(`w${i}`)));
  await host.close();
  settled.push('close');
  t.is((await running).output.byteLength, 40);
  t.deepEqual((await Promise.all(waiting)).map((r) => text(r.output)), ['Hello, w1!', 'Hello, w2!', 'Hello, w3!']);
  t.is(settled.at(-1), 'close', `close resolved after every job: ${settled.join(', ')}`);
  t.deepEqual(workerDirsIn(cacheDir), []);
});

test.serial('a graceful close lets executes of code still being prepared finish', async (t) => {
  const { host } = await startScheduler(t);
  // Not prepared yet: each execute first waits for the (shared) prepare job.
  const jobs = [1, 2, 3].map((i) => host.execute(hello.wasm, Buffer.from(`p${i}`)));
  const closed = host.close();
  const outcomes = await Promise.allSettled(jobs);
  await closed;
  t.deepEqual(
    outcomes.map((o) => (o.status === 'fulfilled' ? text(o.value.output) : (o.reason as { code: string }).code)),
    ['Hello, p1!', 'Hello, p2!', 'Hello, p3!'],
  );
});

test.serial('close({ force: true }) rejects running and waiting jobs with E_HOST_CLOSED, promptly', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const [sleep, artifact] = await Promise.all([host.prepare(sleepCode(10_000)), host.prepare(hello.wasm)]);
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const running = host.execute(sleep, EMPTY, { timeoutMs: 5000 });
  await started;
  const pending = [
    running,
    host.execute(artifact, Buffer.from('queued')),
    host.execute(artifact, Buffer.from('queued'), { priority: 'critical' }),
    // Still to be prepared: waits on the prepare pool.
    host.execute(sleepCode(7), EMPTY),
    host.prepare(sleepCode(8)),
  ];
  const t0 = Date.now();
  await host.close({ force: true });
  t.true(Date.now() - t0 < 5000, `close took ${Date.now() - t0} ms`);
  const outcomes = await Promise.allSettled(pending);
  t.deepEqual(
    outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : 'fulfilled')),
    Array(pending.length).fill('E_HOST_CLOSED'),
  );
  t.deepEqual(workerDirsIn(cacheDir), []);
});

test.serial('closing a host whose workers are still spawning leaves no worker dir or process', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(async () => {
    await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0);
    await fsp.rm(cacheDir, { recursive: true, force: true });
  });
  const host = await createHost({ cacheDir, executeWorkers: 2 });
  await host.close();
  t.deepEqual({ dirs: workerDirsIn(cacheDir), processes: workerProcesses(cacheDir) }, { dirs: [], processes: [] }, 'nothing left once close() resolved');
});

test.serial('a graceful close waits for a job whose corrupted artifact is being prepared again', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  flipByte(host.cache.pathOf(artifact.key), -1);
  let closed: Promise<void> | undefined;
  host.once('artifact:deleted', () => {
    closed = host.close();
  });
  const outcome = await host.execute(artifact, Buffer.from('recovering')).then(
    (r) => text(r.output),
    (error: { code: string }) => error.code,
  );
  t.truthy(closed, 'close() was called during the recovery');
  await closed;
  t.is(outcome, 'Hello, recovering!');
});

test.serial('a graceful close waits for a job whose worker died and is retried', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(sleepCode(600));
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const job = host.execute(artifact, EMPTY, { timeoutMs: 2000 }).then(
    (r) => `attempts ${r.attempts}`,
    (error: { code: string }) => error.code,
  );
  const { workerId } = await started;
  const pid = pidOf(host, workerId);
  const closed = host.close().then(() => 'closed');
  await delay(200);
  process.kill(pid, 'SIGKILL');
  // The retry needs a fresh worker, spawned while the host closes; then close() settles.
  const job_ = await within(job, 10_000);
  t.deepEqual({ job: job_, close: await within(closed, 8_000) }, { job: 'attempts 2', close: 'closed' });
});

test.serial('a graceful close when the only worker dies while jobs wait: they run on a fresh worker', async (t) => {
  const { host } = await startScheduler(t);
  const [sleep, artifact] = await Promise.all([host.prepare(sleepCode(600)), host.prepare(hello.wasm)]);
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const settle = (p: Promise<{ output: Uint8Array }>) => p.then((r) => (r.output.byteLength === 40 ? 'slept' : text(r.output)), (error: { code: string }) => error.code);
  const running = settle(host.execute(sleep, EMPTY, { timeoutMs: 2000 }));
  const { workerId } = await started;
  const waiting = settle(host.execute(artifact, Buffer.from('w')));
  const closed = host.close().then(() => 'closed');
  process.kill(pidOf(host, workerId), 'SIGKILL');
  const outcomes = { running: await within(running, 10_000), waiting: await within(waiting, 10_000) };
  t.deepEqual({ ...outcomes, close: await within(closed, 8_000) }, { running: 'slept', waiting: 'Hello, w!', close: 'closed' });
});

test.serial('a graceful close settles when a pool degrades under waiting jobs (workers cannot start)', async (t) => {
  const cacheDir = await tempCacheDir();
  // A 1 ms handshake bound: every spawn fails, as on a machine where workers cannot start.
  const host = await createHost({ cacheDir, executeWorkers: 1, handshakeTimeoutMs: 1 });
  t.teardown(async () => {
    void host.close({ force: true });
    await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0);
    await fsp.rm(cacheDir, { recursive: true, force: true });
  });
  const job = host.execute(hello.wasm, Buffer.from('x')).then(
    () => 'ran',
    (error: { code: string }) => error.code,
  );
  const closed = host.close().then(() => 'closed');
  t.is(await within(job, 15_000), 'E_POOL_DEGRADED');
  t.is(await within(closed, 5_000), 'closed', 'close() settles once nothing waits any more');
  t.deepEqual(workerDirsIn(cacheDir), []);
});
