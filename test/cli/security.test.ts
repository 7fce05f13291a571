import test from 'ava';
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tempCacheDir } from '../helpers/host.js';
import { cliPath, warden } from '../helpers/cli.js';

const exec = promisify(execFile);
const cli = cliPath;

const run = warden;

test('warden security prints a table of every feature and exits 0 when the sandbox is complete', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const { code, stdout } = await run(['security', '--cache-dir', cacheDir]);
  t.is(code, 0, stdout);
  for (const feature of ['userns', 'netns', 'seccomp', 'landlock']) t.regex(stdout, new RegExp(`^${feature}\\s+yes\\s+\\S`, 'm'));
  // The cgroup layer is optional: present or not, the sandbox is complete.
  t.regex(stdout, /^cgroup\s+(yes|no \(optional\))\s+\S/m);
  t.regex(stdout, /^feature\s+available\s+detail$/m);
  t.regex(stdout, /sandbox: complete/);
});

test('warden security --json prints the status for machines', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const { code, stdout } = await run(['security', '--json', '--cache-dir', cacheDir]);
  t.is(code, 0);
  const status = JSON.parse(stdout);
  t.true(status.secure);
  t.deepEqual(status.features.map((f: { feature: string }) => f.feature).sort(), ['cgroup', 'landlock', 'netns', 'seccomp', 'userns']);
  t.deepEqual(
    status.features.filter((f: { required: boolean }) => !f.required).map((f: { feature: string }) => f.feature),
    ['cgroup'],
  );
  t.is(typeof status.layers.cgroup, 'boolean');
  t.true(status.landlockAbi >= 1);
});

test('warden security exits 1 and names the fix when a layer is missing', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const script = `echo 0 > /proc/sys/user/max_user_namespaces && exec "${process.execPath}" "${cli}" security --cache-dir "${cacheDir}"`;
  const result = await exec('unshare', ['-Ur', 'sh', '-c', script]).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
  t.is(result.code, 1);
  t.regex(result.stdout, /^userns\s+NO\s+step=/m);
  t.regex(result.stdout, /fix for userns: allow unprivileged user namespaces/);
  t.regex(result.stdout, /sandbox: INCOMPLETE/);
});

test('help, version and unknown commands', async (t) => {
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Usage: warden <command>/);
  t.regex(help.stdout, /security/);
  const securityHelp = await run(['security', '--help']);
  t.is(securityHelp.code, 0);
  t.regex(securityHelp.stdout, /--json/);
  const version = await run(['--version']);
  t.regex(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
  const unknown = await run(['frobnicate']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown command "frobnicate"/);
  const badFlag = await run(['security', '--nope']);
  t.is(badFlag.code, 2);
  t.regex(badFlag.stderr, /nope/);
});
