/**
 * Faults of the machine rather than of the code, provoked for real: a worker SIGKILLed under
 * its job, a worker frozen with SIGSTOP, a worker dir the host cannot clear.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { waitFor, workerDirsIn } from '../helpers/host.js';
import { hello, idleWorkers, nextEvent, pidOf, rejection, sleepCode, startScheduler, text } from '../helpers/scheduler.js';

const EMPTY = new Uint8Array(0);

test.serial('a worker SIGKILLed mid-job: the job runs again on a fresh worker (attempts 2)', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(sleepCode(1000));
  const killed: string[] = [];
  host.on('job:started', (e) => {
    if (e.kind !== 'execute' || e.attempt !== 1) return;
    const pid = pidOf(host, e.workerId);
    // Mid-job: the sleep has begun inside the worker.
    setTimeout(() => {
      killed.push(e.workerId);
      process.kill(pid, 'SIGKILL');
    }, 300);
  });
  const result = await host.execute(artifact, EMPTY, { timeoutMs: 5000 });
  t.is(result.attempts, 2);
  t.is(killed.length, 1);
  t.not(result.workerId, killed[0], 'the retry ran on another worker');
  t.is(result.output.byteLength, 40, 'the sleep module writes 40 bytes');
  t.deepEqual(events.of('job:started').filter((e) => e.kind === 'execute').map((e) => e.attempt), [1, 2]);
  t.deepEqual(events.of('job:failed'), [], 'a retried job that succeeds reports no failure');
  const exited = events.of('worker:exited').find((e) => e.id === killed[0]);
  t.is(exited?.reason, 'exited');
  t.true(events.of('worker:spawned').some((e) => e.id === result.workerId), 'a fresh worker was spawned');
  t.is(host.workers().filter((w) => w.kind === 'execute').length, 1, 'the pool is back at its size');
});

test.serial('a job whose worker dies twice fails with E_WORKER_DIED; the pool keeps serving', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(sleepCode(1000));
  const onStarted = (e: { kind: string; workerId: string }) => {
    if (e.kind !== 'execute') return;
    const pid = pidOf(host, e.workerId);
    setTimeout(() => process.kill(pid, 'SIGKILL'), 300);
  };
  host.on('job:started', onStarted);
  const error = await rejection(host.execute(artifact, EMPTY, { timeoutMs: 5000 }));
  host.off('job:started', onStarted);
  t.is(error.code, 'E_WORKER_DIED', error.message);
  t.false(error.deterministic);
  t.deepEqual(events.of('job:started').filter((e) => e.kind === 'execute').map((e) => e.attempt), [1, 2]);
  t.is(events.of('job:failed').length, 1);
  t.is(events.of('worker:exited').filter((e) => e.kind === 'execute' && e.reason === 'exited').length, 2);
  const next = await host.execute(hello.wasm, Buffer.from('survivor'));
  t.is(text(next.output), 'Hello, survivor!');
});

test.serial('a SIGSTOPped worker is killed past its hard timeout and the job fails with E_TIMEOUT', async (t) => {
  // Hard timeout of an execute: (300 ms + 300 ms of compileTimeoutMs) × 1 + 1000 ms.
  const { host, events } = await startScheduler(t, { limits: { hardTimeoutFactor: 1, compileTimeoutMs: 300 } });
  const artifact = await host.prepare(hello.wasm);
  let stopped: { id: string; pid: number } | undefined;
  host.once('job:started', (e) => {
    // Frozen before it even reads the job: only the host's wall clock can end it.
    stopped = { id: e.workerId, pid: pidOf(host, e.workerId) };
    process.kill(stopped.pid, 'SIGSTOP');
  });
  const started = Date.now();
  const error = await rejection(host.execute(artifact, Buffer.from('x'), { timeoutMs: 300 }));
  const elapsed = Date.now() - started;
  t.is(error.code, 'E_TIMEOUT', error.message);
  t.false(error.deterministic);
  t.regex(error.message, /hard timeout of 1600 ms/);
  t.true(elapsed >= 1600 && elapsed < 15_000, `${elapsed} ms`);
  t.like(events.of('worker:exited').find((e) => e.id === stopped!.id), { reason: 'hard-timeout' });
  // The frozen process is gone (SIGKILL reaches stopped processes).
  const alive = await waitFor(() => fs.existsSync(`/proc/${stopped!.pid}`), (exists) => !exists);
  t.false(alive);
  const next = await host.execute(artifact, Buffer.from('thawed'));
  t.is(text(next.output), 'Hello, thawed!');
  t.not(next.workerId, stopped!.id);
});

test.serial('a worker dir that cannot be cleared (E_CLEAR_WORKER_DIR): the worker is replaced, the pool keeps serving', async (t) => {
  const { host, cacheDir, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const [worker] = await idleWorkers(host, 'execute');
  const dir = workerDirsIn(cacheDir).find((name) => name.startsWith('worker-dir-execute-'))!;
  // A mount point inside the worker dir: rm fails on it with EBUSY, as it would on any entry
  // the host cannot remove.
  const mountPoint = path.join(cacheDir, dir, 'mounted');
  const source = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bind-'));
  fs.mkdirSync(mountPoint);
  execFileSync('mount', ['--bind', source, mountPoint]);
  const unmount = () => {
    try {
      execFileSync('umount', [mountPoint], { stdio: 'ignore' });
    } catch {
      // already unmounted
    }
  };
  t.teardown(() => {
    unmount();
    fs.rmSync(source, { recursive: true, force: true });
  });
  // Unmount as soon as the host has given up on the dir, so that removing it when the worker
  // exits can succeed (that removal failing is a case of its own, in workerDirRemoval.test.ts).
  const exited = nextEvent(host, 'worker:exited', (e) => e.id === worker!.id);
  host.on('worker:exited', (e) => {
    if (e.id === worker!.id) unmount();
  });

  const result = await host.execute(artifact, Buffer.from('world'));
  t.is(text(result.output), 'Hello, world!', 'the job itself succeeded: its result was collected before the clear');
  t.is(result.workerId, worker!.id);
  const exit = await exited;
  t.is(exit.reason, 'clear-failed');
  t.regex(exit.message, /cannot clear worker dir/);
  t.regex(exit.message, /EBUSY/);
  t.is(exit.jobsCompleted, 1);

  const next = await host.execute(artifact, Buffer.from('again'));
  t.is(text(next.output), 'Hello, again!');
  t.not(next.workerId, worker!.id);
  // Removed once its process has exited (after the unmount above), beside the next job.
  t.false(await waitFor(() => fs.existsSync(path.join(cacheDir, dir)), (exists) => !exists), 'the dead worker\'s dir is removed');
  t.is(events.of('job:failed').length, 0);
});

test.serial('killing a worker while it is idle: it is replaced and the next job runs', async (t) => {
  const { host, events } = await startScheduler(t);
  const [worker] = await idleWorkers(host, 'execute');
  process.kill(worker!.pid!, 'SIGKILL');
  await nextEvent(host, 'worker:exited', (e) => e.id === worker!.id);
  const result = await host.execute(hello.wasm, Buffer.from('x'));
  t.is(text(result.output), 'Hello, x!');
  t.is(result.attempts, 1);
  t.not(result.workerId, worker!.id);
  t.deepEqual(events.of('job:failed'), []);
});

test.serial('a prepare worker killed under its job: the prepare runs again on a fresh worker', async (t) => {
  const { host, events } = await startScheduler(t);
  host.once('job:started', (e) => {
    if (e.kind === 'prepare') process.kill(pidOf(host, e.workerId), 'SIGKILL');
  });
  const artifact = await host.prepare(hello.wasm);
  t.deepEqual(events.of('job:started').map((e) => [e.kind, e.attempt]), [['prepare', 1], ['prepare', 2]]);
  t.not(events.of('job:started')[0]!.workerId, events.of('job:started')[1]!.workerId);
  t.true(host.cache.has(artifact.key));
  const result = await host.execute(artifact, Buffer.from('prepared twice'));
  t.is(text(result.output), 'Hello, prepared twice!');
});

test.serial('a SIGSTOPped prepare worker: E_TIMEOUT past the hard timeout, and the code can be prepared again', async (t) => {
  const { host, events } = await startScheduler(t, { limits: { hardTimeoutFactor: 1 } });
  host.once('job:started', (e) => {
    if (e.kind === 'prepare') process.kill(pidOf(host, e.workerId), 'SIGSTOP');
  });
  const error = await rejection(host.prepare(hello.wasm, { timeoutMs: 300 }));
  t.is(error.code, 'E_TIMEOUT');
  t.true(events.of('worker:exited').some((e) => e.kind === 'prepare' && e.reason === 'hard-timeout'));
  const artifact = await host.prepare(hello.wasm);
  t.false(artifact.cached);
  t.is(text((await host.execute(artifact, Buffer.from('x'))).output), 'Hello, x!');
});

test.serial('workers that keep dying degrade the pool: E_POOL_DEGRADED at once, then it recovers', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  // Idle workers dying one after another is a crash loop (no job to blame).
  const degraded = nextEvent(host, 'pool:degraded', (e) => e.kind === 'execute', 15_000);
  let kills = 0;
  while (events.of('pool:degraded').length === 0 && kills < 10) {
    const [worker] = await idleWorkers(host, 'execute', 1, 15_000).catch(() => [undefined]);
    if (!worker || events.of('pool:degraded').length > 0) break;
    process.kill(worker.pid!, 'SIGKILL');
    kills++;
    await nextEvent(host, 'worker:exited', (e) => e.id === worker.id);
  }
  await degraded;
  const error = await rejection(host.execute(artifact, Buffer.from('x')));
  t.is(error.code, 'E_POOL_DEGRADED');
  t.false(error.deterministic);
  // After the cooldown the pool respawns and serves again.
  await nextEvent(host, 'pool:recovered', (e) => e.kind === 'execute', 20_000);
  await idleWorkers(host, 'execute');
  t.is(text((await host.execute(artifact, Buffer.from('back'))).output), 'Hello, back!');
});
