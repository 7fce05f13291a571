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

const x86 = process.arch === 'x64';
(x86 ? test.serial : test.skip)(`syscalls: modify_ldt fails with EPERM${x86 ? '' : ' (skipped: x86_64 only)'}`, async (t) => {
  // seccomp (launcher): 16-bit segment descriptors, a classic kernel attack surface. Read
  // (func 0) into a buffer: harmless even where allowed.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run('const n = ctx.native; return n.syscall(n.nr.modify_ldt, 0, Buffer.alloc(64), 64).errno;');
  t.is(r.value, 'EPERM');
});
