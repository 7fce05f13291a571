/**
 * Escape corpus, syscalls: the kernel interfaces exploits usually start from. The addon's
 * probes call each with arguments that change nothing even if allowed; the filter answers
 * first. One test per syscall.
 */
import test from 'ava';
import { startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';

// Every one of these is refused by the launcher's seccomp filter with EPERM (mount family,
// namespaces, kernel attack surface, cross-process memory, kernel images and modules).
for (const name of [
  'ptrace',
  'process_vm_readv',
  'mount',
  'pivot_root',
  'unshare',
  'setns',
  'clone_newns',
  'io_uring_setup',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'keyctl',
  'kexec_load',
  'init_module',
]) {
  test.serial(`syscalls: ${name} fails with EPERM`, async (t) => {
    // seccomp (launcher filter); clone_newns: seccomp (CLONE_NEW* flags) and the addon lockdown.
    const { host } = await startHost(t);
    const attacker = await startAttacker(t, host);
    const r = await attacker.run(`return ctx.addon.probeSyscall(${JSON.stringify(name)});`);
    t.true(r.ok, JSON.stringify(r));
    t.is(r.value, 'EPERM');
  });
}
