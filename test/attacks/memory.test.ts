/**
 * Escape corpus, memory (with native code in the worker): memory RLIMIT_DATA does not count,
 * and memory of many workers together. Shared memory is refused outright by the seccomp
 * filter; where it were not, the worker's memory cgroup holds; all workers together stay
 * within the host's budget (`limits.workersMemoryBytes`), their common cgroup.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { startHost } from '../helpers/host.js';
import { startAttacker, type Attacker } from '../helpers/attacker.js';
import { MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_PRIVATE, MAP_SHARED, MiB, mapAndTouch, sysvShmTouch } from '../helpers/nativeAttacks.js';

/** Runs an attack that may cost the worker its life: the outcome, or how the worker ended. */
async function survive(attacker: Attacker, body: string): Promise<{ value?: { errno: string; touched: number }; died?: { code: number | null; message: string } }> {
  try {
    const r = await attacker.run(body, 60_000);
    if (!r.ok) throw new Error(`attack threw: ${r.code} ${r.detail}`);
    return { value: r.value as { errno: string; touched: number } };
  } catch (error) {
    if ((error as { code?: string }).code !== 'E_WORKER_DIED') throw error;
    const exit = await attacker.worker.exited;
    return { died: { code: exit.code, message: exit.error.message } };
  }
}

test.serial('memory: a shared anonymous mapping of twice dataBytes fails with EPERM', async (t) => {
  // seccomp (launcher): no MAP_SHARED mapping at all; RLIMIT_DATA counts only private memory.
  const { host } = await startHost(t, { limits: { dataBytes: 256 * MiB } });
  const attacker = await startAttacker(t, host);
  const r = await survive(attacker, mapAndTouch(512 * MiB, MAP_SHARED | MAP_ANONYMOUS));
  t.deepEqual(r.value, { errno: 'EPERM', touched: 0 }, JSON.stringify(r));
  t.is((await attacker.run('return 1;')).value, 1, 'the worker still answers');
});

test.serial('memory: a MAP_GROWSDOWN mapping of twice dataBytes fails with EPERM', async (t) => {
  // seccomp (launcher): a grows-down region counts as stack, not data, for RLIMIT_DATA.
  const { host } = await startHost(t, { limits: { dataBytes: 256 * MiB } });
  const attacker = await startAttacker(t, host);
  const r = await survive(attacker, mapAndTouch(512 * MiB, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN));
  t.deepEqual(r.value, { errno: 'EPERM', touched: 0 }, JSON.stringify(r));
});

test.serial('memory: a SysV shared memory segment of twice dataBytes fails with EPERM', async (t) => {
  // seccomp (launcher): shmget refused (and msgget, semget: no SysV IPC at all).
  const { host } = await startHost(t, { limits: { dataBytes: 256 * MiB } });
  const attacker = await startAttacker(t, host);
  const r = await survive(attacker, sysvShmTouch(512 * MiB));
  t.deepEqual(r.value, { errno: 'EPERM', touched: 0 }, JSON.stringify(r));
  const others = await attacker.run(`
    const n = ctx.native;
    return [n.syscall(n.nr.msgget, 0, ${0o1600}).errno, n.syscall(n.nr.semget, 0, 1, ${0o1600}).errno, n.syscall(n.nr.mq_open, 'q', ${0o100 | 0o2}, 0o600, 0).errno];`);
  t.deepEqual(others.value, ['EPERM', 'EPERM', 'EPERM']);
});

test.serial('memory: memfd_create and memfd_secret fail with EPERM', async (t) => {
  // seccomp (launcher): memory files outlive their mappings and fallocate past RLIMIT_FSIZE.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(`
    const n = ctx.native;
    return [n.syscall(n.nr.memfd_create, 'x', 0).errno, n.syscall(n.nr.memfd_secret, 0).errno];`);
  t.deepEqual(r.value, ['EPERM', 'EPERM']);
});

test.serial("memory: without seccomp, shared memory past dataBytes gets the worker OOM-killed by its own memory cgroup", async (t) => {
  // The worker's memory cgroup (limit dataBytes) alone, as where the seccomp layer is missing.
  const { host } = await startHost(t, { limits: { dataBytes: 256 * MiB } });
  const attacker = await startAttacker(t, host, 'execute', { layers: { seccomp: false } });
  const r = await survive(attacker, mapAndTouch(512 * MiB, MAP_SHARED | MAP_ANONYMOUS));
  if (!host.securityStatus.layers.cgroup) {
    // Documented gap (docs/security.md): with neither seccomp nor a cgroup, nothing counts it.
    t.log(`no cgroup on this machine: ${host.securityStatus.features.find((f) => f.feature === 'cgroup')!.detail}`);
    t.is(r.value?.errno, 'OK');
    return;
  }
  t.truthy(r.died, `the worker survived: ${JSON.stringify(r.value)}`);
  t.is(r.died!.code, 128 + 9, 'killed (SIGKILL) by the OOM killer of its cgroup');
  const fresh = await startAttacker(t, host);
  t.is((await fresh.run('return 1;')).value, 1, 'the host starts fresh workers');
});

test.serial('memory: all workers together stay within workersMemoryBytes (the host cgroup)', async (t) => {
  // The host's memory cgroup over all its workers: each may use dataBytes, all of them
  // together no more than workersMemoryBytes; past it the kernel kills one of them.
  const budget = 384 * MiB;
  const { host } = await startHost(t, { limits: { dataBytes: 512 * MiB, workersMemoryBytes: budget } });
  if (!host.securityStatus.layers.cgroup) {
    t.log('no cgroup on this machine: workersMemoryBytes cannot be enforced (documented gap)');
    t.false(host.securityStatus.features.find((f) => f.feature === 'cgroup')!.available);
    return;
  }
  const hostMemoryCgroup = path.dirname(host.workerCgroup('/any/worker-dir')!.dirs[0]!);
  const first = await startAttacker(t, host);
  const second = await startAttacker(t, host);
  const body = mapAndTouch(256 * MiB, MAP_PRIVATE | MAP_ANONYMOUS);
  await survive(first, body);
  await survive(second, body);
  // The kernel kills the largest task of the host cgroup, which may be the first attacker,
  // after its own attack had returned.
  const exits = await Promise.all(
    [first, second].map((attacker) => Promise.race([attacker.worker.exited, attacker.run('return 1;').then(() => undefined, () => attacker.worker.exited)])),
  );
  t.log(JSON.stringify(exits.map((exit) => exit?.code ?? 'alive')));
  const dead = exits.filter((exit) => exit !== undefined);
  t.true(dead.length >= 1, 'one of the workers was killed');
  for (const exit of dead) t.is(exit!.code, 128 + 9, 'by SIGKILL, from the OOM killer');
  const peak = ['memory.max_usage_in_bytes', 'memory.peak'].map((f) => path.join(hostMemoryCgroup, f)).find((f) => fs.existsSync(f));
  if (peak) t.true(Number(fs.readFileSync(peak, 'utf8')) <= budget, 'the workers together never held more than the budget');
  const fresh = await startAttacker(t, host);
  t.is((await fresh.run('return 1;')).value, 1, 'the host starts fresh workers');
});
