/**
 * The one-job seccomp filter (`lockdownJob`), run here as the kernel runs it: its BPF program,
 * taken from the addon, interpreted for every syscall number. It must answer EACCES exactly for
 * the calls that open, create, change or remove a path or make a socket, allow everything else,
 * and kill any other ABI; and it must reach its answer through a search, not a list (the
 * kernel emulates a new filter for every syscall number when it installs it: its cost grows with
 * the comparisons a number goes through). The real filter in a real one-job process is tested by
 * test/attacks/lingering.test.ts.
 */
import test from 'ava';
import { loadAddon } from '../../src/shared/addon.js';

// x86_64 numbers (asm/unistd_64.h), written out here, apart from the addon's list.
const DENIED_X86_64: Record<string, number> = {
  open: 2, creat: 85, mkdir: 83, rmdir: 84, unlink: 87, rename: 82, link: 86, symlink: 88, chmod: 90, chown: 92,
  lchown: 94, mknod: 133, utime: 132, utimes: 235, futimesat: 261, inotify_init: 253, openat: 257, openat2: 437,
  open_by_handle_at: 304, name_to_handle_at: 303, mkdirat: 258, unlinkat: 263, renameat: 264, renameat2: 316,
  linkat: 265, symlinkat: 266, fchmod: 91, fchmodat: 268, fchmodat2: 452, fchown: 93, fchownat: 260, truncate: 76,
  mknodat: 259, utimensat: 280, setxattr: 188, lsetxattr: 189, fsetxattr: 190, removexattr: 197, lremovexattr: 198,
  fremovexattr: 199, chdir: 80, fchdir: 81, chroot: 161, inotify_init1: 294, inotify_add_watch: 254, fanotify_init: 300,
  socket: 41, socketpair: 53, connect: 42, bind: 49, listen: 50, accept: 43, accept4: 288,
};
// What a job keeps: reading and writing open fds (the IPC socket), stat-like lookups, memory, time, threads.
const KEPT_X86_64: Record<string, number> = {
  read: 0, write: 1, close: 3, fstat: 5, mmap: 9, mprotect: 10, munmap: 11, pread64: 17, writev: 20, access: 21,
  madvise: 28, getpid: 39, sendmsg: 46, recvmsg: 47, clone: 56, exit: 60, readlink: 89, getrusage: 98, futex: 202,
  epoll_wait: 232, clock_gettime: 228, exit_group: 231, newfstatat: 262, epoll_pwait: 281, statx: 332,
};

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const X32_BIT = 0x40000000;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const RET_ALLOW = 0x7fff0000;
const EACCES = 13;

/** Runs a classic BPF seccomp program on (nr, arch): its return value and how many instructions ran. */
function run(program: Buffer, nr: number, arch: number): { action: number; steps: number } {
  const fields = new Map([
    [0, nr >>> 0],
    [4, arch >>> 0],
  ]);
  let a = 0;
  let pc = 0;
  for (let steps = 1; ; steps++) {
    if (pc * 8 >= program.length) throw new Error(`ran off the end of the program at ${pc}`);
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x20: // BPF_LD | BPF_W | BPF_ABS
        if (!fields.has(k)) throw new Error(`loads seccomp_data offset ${k}, which this test does not model`);
        a = fields.get(k)!;
        pc += 1;
        break;
      case 0x15: // BPF_JMP | BPF_JEQ | BPF_K
        pc += 1 + (a === k ? jt : jf);
        break;
      case 0x35: // BPF_JMP | BPF_JGE | BPF_K
        pc += 1 + (a >= k ? jt : jf);
        break;
      case 0x06: // BPF_RET | BPF_K
        return { action: k, steps };
      default:
        throw new Error(`instruction ${code.toString(16)} at ${pc}, which this test does not model`);
    }
  }
}

const x86 = process.arch === 'x64';

(x86 ? test : test.skip)('the one-job filter denies exactly the path, file-change and socket calls, allows the rest, kills other ABIs', (t) => {
  const program = loadAddon().jobFilterProgram();
  t.true(program.length > 0 && program.length % 8 === 0, 'a whole number of instructions');
  const denied = new Set(Object.values(DENIED_X86_64));
  for (let nr = 0; nr < 1024; nr++) {
    const { action } = run(program, nr, AUDIT_ARCH_X86_64);
    const expected = denied.has(nr) ? RET_ERRNO | EACCES : RET_ALLOW;
    if (action !== expected) t.fail(`syscall ${nr}: ${action.toString(16)}, expected ${expected.toString(16)}`);
  }
  for (const [name, nr] of Object.entries(DENIED_X86_64)) t.is(run(program, nr, AUDIT_ARCH_X86_64).action, RET_ERRNO | EACCES, name);
  for (const [name, nr] of Object.entries(KEPT_X86_64)) t.is(run(program, nr, AUDIT_ARCH_X86_64).action, RET_ALLOW, name);
  // Numbers far above the table, and the edges of an unsigned compare.
  for (const nr of [0x3fffffff, 0xffffffff]) t.is(run(program, nr, AUDIT_ARCH_X86_64).action, nr >= X32_BIT ? RET_KILL_PROCESS : RET_ALLOW);
  // x32 calls (their own table, the x32 bit set) and i386 calls are killed, whatever the number.
  for (const nr of [DENIED_X86_64.openat!, KEPT_X86_64.read!, 0]) {
    t.is(run(program, (nr | X32_BIT) >>> 0, AUDIT_ARCH_X86_64).action, RET_KILL_PROCESS, `x32 ${nr}`);
    t.is(run(program, nr, AUDIT_ARCH_I386).action, RET_KILL_PROCESS, `i386 ${nr}`);
  }
});

(x86 ? test : test.skip)('the one-job filter finds its answer by a search: few instructions run for any syscall number', (t) => {
  const program = loadAddon().jobFilterProgram();
  let most = 0;
  for (let nr = 0; nr < 1024; nr++) most = Math.max(most, run(program, nr, AUDIT_ARCH_X86_64).steps);
  // 53 numbers: the arch check (5 instructions), 4 levels of the tree, at most 4 compares in a leaf and
  // its return. A list would run 57 or more.
  t.true(most <= 20, `at most ${most} instructions for one syscall number`);
});
