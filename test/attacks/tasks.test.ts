/**
 * Escape corpus, tasks (with native code in the worker): a thread bomb. Each worker may run
 * `limits.threads` threads: its pids cgroup holds that bound for any host, RLIMIT_NPROC (in
 * the worker's own user namespace) for a host that is not root, where no cgroup can be had
 * (test/sandbox/unprivileged.test.ts). Seccomp cannot help: threads are what node is made of.
 */
import test from 'ava';
import { startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';

test.serial('tasks: a native thread bomb stops at limits.threads with EAGAIN, and the worker still answers', async (t) => {
  // pids cgroup of the worker (pids.max = threads + 1, the launcher's monitor), RLIMIT_NPROC
  // for a host that is not root.
  const threads = 64;
  const { host } = await startHost(t, { limits: { threads } });
  const attacker = await startAttacker(t, host);
  const r = await attacker.run('return ctx.native.threads(3000, 64 * 1024);', 60_000);
  t.true(r.ok, JSON.stringify(r));
  const value = r.value as { created: number; errno: string };
  t.log(`${value.created} threads created, then ${value.errno}`);
  if (!host.securityStatus.layers.cgroup && process.getuid!() === 0) {
    // Documented gap (docs/security.md): the kernel exempts uid 0 from RLIMIT_NPROC, so a root
    // host without a cgroup has no bound on threads but the worker's memory.
    t.is(value.created, 3000);
    return;
  }
  t.is(value.errno, 'EAGAIN');
  t.true(value.created < threads, `${value.created} threads on top of node's own`);
  t.is((await attacker.run('return 1;')).value, 1, 'the worker still answers');
});
