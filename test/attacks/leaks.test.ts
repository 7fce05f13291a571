/**
 * Escape corpus, leaks: what a worker could learn of the host and of other tenants without
 * reading a file it should not: the mount table, the host's memory, load and uptime, the
 * cache's bookkeeping on a shared artifact inode, and where the package is installed.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import { startHost } from '../helpers/host.js';
import { ATTACK_MARKER, ON_REPLY, startAttacker, startAttackerPool } from '../helpers/attacker.js';
import { MOUNT_ROOTS } from '../helpers/nativeAttacks.js';
import { hello, text } from '../helpers/scheduler.js';
import { PACKAGE_ROOT } from '../../src/sandbox/paths.js';

test.serial('leaks: listmount and statmount fail with EPERM (the mount table names the cache dir)', async (t) => {
  // seccomp (launcher): a bind mount's root is its source's path on the host.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(MOUNT_ROOTS);
  t.true(r.ok, JSON.stringify(r));
  t.deepEqual(r.value, { errno: 'EPERM', roots: [] });
  const statmount = await attacker.run('const n = ctx.native; return n.syscall(n.nr.statmount, Buffer.alloc(32), Buffer.alloc(4096), 4096, 0).errno;');
  t.is(statmount.value, 'EPERM');
});

test.serial("leaks: sysinfo fails with EPERM; os.totalmem(), os.freemem() and os.loadavg() tell nothing of the host", async (t) => {
  // seccomp (launcher): sysinfo is node's only way to the host's memory and load without /proc.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(`
    const os = require('node:os');
    const n = ctx.native;
    return { sysinfo: n.syscall(n.nr.sysinfo, Buffer.alloc(256)).errno, total: os.totalmem(), free: os.freemem(), load: os.loadavg() };`);
  t.deepEqual(r.value, { sysinfo: 'EPERM', total: 0, free: 0, load: [0, 0, 0] });
  t.true(os.totalmem() > 0, "the host's own view is intact");
});

test.serial("leaks: the worker's uptime and monotonic clock count from its own start, not the host's (time namespace)", async (t) => {
  // Time namespace (launcher): CLOCK_BOOTTIME and CLOCK_MONOTONIC offset to start at 0.
  const { host } = await startHost(t);
  const before = performance.now();
  const attacker = await startAttacker(t, host);
  const r = await attacker.run("return { uptime: require('node:os').uptime(), monotonic: Number(process.hrtime.bigint() / 1000000n) };");
  const age = (performance.now() - before) / 1000;
  const value = r.value as { uptime: number; monotonic: number };
  t.log(`worker uptime ${value.uptime} s, monotonic ${value.monotonic} ms; host uptime ${os.uptime()} s; worker age ≤ ${age.toFixed(1)} s`);
  // The offsets are whole seconds (the kernel refuses a clock made negative): up to 1 s more.
  t.true(value.uptime <= age + 1, "boot time: the worker's own age");
  t.true(value.monotonic / 1000 <= age + 1, "monotonic: the worker's own age");
});

test.serial("leaks: /worker/artifact is the worker's own copy: link count 1, not the cache file's inode or times", async (t) => {
  // Private copy per artifact change (host, src/sandbox/workerDir.ts): a hard link would share
  // the cache file's inode, whose link count says how many workers hold the module and whose
  // mtime is the cache's record of its last use.
  const { host } = await startAttackerPool(t, { executeWorkers: 2 });
  const artifact = await host.prepare(hello.wasm);
  // Both workers run the module, so both dirs hold it.
  await Promise.all([1, 2, 3, 4].map(() => host.execute(artifact, hello.input)));
  const attack = `${ON_REPLY}
    const st = ctx.fs.statSync('/worker/artifact');
    onReply((header, body, n) => (n === 0 ? replyWith(header, { nlink: st.nlink, ino: st.ino, mtimeMs: st.mtimeMs }) : undefined));`;
  const result = await host.execute(artifact, Buffer.from(ATTACK_MARKER + attack));
  const seen = JSON.parse(text(result.output)) as { nlink: number; ino: number; mtimeMs: number };
  const cached = fs.statSync(host.cache.pathOf(artifact.key));
  t.is(seen.nlink, 1, 'nothing else links it');
  t.not(seen.ino, cached.ino, 'not the cache file');
  t.is(cached.nlink, 1, 'the cache file is linked from the cache alone');
});

test.serial("leaks: the package's install path is nowhere in the sandbox: only the worker's files, under /warden", async (t) => {
  // Mount namespace + new root (src/sandbox/runtime.ts): the worker's bundles and the addon are
  // bound at /warden/…, not the package's dist/ and package.json at their host paths.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(`
    const at = (path) => { try { ctx.fs.statSync(path); return 'present'; } catch (error) { return error.code; } };
    return {
      entry: process.argv[1],
      packageJson: at(${JSON.stringify(`${PACKAGE_ROOT}/package.json`)}),
      dist: at(${JSON.stringify(`${PACKAGE_ROOT}/dist`)}),
      root: at(${JSON.stringify(PACKAGE_ROOT)}),
      workerFiles: ['dist/worker/main.cjs', 'dist/worker/main.body.cjs', 'dist/worker/main.cache', 'dist/worker/jobThread.cjs', 'dist/worker/jobThread.body.cjs', 'dist/worker/jobThread.cache', 'dist/worker/probes.cjs', 'build/Release/warden_addon.node'].map((f) => at('/warden/' + f)),
      others: ['/warden/package.json', '/warden/dist/index.js', '/warden/dist/worker/main.js', '/warden/node_modules'].map(at),
    };`);
  t.deepEqual(r.value, {
    entry: '/warden/dist/worker/main.cjs',
    packageJson: 'ENOENT',
    dist: 'ENOENT',
    root: 'ENOENT',
    workerFiles: ['present', 'present', 'present', 'present', 'present', 'present', 'present', 'present'],
    others: ['ENOENT', 'ENOENT', 'ENOENT', 'ENOENT'],
  });
});
