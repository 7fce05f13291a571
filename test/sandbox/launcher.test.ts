/** The real launcher fails at the right step, with the machine-readable line and the step's exit code. */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { LauncherError } from '../../src/errors.js';
import { WorkerProcess } from '../../src/actors/workerProcess.js';
import { LAUNCHER_STEP_EXIT } from '../../src/sandbox/launcher.js';
import { packagePaths } from '../../src/sandbox/paths.js';
import { checkSecurity } from '../../src/sandbox/security.js';
import { tempCacheDir } from '../helpers/host.js';

function runLauncher(args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(packagePaths.launcher, args, { cwd, env: {}, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('a missing worker dir fails at step rootfs with ENOENT', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const status = await checkSecurity(cacheDir);
  const error = await t.throwsAsync(
    WorkerProcess.spawn({
      info: {
        kind: 'execute',
        id: 'missing-dir',
        dir: '/worker',
        limits: { dataBytes: 1 << 30, fileBytes: 1 << 20, openFiles: 64, threads: 64, nice: 0, jobHeapMb: 64, jobStackMb: 1 },
        layers: status.layers,
      },
      hostDir: path.join(cacheDir, 'worker-dir-execute-does-not-exist'),
      cwd: cacheDir,
    }),
    { instanceOf: LauncherError },
  );
  t.is(error!.code, 'E_LAUNCHER');
  t.is(error!.step, 'rootfs');
  t.is(error!.errno, 'ENOENT');
  t.is(error!.details.exitCode, LAUNCHER_STEP_EXIT.rootfs);
});

test('bad arguments fail at step args before any work', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const cases: string[][] = [
    [],
    ['--kind', 'execute', '--', process.execPath],
    ['--worker-dir', cacheDir, '--kind', 'compile', '--', process.execPath],
    ['--worker-dir', cacheDir, '--kind', 'execute', '--rlimit-data', 'lots', '--', process.execPath],
    ['--worker-dir', cacheDir, '--kind', 'execute', '--ro-bind', '/usr', 'relative', '--', process.execPath],
    ['--check', 'telepathy'],
    ['--check', 'all', '--cgroup', `${cacheDir}/cg`],
    ['--worker-dir', cacheDir, '--kind', 'execute', '--cgroup', 'relative/dir', '--cgroup-memory', '1', '--cgroup-pids', '1', '--', process.execPath],
    ['--worker-dir', cacheDir, '--kind', 'execute', '--cgroup-memory', '1048576', '--', process.execPath],
    ['--worker-dir', cacheDir, '--kind', 'execute', '--cgroup', `${cacheDir}/cg`, '--', process.execPath],
    ['--worker-dir', cacheDir, '--kind', 'execute', '--rlimit-nproc', '0', '--', process.execPath],
    ['--check', 'cgroup'],
    ['--check', 'cgroup', '--cgroup', `${cacheDir}/cg`, '--bogus'],
  ];
  for (const args of cases) {
    const { code, stderr } = await runLauncher(args, cacheDir);
    t.is(code, LAUNCHER_STEP_EXIT.args!, args.join(' '));
    t.regex(stderr.trim(), /^step=args errno=\S+ detail=.+$/, args.join(' '));
  }
});

test('fd 3 that is not a socket fails at step fds', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const file = fs.openSync(path.join(cacheDir, 'not-a-socket'), 'w');
  t.teardown(() => fs.closeSync(file));
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(packagePaths.launcher, ['--worker-dir', cacheDir, '--kind', 'execute', '--', process.execPath, '-e', '0'], {
      cwd: cacheDir,
      env: {},
      stdio: ['ignore', 'ignore', 'pipe', file],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  t.is(result.code, LAUNCHER_STEP_EXIT.fds!);
  t.regex(result.stderr, /^step=fds errno=\S+ detail=/m);
});

test('a cgroup that already exists, or a dir that is no cgroup, fails at step cgroup before any namespace', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const limits = ['--cgroup-memory', String(64 << 20), '--cgroup-pids', '8'];
  const run = (dir: string) => runLauncher(['--worker-dir', cacheDir, '--kind', 'execute', '--cgroup', dir, ...limits, '--', process.execPath, '-e', '0'], cacheDir);
  // Joining a cgroup someone else made could mean joining another worker's.
  const existing = await run(cacheDir);
  t.is(existing.code, LAUNCHER_STEP_EXIT.cgroup!);
  t.regex(existing.stderr, /^step=cgroup errno=EEXIST detail=mkdir /m);
  const plain = await run(path.join(cacheDir, 'plain-dir'));
  t.is(plain.code, LAUNCHER_STEP_EXIT.cgroup!);
  t.regex(plain.stderr, /^step=cgroup errno=ENOENT detail=no memory controller/m);
});

test('every check mode passes on this machine and prints its facts', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const expected: Record<string, RegExp> = {
    landlock: /^abi=\d+ enforced=1$/,
    userns: /^(timens=1 )?userns=1 pivot_root=1$/,
    seccomp: /^seccomp=1$/,
    netns: /^netns=1$/,
  };
  for (const [feature, pattern] of Object.entries(expected)) {
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(packagePaths.launcher, ['--check', feature], { cwd: cacheDir, env: {}, stdio: ['ignore', 'pipe', 'ignore'] });
      let stdout = '';
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
      child.on('close', (code) => resolve({ code, stdout }));
    });
    t.is(out.code, 0, feature);
    t.regex(out.stdout.trim(), pattern, feature);
  }
});

test('--check all reports every confinement probe in one run, with the facts of each check mode', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(packagePaths.launcher, args, { cwd: cacheDir, env: {}, stdio: ['ignore', 'pipe', 'ignore'] });
      let stdout = '';
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
      child.on('close', (code) => resolve({ code, stdout }));
    });
  const all = await run(['--check', 'all']);
  t.is(all.code, 0);
  const lines = all.stdout.trim().split('\n');
  t.deepEqual(lines.map((line) => line.split(' ')[0]), ['userns', 'netns', 'seccomp', 'landlock']);
  for (const line of lines) {
    const [feature, verdict, ...facts] = line.split(' ');
    const alone = await run(['--check', feature!]);
    t.is(verdict, alone.code === 0 ? 'ok' : 'fail', line);
    if (alone.code === 0) t.is(facts.join(' '), alone.stdout.trim(), line);
  }
});
