/** The security status, checked by the real launcher, matches what the kernel offers. */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { checkSecurity, enforceSecurity } from '../../src/sandbox/security.js';
import { loadAddon } from '../../src/shared/addon.js';
import { SandboxUnavailableError } from '../../src/errors.js';
import { hostCgroupsLeft, tempCacheDir } from '../helpers/host.js';
import { packagePaths } from '../../src/sandbox/paths.js';

const exec = promisify(execFile);
const fixture = path.resolve('test/fixtures/host-probe.mjs');

/**
 * The cgroup layer where it can be told from outside: cgroup v1 with writable memory and pids
 * hierarchies (root) has it, v1 without root has not. On cgroup v2 it depends on delegation,
 * which test/sandbox/cgroup.test.ts covers: undefined here.
 */
function cgroupOffered(): boolean | undefined {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const v1 = /- cgroup cgroup \S*\bmemory\b/.test(mounts) && /- cgroup cgroup \S*\bpids\b/.test(mounts);
  if (!v1) return undefined;
  const writable = !/ \/sys\/fs\/cgroup\/memory ro[, ]/.test(mounts);
  return process.getuid!() === 0 && writable;
}

function kernelOffers(): Record<string, boolean | undefined> {
  const maxUserNamespaces = Number(fs.readFileSync('/proc/sys/user/max_user_namespaces', 'utf8'));
  const apparmorRestrict = fs.existsSync('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')
    ? fs.readFileSync('/proc/sys/kernel/apparmor_restrict_unprivileged_userns', 'utf8').trim() === '1'
    : false;
  const userns = maxUserNamespaces > 0 && (process.getuid!() === 0 || !apparmorRestrict);
  return {
    userns,
    netns: userns && fs.existsSync('/proc/self/ns/net'),
    seccomp: /^Seccomp:/m.test(fs.readFileSync('/proc/self/status', 'utf8')),
    landlock: loadAddon().attest().landlockAbi > 0,
    cgroup: cgroupOffered(),
  };
}

test('the status matches what the kernel offers', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const status = await checkSecurity(cacheDir);
  const offers = kernelOffers();
  for (const feature of status.features) {
    const offered = offers[feature.feature];
    if (offered !== undefined) t.is(feature.available, offered, `${feature.feature}: ${feature.detail}`);
    t.is(feature.fix === undefined, feature.available);
    t.is(feature.required, feature.feature !== 'cgroup');
  }
  t.is(status.layers.cgroup, status.features.find((f) => f.feature === 'cgroup')!.available);
  t.is(status.landlockAbi, Math.max(0, loadAddon().attest().landlockAbi));
  // Secure: every required layer; the cgroup is not one.
  t.is(status.secure, ['userns', 'netns', 'seccomp', 'landlock'].every((f) => offers[f]));
});

test('a missing layer stops startup with E_SANDBOX_UNAVAILABLE naming each feature and its fix', async (t) => {
  // A real missing layer: inside a user namespace whose max_user_namespaces is 0, the
  // kernel refuses nested user namespaces, as Ubuntu's AppArmor restriction or Docker's
  // seccomp profile would.
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const script = `echo 0 > /proc/sys/user/max_user_namespaces && exec "${process.execPath}" "${fixture}" "${cacheDir}"`;
  const { stdout } = await exec('unshare', ['-Ur', 'sh', '-c', script], { env: {} });
  const report = JSON.parse(stdout);
  t.is(report.error?.code, 'E_SANDBOX_UNAVAILABLE', stdout);
  t.deepEqual(report.error.details.missing, ['userns', 'netns']);
  t.regex(report.error.message, /userns: step=\w+ errno=ENOSPC/);
  t.regex(report.error.message, /fix: allow unprivileged user namespaces/);
  t.regex(report.error.message, /allowInsecure/);
  t.falsy(report.started);
  t.deepEqual(hostCgroupsLeft(cacheDir), [], 'a host that does not start leaves no cgroup');
});

test('with allowInsecure the host starts, warns once per missing feature and runs workers with what is left', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const script = `echo 0 > /proc/sys/user/max_user_namespaces && exec "${process.execPath}" "${fixture}" "${cacheDir}" --allow-insecure`;
  const { stdout } = await exec('unshare', ['-Ur', 'sh', '-c', script], { env: {} });
  const report = JSON.parse(stdout);
  t.true(report.started, stdout);
  t.false(report.status.secure);
  t.deepEqual(report.events, ['userns', 'netns']);
  t.is(report.warnings.length, 2);
  t.false(report.status.layers.userns);
  t.true(report.status.layers.landlock);
  t.true(report.status.layers.seccomp);
  // The layers that remain are still in force inside the worker.
  t.is(report.attestation.seccompMode, 2);
  t.true(report.attestation.noNewPrivs);
  t.true(report.attestation.execveBlocked);
  t.is(report.attestation.outsideProbe.result, 'EACCES', 'Landlock alone still hides /etc/passwd');
});

test('enforceSecurity returns the missing features when insecure mode is allowed, throws otherwise', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const status = await checkSecurity(cacheDir);
  const broken = {
    ...status,
    secure: false,
    features: status.features.map((f) => (f.feature === 'landlock' ? { ...f, available: false, detail: 'step=landlock errno=ENOSYS detail=x', fix: 'enable it' } : f)),
  };
  t.deepEqual(enforceSecurity(broken, true).map((f) => f.feature), ['landlock']);
  const error = t.throws(() => enforceSecurity(broken, false), { instanceOf: SandboxUnavailableError });
  t.is(error!.code, 'E_SANDBOX_UNAVAILABLE');
  t.deepEqual(error!.details.missing, ['landlock']);
});

test('a launcher without --check all still gets every layer checked, one check per feature', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  // The real launcher behind a shim that refuses `all` as a launcher built before it would:
  // every feature then comes from its own check, with the same outcome.
  const shim = path.join(cacheDir, 'old-launcher');
  fs.writeFileSync(
    shim,
    `#!/bin/sh\nif [ "$2" = all ]; then echo "step=args errno=0 detail=unknown --check feature 'all'" >&2; exit 100; fi\nexec "${packagePaths.launcher}" "$@"\n`,
    { mode: 0o755 },
  );
  const [viaShim, direct] = await Promise.all([checkSecurity(cacheDir, { launcher: shim }), checkSecurity(cacheDir)]);
  const view = (status: typeof direct) => status.features.map((f) => [f.feature, f.available, f.available ? f.detail.replace(/ v\d .*$/, '') : '']);
  t.deepEqual(view(viaShim), view(direct));
  t.deepEqual(viaShim.layers, direct.layers);
});
