/**
 * The early worker (src/host/earlyWorker.ts): a cold host's first execute worker boots beside
 * the security check, and the host takes it only when the check found exactly the sandbox it
 * was started with. Real sandboxed workers, a real check.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { hello } from '../helpers/scheduler.js';
import { MessageType } from '../../src/protocol/messages.js';
import { EarlyWorker } from '../../src/host/earlyWorker.js';
import { WorkerSpawner } from '../../src/host/spawner.js';
import { resolveHostOptions } from '../../src/options.js';
import { checkSecurity, type SecurityStatus } from '../../src/sandbox/security.js';
import { purgeStaleWorkerDirs } from '../../src/sandbox/workerDir.js';
import { hostCgroupName } from '../../src/sandbox/cgroup.js';
import { hostCgroupsLeft, startHost, tempCacheDir, waitFor, workerDirsIn, workerProcesses } from '../helpers/host.js';

async function setup(t: ExecutionContext) {
  const cacheDir = await tempCacheDir('warden-early-');
  const options = resolveHostOptions({ cacheDir });
  const [status, early] = await Promise.all([checkSecurity(cacheDir, { cgroups: options.cgroups }), EarlyWorker.start(options, purgeStaleWorkerDirs(cacheDir))]);
  t.teardown(async () => {
    await early?.discard();
    await fsp.rm(cacheDir, { recursive: true, force: true });
  });
  if (!early) throw new Error('no early worker on a machine with every layer');
  return { cacheDir, options, status, early };
}

async function nothingLeft(t: ExecutionContext, cacheDir: string): Promise<void> {
  t.deepEqual(workerDirsIn(cacheDir), [], 'no worker dir');
  t.deepEqual(await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0), [], 'no worker process');
  t.deepEqual(hostCgroupsLeft(cacheDir), [], 'no host cgroup');
}

/** The confinement /proc shows for a process: its seccomp mode and no_new_privs. */
function confinement(pid: number): { seccomp: string | undefined; noNewPrivs: string | undefined } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { seccomp: /^Seccomp:\s+(\d+)/m.exec(status)?.[1], noNewPrivs: /^NoNewPrivs:\s+(\d+)/m.exec(status)?.[1] };
}

test.serial('taken when the check agrees: the spawner hands it to the first execute spawn, under the pool\'s name, and closes it', async (t) => {
  const { cacheDir, options, status, early } = await setup(t);
  const taken = await early.take(status);
  if (!taken) return t.fail('the check found every layer: the early worker must be taken');
  const spawner = new WorkerSpawner(options, status, taken.cgroups);
  spawner.adopt(taken.worker);
  const worker = await spawner.spawn('execute', 'execute-pool-name');
  t.true(worker === (await taken.worker), 'the early worker, not a new one');
  t.is(worker.info.id, 'execute-pool-name');
  t.deepEqual(worker.info.layers, status.layers, 'the layers the check found');
  t.true(spawner.live.has(worker));
  const pid = await waitFor(() => worker.sandboxPid, (p) => p !== undefined);
  t.deepEqual(confinement(pid!), { seccomp: '2', noNewPrivs: '1' });
  if (status.layers.cgroup) t.true(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(hostCgroupName(cacheDir)), 'in the host\'s cgroup');
  // A second execute spawn starts a worker of its own.
  const second = await spawner.spawn('execute');
  t.not(second, worker);
  t.is(workerDirsIn(cacheDir).length, 2);
  await spawner.close();
  await taken.cgroups?.close();
  await nothingLeft(t, cacheDir);
});

test.serial('discarded when the check found other layers: the worker, its dir and the host cgroup are gone', async (t) => {
  const { cacheDir, status, early } = await setup(t);
  const other: SecurityStatus = { ...status, layers: { ...status.layers, landlock: false } };
  t.is(await early.take(other), undefined);
  await nothingLeft(t, cacheDir);
});

test.serial('discarded when the host does not start: nothing is left', async (t) => {
  const { cacheDir, early } = await setup(t);
  await early.discard();
  await nothingLeft(t, cacheDir);
});

test.serial('an adopted early worker that died before the first spawn is replaced by a fresh one', async (t) => {
  const { cacheDir, options, status, early } = await setup(t);
  const taken = await early.take(status);
  if (!taken) return t.fail('the check found every layer: the early worker must be taken');
  const dead = (await taken.worker)!;
  await dead.kill();
  const spawner = new WorkerSpawner(options, status, taken.cgroups);
  spawner.adopt(taken.worker);
  const worker = await spawner.spawn('execute', 'execute-after');
  t.not(worker, dead);
  t.true(worker.alive);
  t.is(worker.info.id, 'execute-after');
  await spawner.close();
  await taken.cgroups?.close();
  await nothingLeft(t, cacheDir);
});

test.serial('a spawner closed before the pool asked for its early worker kills it', async (t) => {
  const { cacheDir, options, status, early } = await setup(t);
  const taken = await early.take(status);
  if (!taken) return t.fail('the check found every layer: the early worker must be taken');
  const spawner = new WorkerSpawner(options, status, taken.cgroups);
  spawner.adopt(taken.worker);
  await spawner.close();
  t.false((await taken.worker)!.alive);
  await taken.cgroups?.close();
  await nothingLeft(t, cacheDir);
});

/** A spawner holding the early worker, and a second spawn asked for at once, before the early worker's handshake is done. */
async function adoptedWithSecond(t: ExecutionContext) {
  const { cacheDir, options, status, early } = await setup(t);
  const taken = await early.take(status);
  if (!taken) throw new Error('the check found every layer: the early worker must be taken');
  const spawner = new WorkerSpawner(options, status, taken.cgroups);
  t.teardown(async () => {
    await spawner.close();
    await taken.cgroups?.close();
  });
  spawner.adopt(taken.worker);
  const first = spawner.spawn('execute', 'execute-first');
  const second = spawner.spawn('prepare', 'prepare-second');
  return { cacheDir, spawner, first, second };
}

test.serial("the other spawns wait for the early worker's handshake and its first answer: on few cores they would slow both", async (t) => {
  const { cacheDir, first, second } = await adoptedWithSecond(t);
  const worker = await first;
  // The pool's first job would come now: a request the worker answers.
  let dirsAtAnswer = -1;
  await worker.request(MessageType.Ping, null).then(() => {
    dirsAtAnswer = workerDirsIn(cacheDir).length;
  });
  t.is(dirsAtAnswer, 1, 'only the early worker had a dir until it answered');
  const other = await second;
  t.is(other.info.kind, 'prepare');
  t.true(other.alive);
});

test.serial('with no request for the early worker, the other spawns start shortly after its handshake anyway', async (t) => {
  const { first, second } = await adoptedWithSecond(t);
  await first;
  t.true((await second).alive);
});

test.serial('release() lets the other spawns start while the early worker still boots (a prepare must not wait for it)', async (t) => {
  const { cacheDir, spawner, first, second } = await adoptedWithSecond(t);
  spawner.release();
  let bootedFirst = false;
  void first.then(() => {
    bootedFirst = true;
  });
  await waitFor(() => workerDirsIn(cacheDir).length, (n) => n === 2, 20_000);
  t.false(bootedFirst, "the second worker's dir was made before the early worker's handshake was done");
  t.true((await second).alive);
});

test.serial('a host started with its early worker runs jobs on workers confined as the check says, and leaves nothing behind', async (t) => {
  const { host } = await startHost(t, { executeWorkers: 2 });
  const { output } = await host.execute(hello.wasm, Buffer.from('early'));
  t.is(Buffer.from(output).toString(), 'Hello, early!');
  const execute = await waitFor(
    () => host.workers().filter((w) => w.kind === 'execute' && w.pid !== undefined),
    (ws) => ws.length === 2,
    20_000,
  );
  t.is(execute.length, 2);
  for (const w of execute) {
    t.deepEqual(confinement(w.pid!), { seccomp: '2', noNewPrivs: '1' }, `worker ${w.id}`);
    t.true(w.id.startsWith('execute-') && !w.id.includes('early'), 'named by the pool');
  }
});
