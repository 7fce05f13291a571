/**
 * A launcher started by the addon (src/sandbox/launcherProcess.ts): what WorkerProcess relies on
 * from node's ChildProcess holds for it. Real processes.
 */
import test from 'ava';
import fs from 'node:fs';
import { SpawnedLauncher, runToEnd } from '../../src/sandbox/launcherProcess.js';
import { loadAddon } from '../../src/shared/addon.js';

const addon = loadAddon();

/** Runs `script` under /bin/sh as the launcher would be run, fd 3 a pipe of the test's; resolves with what it wrote and how it ended. */
async function run(script: string, onStart?: (child: SpawnedLauncher) => void) {
  const [channelRead, channelWrite] = addon.pipe();
  const child = new SpawnedLauncher(addon, '/bin/sh', ['-c', script], '/tmp', channelWrite);
  fs.closeSync(channelWrite);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  onStart?.(child);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  const fd3 = fs.readFileSync(channelRead, 'utf8');
  fs.closeSync(channelRead);
  return { child, code, signal, stdout, stderr, fd3 };
}

test('its stdout, stderr and fd 3 reach the caller; close comes with the exit code, after the pipes', async (t) => {
  const r = await run('echo out; echo err >&2; echo three >&3; exit 3');
  t.deepEqual([r.code, r.signal], [3, null]);
  t.is(r.child.exitCode, 3);
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  t.is(r.fd3, 'three\n');
});

test('it runs in cwd with an empty environment, stdin /dev/null, its own session, and no signal ignored or blocked', async (t) => {
  // node ignores SIGPIPE: a child must not inherit that.
  const r = await run('pwd; env | wc -l; readlink /proc/self/fd/0; grep -E "^(SigIgn|SigBlk)" /proc/self/status; cut -d" " -f6 /proc/self/stat');
  const [cwd, envCount, stdin, sigBlk, sigIgn, session] = r.stdout.trim().split('\n');
  t.is(cwd, '/tmp');
  // sh itself sets PWD (and maybe OLDPWD, SHLVL): nothing of the host's.
  t.true(Number(envCount) <= 3, r.stdout);
  t.is(stdin, '/dev/null');
  // Signals 1–31 (SIGPIPE among them) at their defaults; 32 and 33 are glibc's own, which
  // posix_spawn leaves alone and every glibc program (the launcher, node) installs at its start.
  const standard = (line: string): bigint => BigInt(`0x${line.split(/\s+/)[1]}`) & 0x7fff_ffffn;
  t.is(standard(sigIgn!), 0n, sigIgn);
  t.is(standard(sigBlk!), 0n, sigBlk);
  t.not(Number(session), Number(fs.readFileSync('/proc/self/stat', 'utf8').split(' ')[5]), 'a session of its own');
});

test('kill() ends it with the signal; once it has exited, kill() reaches nothing', async (t) => {
  const r = await run('echo up; exec sleep 60', (child) => child.stdout.once('data', () => t.true(child.kill('SIGTERM'))));
  t.deepEqual([r.code, r.signal], [null, 'SIGTERM']);
  t.is(r.child.signalCode, 'SIGTERM');
  t.false(r.child.kill('SIGKILL'), 'no process to signal: its pid was reaped only once the exit was known');
});

test('a file that cannot be run is an error with its errno name, and leaves no fd open', async (t) => {
  const [channelRead, channelWrite] = addon.pipe();
  const before = fs.readdirSync('/proc/self/fd').length;
  const error = t.throws(() => new SpawnedLauncher(addon, '/nonexistent/launcher', [], '/tmp', channelWrite));
  t.is((error as NodeJS.ErrnoException).code, 'ENOENT');
  t.is(fs.readdirSync('/proc/self/fd').length, before);
  fs.closeSync(channelRead);
  fs.closeSync(channelWrite);
});

test('runToEnd collects the output and the verdict, kills what passes its time, and without the addon goes through node', async (t) => {
  const ok = await runToEnd(addon, '/bin/sh', ['-c', 'echo fine; echo note >&2'], { cwd: '/tmp', timeoutMs: 10_000 });
  t.deepEqual(ok, { ok: true, stdout: 'fine\n', stderr: 'note\n' });
  const failed = await runToEnd(addon, '/bin/sh', ['-c', 'exit 4'], { cwd: '/tmp', timeoutMs: 10_000 });
  t.false(failed.ok);
  t.regex(failed.stderr, /exited with 4/);
  const stuck = await runToEnd(addon, '/bin/sh', ['-c', 'exec sleep 60'], { cwd: '/tmp', timeoutMs: 200 });
  t.false(stuck.ok);
  t.regex(stuck.stderr, /SIGKILL/);
  const viaNode = await runToEnd(undefined, '/bin/sh', ['-c', 'echo fine'], { cwd: '/tmp', timeoutMs: 10_000 });
  t.deepEqual(viaNode, { ok: true, stdout: 'fine\n', stderr: '' });
});
