/**
 * The cgroup layer: where a host may put its workers' cgroups (parsed from the kernel's own
 * files), the real check, the life of the cgroups (made per worker, removed on exit, stale
 * ones purged at startup, the host's removed at close) and a host without the layer.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { createHost } from '../../src/index.js';
import { findCgroupPlace, hostCgroupName } from '../../src/sandbox/cgroup.js';
import { startHost, tempCacheDir, waitFor } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';

const V1_MOUNTS = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const V2_MOUNT = '30 22 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n';

/** A fake cgroup v2 tree for `findCgroupPlace`'s reads: file → its words. */
function tree(files: Record<string, string>): (file: string) => string[] {
  return (file) => (files[file] ?? '').split(/\s+/).filter(Boolean);
}

test('place: cgroup v1 with memory and pids hierarchies (the hybrid layout): under the host\'s cgroup in each', (t) => {
  const place = findCgroupPlace('8:pids:/\n4:memory:/process_api/abc\n0::/\n', V1_MOUNTS);
  t.deepEqual(place, { version: 1, parents: ['/sys/fs/cgroup/memory/process_api/abc', '/sys/fs/cgroup/pids'] });
});

test('place: a v1 mount that shows a sub-tree (a container) maps the host\'s cgroup path under its root', (t) => {
  const mounts = '34 30 0:31 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n38 30 0:35 /docker/c1 /sys/fs/cgroup/pid\\040s rw - cgroup cgroup rw,pids\n';
  const place = findCgroupPlace('8:pids:/docker/c1/app\n4:memory:/docker/c1\n', mounts);
  t.deepEqual(place, { version: 1, parents: ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/pid s/app'] });
});

test('place: cgroup v2 in a delegated subtree (the host in a leaf): under the parent of its cgroup', (t) => {
  const files = { '/sys/fs/cgroup/cgroup.controllers': 'cpu io memory pids', '/sys/fs/cgroup/app.service/cgroup.subtree_control': 'memory pids' };
  const place = findCgroupPlace('0::/app.service/host\n', V2_MOUNT, tree(files));
  t.deepEqual(place, { version: 2, parents: ['/sys/fs/cgroup/app.service'] });
});

test('place: cgroup v2 whose parent delegates nothing is refused, with the reason and the fix', (t) => {
  const files = { '/sys/fs/cgroup/cgroup.controllers': 'cpu io memory pids', '/sys/fs/cgroup/user.slice/cgroup.subtree_control': 'cpu' };
  const place = findCgroupPlace('0::/user.slice/session-1.scope\n', V2_MOUNT, tree(files));
  t.false('version' in place);
  t.regex((place as { reason: string }).reason, /does not delegate memory and pids/);
  t.regex((place as { fix: string }).fix, /Delegate=yes/);
});

test('place: cgroup v2 in the root cgroup: under the root itself', (t) => {
  const place = findCgroupPlace('0::/\n', V2_MOUNT, tree({ '/sys/fs/cgroup/cgroup.controllers': 'memory pids' }));
  t.deepEqual(place, { version: 2, parents: ['/sys/fs/cgroup'] });
});

test('place: cgroup v2 without the controllers (bound to v1) and no v1 hierarchy for them', (t) => {
  const place = findCgroupPlace('0::/\n', V2_MOUNT, tree({ '/sys/fs/cgroup/cgroup.controllers': 'hugetlb' }));
  t.regex((place as { reason: string }).reason, /without the memory and pids controller/);
});

/** Whether this machine should give the layer to this test process: root, v1 memory and pids mounted. */
function rootOnV1(): boolean {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return process.getuid!() === 0 && /- cgroup cgroup \S*\bmemory\b/.test(mounts) && /- cgroup cgroup \S*\bpids\b/.test(mounts);
}

test.serial('a worker runs in cgroups of its own under the host\'s, limited to dataBytes and threads + 1 tasks; they go when it exits, the host\'s at close', async (t) => {
  const { host, cacheDir } = await startHost(t, { limits: { dataBytes: 512 * 1024 * 1024, threads: 32 } });
  const cgroup = host.securityStatus.features.find((f) => f.feature === 'cgroup')!;
  if (!rootOnV1() && !cgroup.available) {
    t.log(`no cgroup here: ${cgroup.detail}`);
    t.false(host.securityStatus.layers.cgroup);
    return;
  }
  t.true(cgroup.available, cgroup.detail);
  t.false(cgroup.required);
  t.true(host.securityStatus.secure);
  const attacker = await startAttacker(t, host);
  const dirs = host.workerCgroup(attacker.worker.hostDir)!.dirs;
  const own = fs.readFileSync(`/proc/${attacker.worker.sandboxPid}/cgroup`, 'utf8');
  for (const dir of dirs) {
    t.true(fs.existsSync(dir), dir);
    t.true(own.includes(path.basename(dir)), `node is in ${dir}`);
    const read = (file: string): string | undefined => (fs.existsSync(path.join(dir, file)) ? fs.readFileSync(path.join(dir, file), 'utf8').trim() : undefined);
    const memory = read('memory.limit_in_bytes') ?? read('memory.max');
    if (memory !== undefined) t.is(Number(memory), 512 * 1024 * 1024);
    const pids = read('pids.max');
    if (pids !== undefined) t.is(Number(pids), 33);
  }
  await attacker.worker.kill();
  for (const dir of dirs) t.false(fs.existsSync(dir), `${dir} removed once the worker exited`);
  const hostDirs = dirs.map((dir) => path.dirname(dir));
  t.true(hostDirs.every((dir) => path.basename(dir) === hostCgroupName(cacheDir)));
  await host.close();
  for (const dir of hostDirs) t.false(fs.existsSync(dir), `${dir} removed at close`);
});

test.serial('stale worker cgroups of a host that did not close are purged at the next startup', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const first = await createHost({ cacheDir, executeWorkers: 1 });
  if (!first.securityStatus.layers.cgroup) {
    await first.close();
    t.log('no cgroup here');
    t.pass();
    return;
  }
  // What a crashed host leaves: its cgroup, with a worker's in it.
  const stale = first.workerCgroup(path.join(cacheDir, 'worker-dir-execute-stale'))!.dirs;
  for (const dir of stale) fs.mkdirSync(dir);
  await first.close();
  t.true(stale.every((dir) => fs.existsSync(dir)), 'a cgroup the host did not make outlives it');
  const second = await createHost({ cacheDir, executeWorkers: 1 });
  t.teardown(() => second.close());
  for (const dir of stale) t.false(fs.existsSync(dir), `${dir} purged`);
  t.true(stale.every((dir) => fs.existsSync(path.dirname(dir))), 'the host cgroup itself is in use again');
});

test.serial('cgroups: false turns the layer off: reported, warned about once, not required; workers run with every other layer', async (t) => {
  const warnings: string[] = [];
  const onWarning = (warning: Error & { code?: string }): void => {
    if (warning.code === 'WARDEN_DEGRADED') warnings.push(warning.message);
  };
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const { host } = await startHost(t, { cgroups: false });
  const events: string[] = [];
  host.on('security:warning', (f) => events.push(f.feature));
  await waitFor(() => events.length + warnings.length, (n) => n >= 2);
  const feature = host.securityStatus.features.find((f) => f.feature === 'cgroup')!;
  t.false(feature.available);
  t.regex(feature.detail, /turned off/);
  t.truthy(feature.fix);
  t.true(host.securityStatus.secure, 'a missing cgroup is a warning, not an insecure sandbox');
  t.false(host.securityStatus.layers.cgroup);
  t.deepEqual(events, ['cgroup']);
  t.is(warnings.length, 1);
  t.is(host.workerCgroup('/x/worker-dir-execute-1'), undefined);
  const attacker = await startAttacker(t, host);
  const a = attacker.worker.attestation!;
  t.is(a.seccompMode, 2);
  t.is(a.pid, 1);
  t.true(a.execveBlocked);
  t.is(fs.readFileSync(`/proc/${attacker.worker.sandboxPid}/cgroup`, 'utf8').includes('worker-dir-'), false, 'in no worker cgroup');
  t.is((await attacker.run('return 6 * 7;')).value, 42);
});
