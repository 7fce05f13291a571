/**
 * Escape corpus, processes: an attacker inside a worker tries to run programs, create
 * processes, signal others or read the host's environment.
 */
import test from 'ava';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { setHostEnv, startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';

test.serial('processes: child_process.spawnSync (fork bomb seed) fails with EPERM', async (t) => {
  // seccomp (addon lockdown, TSYNC): no process creation after the lockdown.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run("const out = require('child_process').spawnSync(process.execPath, ['-e', '1']); return out.error?.code ?? 'spawned';");
  t.is(r.value, 'EPERM');
});

test.serial('processes: execve fails with EPERM', async (t) => {
  // seccomp (addon lockdown): execve/execveat refused.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run('return ctx.addon.probeExecve();');
  t.is(r.value, 'EPERM');
});

test.serial('processes: a raw fork (clone without CLONE_THREAD) fails with EPERM', async (t) => {
  // seccomp (addon lockdown).
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run('return ctx.addon.probeFork();');
  t.is(r.value, 'EPERM');
});

test.serial('processes: a new thread inherits the lockdown (no spawn, no host files)', async (t) => {
  // seccomp TSYNC + Landlock + mount namespace apply to every thread, including threads created later.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(`
    const { Worker } = require('worker_threads');
    const code = "const { parentPort } = require('worker_threads'); const out = {};" +
      "try { require('fs').readFileSync('/etc/passwd'); out.read = 'read'; } catch (e) { out.read = e.code; }" +
      "const s = require('child_process').spawnSync('/bin/sh', ['-c', 'true']); out.spawn = s.error ? s.error.code : 'spawned';" +
      "parentPort.postMessage(out);";
    const worker = new Worker(code, { eval: true });
    const out = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    await worker.terminate();
    return out;`);
  t.true(r.ok, JSON.stringify(r));
  t.deepEqual(r.value, { read: 'ENOENT', spawn: 'EPERM' });
});

test.serial('processes: signalling the host and a bystander fails with ESRCH', async (t) => {
  // pid namespace: host pids do not exist inside (Landlock signal scope behind it on ABI >= 6).
  const { host } = await startHost(t);
  const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => bystander.kill('SIGKILL'));
  const attacker = await startAttacker(t, host);
  // Signal 0 for the host (existence check, harmless if the layer were missing), SIGKILL for the bystander.
  for (const [pid, signal] of [[process.pid, 0], [bystander.pid!, 'SIGKILL']] as const) {
    const r = await attacker.run(`process.kill(${pid}, ${JSON.stringify(signal)}); return 'sent';`);
    t.false(r.ok, `kill ${pid}`);
    t.is(r.code, 'ESRCH', `kill ${pid}`);
  }
  t.is(bystander.exitCode, null);
  t.is(bystander.signalCode, null);
});

test.serial('processes: kill(-1) reaches nobody (ESRCH)', async (t) => {
  // pid namespace: the worker is pid 1 and alone; kill(-1) skips the caller. Signal 0: harmless if the layer were missing.
  const { host } = await startHost(t);
  const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => bystander.kill('SIGKILL'));
  const attacker = await startAttacker(t, host);
  const r = await attacker.run("process.kill(-1, 0); return 'sent';");
  t.false(r.ok);
  t.is(r.code, 'ESRCH');
  t.is(bystander.signalCode, null);
  t.is((await attacker.run('return 1;')).value, 1, 'the worker itself is untouched');
});

test.serial("processes: reading the host's environment gives {}", async (t) => {
  // Empty environment (host spawns with env {}, launcher execve with envp {}).
  setHostEnv(t, { WARDEN_ESCAPE_SECRET: 'hunter2', AWS_SECRET_ACCESS_KEY: 'not-a-real-key' });
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run('return { env: process.env, argv: process.argv.join(" ") };');
  t.true(r.ok);
  const value = r.value as { env: Record<string, string>; argv: string };
  t.deepEqual(value.env, {});
  t.false(value.argv.includes('hunter2'));
});

test.serial("processes: without Landlock's signal scope (ABI < 6), kill(0, SIGSTOP) stays in the sandbox: the launcher's monitor runs on", async (t) => {
  // Own session (setsid in pid 1 of the worker's pid namespace): the process group the host
  // started holds the monitor alone. Landlock is turned off here, as on a kernel without its
  // signal scope, which would refuse the signal too.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host, 'execute', { layers: { landlock: false } });
  const monitor = attacker.worker.pid!;
  t.teardown(() => {
    try {
      process.kill(monitor, 'SIGCONT');
    } catch {
      // gone
    }
  });
  const r = await attacker.run("process.kill(0, 'SIGSTOP'); return 'sent';");
  t.is(r.value, 'sent');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const state = fs.readFileSync(`/proc/${monitor}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];
  t.not(state, 'T', 'the monitor is not stopped');
  t.is((await attacker.run('return 1;')).value, 1, 'the worker still answers');
  t.true((await attacker.worker.ping()) >= 0);
});
