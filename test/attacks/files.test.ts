/**
 * Escape corpus, files: an attacker with code execution inside a worker (the attacker
 * fixture, same launcher and lockdown as a real worker) tries to read or change what it must
 * not. Each test asserts the attack fails and with which errno; the comment names the layer.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';

const readFile = (target: string) => `return ctx.fs.readFileSync(${JSON.stringify(target)}, 'utf8');`;
const readDir = (target: string) => `return ctx.fs.readdirSync(${JSON.stringify(target)});`;

for (const [title, body, code] of [
  // Mount namespace + new root: /etc does not exist in the worker's tmpfs root.
  ['read /etc/shadow', readFile('/etc/shadow'), 'ENOENT'],
  // Mount namespace + new root: no /root.
  ['list /root', readDir('/root'), 'ENOENT'],
  // Mount namespace + new root: no /home.
  ['list /home', readDir('/home'), 'ENOENT'],
  // Mount namespace + new root: no /proc is mounted, so no /proc/self/* information leak.
  ['read /proc/self/status', readFile('/proc/self/status'), 'ENOENT'],
  // Mount namespace + new root: no /proc, so no /proc/1/root path back to a host root.
  ['list /proc/1/root', readDir('/proc/1/root'), 'ENOENT'],
  // Mount namespace + new root: no /proc/self/fd to reopen fds through.
  ['list /proc/self/fd', readDir('/proc/self/fd'), 'ENOENT'],
  // pivot_root + old root detached: `..` from /worker stops at the new root.
  ['climb out of /worker with ..', readFile('/worker/../../../etc/passwd'), 'ENOENT'],
  // Landlock: no read right on / itself, so the root cannot even be listed.
  ['list the root /', readDir('/'), 'EACCES'],
  // Landlock: only the four device files have rules, /dev itself cannot be listed.
  ['list /dev', readDir('/dev'), 'EACCES'],
] as const) {
  test.serial(`files: ${title} fails with ${code}`, async (t) => {
    const { host } = await startHost(t);
    const attacker = await startAttacker(t, host);
    const r = await attacker.run(body);
    t.false(r.ok, JSON.stringify(r));
    t.is(r.code, code);
  });
}

test.serial('files: read the host cache dir and an artifact in it fails with ENOENT', async (t) => {
  // Mount namespace + new root: the cache dir is not bound into the sandbox.
  const { host, cacheDir } = await startHost(t);
  const secret = path.join(cacheDir, 'artifact-secret');
  fs.writeFileSync(secret, 'another tenant');
  const attacker = await startAttacker(t, host);
  for (const body of [readDir(cacheDir), readFile(secret), readDir(host.options.cacheDir)]) {
    const r = await attacker.run(body);
    t.false(r.ok);
    t.is(r.code, 'ENOENT', body);
  }
});

test.serial("files: read another worker's dir fails with ENOENT", async (t) => {
  // Mount namespace + new root: only the worker's own dir is bound, at /worker.
  const { host } = await startHost(t);
  const other = await host.spawnWorker('prepare');
  fs.writeFileSync(path.join(other.hostDir, 'tmp-artifact'), 'other worker output');
  const attacker = await startAttacker(t, host);
  for (const body of [readDir(other.hostDir), readFile(path.join(other.hostDir, 'tmp-artifact'))]) {
    const r = await attacker.run(body);
    t.false(r.ok);
    t.is(r.code, 'ENOENT', body);
  }
});

test.serial('files: read the host checkout by its host path fails with ENOENT', async (t) => {
  // Mount namespace + new root: host paths (the cwd of the test) do not exist inside.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(readFile(path.join(process.cwd(), 'package.json.does-not-matter')));
  t.false(r.ok);
  t.is(r.code, 'ENOENT');
  const listed = await attacker.run(readDir(process.cwd()));
  t.false(listed.ok);
  t.true(['ENOENT', 'EACCES'].includes(listed.code!), listed.code);
});

test.serial('files: plant a symlink in /worker fails with EROFS', async (t) => {
  // Read-only worker dir (bind mounted read-only).
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run("ctx.fs.symlinkSync('/etc/passwd', '/worker/artifact'); return 1;");
  t.false(r.ok);
  t.is(r.code, 'EROFS');
});

test.serial('files: plant a hard link in /worker fails with EROFS', async (t) => {
  // Read-only worker dir.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run("ctx.fs.linkSync('/dev/null', '/worker/artifact'); return 1;");
  t.false(r.ok);
  t.is(r.code, 'EROFS');
});

test.serial('files: write outside /worker (/, a new dir, /dev) fails with EROFS', async (t) => {
  // tmpfs root remounted read-only after pivot_root.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  for (const body of [
    "ctx.fs.writeFileSync('/evil', 'x'); return 1;",
    // A new name: /tmp may exist inside (as a parent of the runtime binds when the package
    // lives under /tmp), and mkdir of an existing dir answers EEXIST before EROFS.
    "ctx.fs.mkdirSync('/warden-escape-dir'); return 1;",
    "ctx.fs.writeFileSync('/dev/shm', 'x'); return 1;",
  ]) {
    const r = await attacker.run(body);
    t.false(r.ok, body);
    t.is(r.code, 'EROFS', body);
  }
});

test.serial('files: write to /dev/zero fails with EACCES', async (t) => {
  // Landlock: /dev/zero is read-only (only /dev/null is writable).
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run("ctx.fs.writeFileSync('/dev/zero', 'x'); return 1;");
  t.false(r.ok);
  t.is(r.code, 'EACCES');
});

test.serial('files: tamper with the runtime (node binary, worker code) fails', async (t) => {
  // Read-only binds of the runtime (and Landlock grants read/execute only on them).
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  // The worker's code (its bundles, the job thread's loader and code cache, the addon), shared
  // by every worker: read-only binds (EROFS). A writable code cache would be code injection.
  const files = ['dist/worker/jobThread.cjs', 'dist/worker/jobThread.body.cjs', 'dist/worker/jobThread.cache', 'dist/worker/probes.cjs', 'build/Release/warden_addon.node'];
  for (const target of ['process.argv[1]', ...files.map((file) => JSON.stringify(`/warden/${file}`))]) {
    const r = await attacker.run(`ctx.fs.appendFileSync(${target}, '// evil'); return 1;`);
    t.false(r.ok, target);
    t.true(['EROFS', 'EACCES'].includes(r.code!), `${target}: ${r.code}`);
  }
  // The running node binary: the kernel refuses to open an executing file for writing
  // (ETXTBSY) before the read-only bind would (EROFS).
  const binary = await attacker.run("ctx.fs.appendFileSync(process.execPath, '// evil'); return 1;");
  t.false(binary.ok);
  t.true(['ETXTBSY', 'EROFS', 'EACCES'].includes(binary.code!), binary.code);
});

test.serial('files: an execute worker cannot create, chmod or remove anything in /worker (EROFS)', async (t) => {
  // Read-only worker dir.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  for (const body of [
    "ctx.fs.writeFileSync('/worker/new', 'x'); return 1;",
    "ctx.fs.writeFileSync('/worker/tmp-artifact', 'x'); return 1;",
    "ctx.fs.mkdirSync('/worker/d'); return 1;",
    "ctx.fs.chmodSync('/worker', 0o777); return 1;",
  ]) {
    const r = await attacker.run(body);
    t.false(r.ok, body);
    t.is(r.code, 'EROFS', body);
  }
  t.deepEqual(fs.readdirSync(attacker.worker.hostDir), []);
});

test.serial('files: a prepare worker writes tmp-artifact but nothing else (EROFS)', async (t) => {
  // Read-only worker dir, with tmp-artifact alone bound writable over it (and Landlock write+truncate on it only).
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host, 'prepare');
  const allowed = await attacker.run("ctx.fs.writeFileSync('/worker/tmp-artifact', 'mine'); return ctx.fs.readFileSync('/worker/tmp-artifact', 'utf8');");
  t.deepEqual(allowed.value, 'mine', 'the one writable path works');
  for (const body of [
    "ctx.fs.writeFileSync('/worker/other', 'x'); return 1;",
    "ctx.fs.symlinkSync('/etc', '/worker/link'); return 1;",
    "ctx.fs.unlinkSync('/worker/tmp-artifact'); return 1;",
    "ctx.fs.renameSync('/worker/tmp-artifact', '/worker/x'); return 1;",
    "ctx.fs.mkdirSync('/worker/d'); return 1;",
  ]) {
    const r = await attacker.run(body);
    t.false(r.ok, body);
    t.is(r.code, 'EROFS', body);
  }
  t.deepEqual(fs.readdirSync(attacker.worker.hostDir), ['tmp-artifact']);
  t.is(fs.readFileSync(path.join(attacker.worker.hostDir, 'tmp-artifact'), 'utf8'), 'mine');
});
