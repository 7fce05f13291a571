/**
 * Escape corpus, machine-wide quotas (with native code in the worker): kernel allowances that
 * are counted per user across every user namespace, or for the whole machine, so that one
 * worker using them up fails the host or unrelated processes. Each is refused by the seccomp
 * filter, or bounded per worker by an rlimit, and the host's own call still works afterwards.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';
import { PACKAGE_ROOT } from '../../src/sandbox/paths.js';

interface Native {
  syscall(nr: number, ...args: unknown[]): { ret: number; errno: string };
  nr: Record<string, number>;
}

/** The attack's native fixture in the test process itself: the host's point of view. */
function hostNative(): Native {
  const module = { exports: {} as Native };
  process.dlopen(module, path.join(PACKAGE_ROOT, 'build', 'Release', 'warden_attack.node'));
  return module.exports;
}

test.serial("quotas: io_setup fails with EPERM, and the host's own io_setup still works (fs.aio-max-nr)", async (t) => {
  // seccomp (launcher): io_setup and io_submit refused; fs.aio-max-nr is one count for the machine.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(`
    const n = ctx.native;
    let contexts = 0, errno = 'OK';
    for (; contexts < 4096; contexts++) {
      const r = n.syscall(n.nr.io_setup, 4096, Buffer.alloc(8));
      if (r.errno !== 'OK') { errno = r.errno; break; }
    }
    return { contexts, errno };`, 60_000);
  t.deepEqual(r.value, { contexts: 0, errno: 'EPERM' });
  const native = hostNative();
  const ctxp = Buffer.alloc(8);
  const own = native.syscall(native.nr.io_setup!, 128, ctxp);
  t.is(own.errno, 'OK', "the host's io_setup");
  native.syscall(native.nr.io_destroy!, ctxp.readBigUInt64LE(0));
});

test.serial("quotas: inotify_init1 and fanotify_init fail with EPERM, and the host user's fs.watch still works", async (t) => {
  // seccomp (launcher): inotify instances are counted against the host user in every user
  // namespace up to the initial one (fs.inotify.max_user_instances, 128 by default).
  // One worker stops at its own RLIMIT_NOFILE first: two of them take the user's 128.
  const { host } = await startHost(t);
  for (const attacker of [await startAttacker(t, host), await startAttacker(t, host)]) {
    const r = await attacker.run(`
      const n = ctx.native;
      let instances = 0, errno = 'OK';
      for (; instances < 1000; instances++) {
        const r = n.syscall(n.nr.inotify_init1, 0);
        if (r.errno !== 'OK') { errno = r.errno; break; }
      }
      return { instances, errno, fanotify: n.syscall(n.nr.fanotify_init, 0, 0).errno };`);
    t.deepEqual(r.value, { instances: 0, errno: 'EPERM', fanotify: 'EPERM' });
  }
  const watched = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-watch-'));
  t.teardown(() => fs.rmSync(watched, { recursive: true, force: true }));
  t.notThrows(() => fs.watch(watched).close(), "the host's fs.watch");
});

test.serial("quotas: queued signals stop at 64 (RLIMIT_SIGPENDING), not at the host user's allowance", async (t) => {
  // RLIMIT_SIGPENDING (launcher): pending signals are counted against the host user in every
  // user namespace up to the initial one.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(`
    const n = ctx.native;
    const SIG = 40; // a real-time signal glibc leaves to programs; blocked in this thread only
    const mask = Buffer.alloc(8);
    mask.writeBigUInt64LE(1n << BigInt(SIG - 1));
    const blocked = n.syscall(n.nr.rt_sigprocmask, 0, mask, null, 8);
    if (blocked.errno !== 'OK') return { errno: 'rt_sigprocmask ' + blocked.errno };
    const pid = n.syscall(n.nr.getpid).ret, tid = n.syscall(n.nr.gettid).ret;
    const info = Buffer.alloc(128);
    info.writeInt32LE(SIG, 0);
    info.writeInt32LE(-1, 8); // SI_QUEUE
    let queued = 0, errno = 'OK';
    for (; queued < 200000; queued++) {
      const r = n.syscall(n.nr.rt_tgsigqueueinfo, pid, tid, SIG, info);
      if (r.errno !== 'OK') { errno = r.errno; break; }
    }
    return { queued, errno };`, 60_000);
  const value = r.value as { queued: number; errno: string };
  t.is(value.errno, 'EAGAIN', JSON.stringify(value));
  t.true(value.queued > 0 && value.queued <= 64, `${value.queued} queued`);
});
