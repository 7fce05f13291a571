/**
 * The core sandbox as an unprivileged user (uid/gid 65534 via setpriv): the same launcher,
 * the same layers, the same refusals. Skipped, with the reason in its title, when the kernel
 * refuses that user a user namespace.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { attackerEntry } from '../helpers/attacker.js';

const exec = promisify(execFile);
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const root = path.resolve('.');

function unprivilegedUsernsRefusal(): string | undefined {
  if (process.getuid!() !== 0) return 'the tests do not run as root, so they cannot switch to uid 65534';
  try {
    execFileSync('setpriv', [...NOBODY, 'unshare', '-Ur', 'true'], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return `the kernel refuses uid 65534 a user namespace: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
}

/** The package as uid 65534 can read it: this checkout if it can, else a copy. */
function readablePackage(): string {
  try {
    execFileSync('setpriv', [...NOBODY, process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(path.join(root, 'dist/index.js'))}, 4)`], { stdio: 'pipe' });
    return root;
  } catch {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-nobody-pkg-'));
    const parts = ['package.json', 'dist', 'build/Release/launcher', 'build/Release/warden_addon.node', 'build/Release/warden_attack.node', 'build/test'];
    for (const part of [...parts, 'node_modules', 'test/fixtures']) {
      fs.cpSync(path.join(root, part), path.join(copy, part), { recursive: true });
    }
    fs.chmodSync(copy, 0o755);
    return copy;
  }
}

const refusal = unprivilegedUsernsRefusal();
const maybe = refusal ? test.skip : test;

// The attacker bundle the copy needs: built before the package is copied for uid 65534.
test.before(async () => {
  await attackerEntry('attacker-worker');
});

maybe(`as uid 65534 the sandbox is complete and every probe is refused${refusal ? ` (skipped: ${refusal})` : ''}`, async (t) => {
  const pkg = readablePackage();
  t.teardown(() => {
    if (pkg !== root) fs.rmSync(pkg, { recursive: true, force: true });
  });
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-nobody-cache-'));
  fs.chownSync(cacheDir, 65534, 65534);
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const bomb = path.join(pkg, 'build/test/attacker-worker.cjs');
  const args = [path.join(pkg, 'test/fixtures/host-probe.mjs'), cacheDir, '--probes', '--thread-bomb', bomb];
  const { stdout } = await exec('setpriv', [...NOBODY, process.execPath, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    cwd: cacheDir,
  });
  const report = JSON.parse(stdout);
  t.true(report.started, stdout);
  t.true(report.status.secure, JSON.stringify(report.status.features));
  const a = report.attestation;
  t.is(a.uid, 65534);
  t.is(a.seccompMode, 2);
  t.true(a.noNewPrivs);
  t.is(a.pid, 1);
  t.is(a.outsideProbe.result, 'ENOENT');
  const p = report.probes;
  t.false(p.readPasswd.ok);
  t.false(p.listCacheDir.ok);
  t.false(p.writeWorkerDir.ok);
  t.true(p.writeTmpArtifact.ok);
  t.false(p.createInPrepareDir.ok);
  t.is(p.socketInet.code, 'EAFNOSUPPORT');
  t.is(p.socketNetlink.code, 'EAFNOSUPPORT');
  t.is(p.execve.code, 'EPERM');
  t.is(p.fork.code, 'EPERM');
  t.is(p.env.detail, '{}');
  t.false(p.killHost.ok);
  t.deepEqual(fs.readdirSync(cacheDir).filter((n) => n.startsWith('worker-dir-')), []);
  // No cgroup for uid 65534 here: a warning, not an insecure sandbox; RLIMIT_NPROC in the
  // worker's user namespace still bounds a native thread bomb.
  const cgroup = report.status.features.find((f: { feature: string }) => f.feature === 'cgroup');
  t.false(cgroup.available, cgroup.detail);
  t.false(report.status.layers.cgroup);
  t.is(report.degraded.length, 1);
  const bombed = JSON.parse(report.threadBomb.detail) as { created: number; errno: string };
  t.is(bombed.errno, 'EAGAIN', report.threadBomb.detail);
  t.true(bombed.created < report.threadBomb.threads, `${bombed.created} threads`);
});
