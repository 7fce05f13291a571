/**
 * The worker spawner on its own, without pools or a host: it alone owns worker processes, so
 * whatever it spawned, and only that, is alive until it dies or the spawner closes, and no
 * worker or worker dir outlives `close()`. Real sandboxed workers.
 */
import test, { type ExecutionContext } from 'ava';
import fsp from 'node:fs/promises';
import { HostClosedError } from '../../src/errors.js';
import { WorkerSpawner, openHostCgroups } from '../../src/host/spawner.js';
import { resolveHostOptions, workerLimits, type ResolvedHostOptions } from '../../src/options.js';
import { checkSecurity } from '../../src/sandbox/security.js';
import { hostCgroupsLeft, tempCacheDir, waitFor, workerDirsIn, workerProcesses } from '../helpers/host.js';

async function startSpawner(t: ExecutionContext, tweak: Partial<ResolvedHostOptions> = {}) {
  const cacheDir = await tempCacheDir('warden-spawner-');
  const options = { ...resolveHostOptions({ cacheDir }), ...tweak };
  const status = await checkSecurity(cacheDir, { cgroups: options.cgroups });
  const spawner = new WorkerSpawner(options, status, await openHostCgroups(status, options));
  t.teardown(async () => {
    await spawner.close();
    await fsp.rm(cacheDir, { recursive: true, force: true });
  });
  return { spawner, cacheDir, options, status };
}

test('spawned workers are live, each in a dir of its own, until they die or the spawner closes', async (t) => {
  const { spawner, cacheDir } = await startSpawner(t);
  const [a, b] = await Promise.all([spawner.spawn('execute'), spawner.spawn('prepare', 'prepare-named')]);
  t.is(b!.info.id, 'prepare-named');
  // In the order the handshakes completed.
  t.is(spawner.live.size, 2);
  t.true(spawner.live.has(a!) && spawner.live.has(b!));
  t.is(workerDirsIn(cacheDir).length, 2);
  t.true(workerProcesses(cacheDir).length >= 2, 'both workers run');

  // A worker that dies leaves the live set, and its dir goes with it.
  await a!.kill();
  await waitFor(() => spawner.live.size, (size) => size === 1);
  t.deepEqual([...spawner.live], [b]);
  t.is((await waitFor(() => workerDirsIn(cacheDir), (dirs) => dirs.length === 1)).length, 1);

  await spawner.close();
  t.is(spawner.live.size, 0);
  t.deepEqual(workerDirsIn(cacheDir), []);
  t.deepEqual(await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0), []);
  t.deepEqual(hostCgroupsLeft(cacheDir), []);
});

test('a worker whose handshake is under way when the spawner closes is killed, and its dir removed', async (t) => {
  const { spawner, cacheDir } = await startSpawner(t);
  const spawning = spawner.spawn('execute');
  const closing = spawner.close();
  const error = await t.throwsAsync(spawning);
  t.true(error instanceof HostClosedError, error?.message);
  await closing;
  t.is(spawner.live.size, 0);
  t.deepEqual(workerDirsIn(cacheDir), []);
  t.deepEqual(await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0), []);
});

test('a stopped spawner refuses to spawn, and leaves its live workers to close()', async (t) => {
  const { spawner, cacheDir } = await startSpawner(t);
  const worker = await spawner.spawn('execute');
  spawner.stop();
  const error = await t.throwsAsync(spawner.spawn('execute'));
  t.is((error as HostClosedError).code, 'E_HOST_CLOSED');
  t.deepEqual([...spawner.live], [worker]);
  t.is(workerDirsIn(cacheDir).length, 1);
  await spawner.close();
  t.deepEqual(workerDirsIn(cacheDir), []);
});

test('a spawn that fails leaves no dir and no live worker', async (t) => {
  // A handshake no worker can make in time.
  const { spawner, cacheDir } = await startSpawner(t, { handshakeTimeoutMs: 1 });
  await t.throwsAsync(spawner.spawn('execute'));
  t.is(spawner.live.size, 0);
  t.deepEqual(workerDirsIn(cacheDir), []);
  t.deepEqual(await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0), []);
});

test('info and cgroup describe a worker as the host checked the sandbox', async (t) => {
  const { spawner, options, status } = await startSpawner(t);
  const info = spawner.info('execute', 'execute-x', '/tmp/some/worker-dir-execute-x');
  t.like(info, { id: 'execute-x', kind: 'execute', layers: status.layers, limits: workerLimits(options.limits) });
  t.is(info.dir, status.layers.pivotRoot ? '/worker' : '/tmp/some/worker-dir-execute-x');
  const cgroup = spawner.cgroup('/tmp/some/worker-dir-execute-x');
  if (cgroup) t.true(cgroup.dirs.every((dir) => dir.endsWith('worker-dir-execute-x')));
  else t.pass('no cgroup layer on this machine');
});

test('a spawn makes nothing in the turn that asked for it: whatever that turn settles resumes first', async (t) => {
  const { spawner, cacheDir } = await startSpawner(t);
  // As when the reply that settles a one-job process's job retires it and asks for its replacement.
  let settled: () => void = () => {};
  const job = new Promise<void>((resolve) => {
    settled = resolve;
  });
  const seen: string[][] = [];
  const resumed = job.then(() => seen.push(workerDirsIn(cacheDir)));
  const spawning = spawner.spawn('execute');
  settled();
  await resumed;
  t.deepEqual(seen, [[]], 'no worker dir yet when the settled job resumed');
  const worker = await spawning;
  t.true(spawner.live.has(worker));
  t.is(workerDirsIn(cacheDir).length, 1);
});

test('a spawn asked for just before a stop makes no dir and no process', async (t) => {
  const { spawner, cacheDir } = await startSpawner(t);
  const spawning = spawner.spawn('execute');
  spawner.stop();
  const error = await t.throwsAsync(spawning);
  t.true(error instanceof HostClosedError, error?.message);
  t.deepEqual(workerDirsIn(cacheDir), []);
  t.is(spawner.live.size, 0);
  await spawner.close();
  t.deepEqual(workerProcesses(cacheDir), []);
});
