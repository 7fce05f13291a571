// warden_addon: loaded by the worker once node is up (see native/README.md).
//
//   lockdown()            second seccomp filter on every thread (TSYNC): no execve, no new process
//   lockdownJob()         third filter, one-job processes only: no file opened, created or
//                         changed, no socket, once the job's own files are read
//   jobFilterProgram()    that filter's BPF program, as bytes (for its test)
//   attest()              what is in force, read from syscalls only (the sandbox has no /proc)
//   probeExecve()         'EPERM' when execve is filtered, 'EFAULT' when it is not
//   probeFork()           'EPERM' when process creation is filtered, 'EINVAL' when it is not
//   probeSyscall(name)    errno name of one dangerous syscall tried with harmless arguments
//   threadCpuClock()      the CPU-time clock of the calling thread (a clockid any thread can read)
//   cpuClockNs(clock)     that clock's reading, ns
//   peakRssBytes()        this process's peak resident set (getrusage), bytes
//   runGuarded(fn, cpuNs, wallNs, graceNs)
//                         calls fn() on this (the main) thread under a watchdog thread that stops it
//                         (V8 TerminateExecution) once this thread's CPU time passes cpuNs or the
//                         wall-clock time wallNs: 0 when fn returned, 1 (CPU) or 2 (wall) when it
//                         was stopped. A job that does not stop within graceNs ends the process.
//   setStackLimit(bytes)  the V8 stack limit of this thread, `bytes` below the caller's frame
//   adviseHugePages(buffer[, reservedBytes])
//                         madvise(MADV_HUGEPAGE) on the whole 2 MiB pages inside a big buffer
//                         not yet touched (or a wasm memory's reservation): one fault per 2 MiB
//   keptBuffer(n)         an ArrayBuffer of n bytes in memory the addon keeps: 2 MiB-aligned, advised
//                         MADV_HUGEPAGE, and put back in a bounded free list when the buffer is
//                         collected, so that the next one lands in memory already backed
//   keptIdleBytes([max])  idle kept memory (bytes); with max, first trims it to max
//   socketPair([sendBufferBytes])
//                         a unix stream socketpair, both ends close-on-exec, send buffers raised:
//                         the host's end of a worker channel is a socket of its own, read straight
//                         into frame bodies
//   pipe()                a pipe [read, write], both ends close-on-exec
//   spawn(file, argv, cwd, fds)
//                         starts `file` in a session of its own with an empty environment, its
//                         signals at their defaults, stdin /dev/null and fds[i] as its fd i + 1,
//                         without copying the caller's page tables (posix_spawn: a vfork, where
//                         node's child_process forks: ~7 ms of the host's thread at 100 MB of RSS)
//   waitExit(pid, callback)
//                         callback(code, signal) once that child has exited, from a thread that
//                         waits for it without reaping it; the caller then reaps it (`reap`), so
//                         its pid cannot be reused while the caller still believes it running
//   reap(pid[, wait])     collects that exited child (with wait, waits for it to exit first)
//   sha256(first, second, out)
//                         the SHA-256 of first || second (two byte views) into the 32-byte out,
//                         from node's own OpenSSL: a worker checks its artifact without loading
//                         node:crypto (~3 ms of a fresh worker's first job)
//
// Built with NAPI_DISABLE_CPP_EXCEPTIONS: errors are thrown with ThrowAsJavaScriptException and
// the function returns at once.

#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <v8.h>
// node's own OpenSSL (its headers ship with node's; node exports the symbols). The low-level
// digest: no provider lookup, no configuration file read, nothing a sandboxed worker is denied.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <algorithm>
#include <condition_variable>
#include <thread>
#include <mutex>
#include <string>
#include <vector>
#include <type_traits>

#include "errno_names.h"
#include "seccomp_bpf.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444  // same number on x86_64 and aarch64
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef __NR_clone3
#define __NR_clone3 435  // same number on x86_64 and aarch64 (headers older than 5.3)
#endif
// Newer or optional syscalls: -1 when the headers lack them, and Sys() answers ENOSYS.
#ifndef __NR_bpf
#define __NR_bpf -1
#endif
#ifndef __NR_userfaultfd
#define __NR_userfaultfd -1
#endif
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup -1
#endif
#ifndef __NR_kexec_load
#define __NR_kexec_load -1
#endif
#ifndef __NR_process_vm_readv
#define __NR_process_vm_readv -1
#endif
#ifndef __NR_openat2
#define __NR_openat2 437  // same number on x86_64 and aarch64 (headers older than 5.6)
#endif
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452  // same number on x86_64 and aarch64 (headers older than 6.6)
#endif

namespace {

// ---------------------------------------------------------------------------------------------
// errno names

std::string ErrnoName(int err) {
  const char* name = warden_errno_name(err);
  return name != nullptr ? name : "E" + std::to_string(err);
}

// The result of a probe: 'OK' when the call succeeded, else the errno name.
std::string ResultName(long ret, int err) { return ret >= 0 ? "OK" : ErrnoName(err); }

long NoSys() {
  errno = ENOSYS;
  return -1;
}

// syscall(2) reads every argument as a long: widen ints and pointers here, so that an int
// such as -1 or 0 never leaves undefined upper register bits.
template <typename T>
long AsArg(T v) {
  if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>) {
    return reinterpret_cast<long>(v);
  } else {
    return static_cast<long>(v);
  }
}
template <typename... Args>
long Sys(long nr, Args... args) {
  return nr < 0 ? NoSys() : syscall(nr, AsArg(args)...);
}

// Raw clone(flags, 0, 0, 0, 0). Every caller passes CLONE_SIGHAND without CLONE_VM, which
// copy_process() (kernel/fork.c) rejects with EINVAL before anything is allocated, so no
// process can be created; a seccomp filter answers before that. Safety net all the same: a
// child (ret 0) leaves at once, the parent reaps it (exit signal 0, hence __WALL) and reports
// success as 0.
long RawClone(unsigned long flags) {
  long ret = Sys(__NR_clone, flags, 0, 0, 0, 0);
  if (ret == 0) _exit(0);
  if (ret > 0) {
    int status = 0;
    while (waitpid(static_cast<pid_t>(ret), &status, __WALL) < 0 && errno == EINTR) {
    }
    return 0;
  }
  return ret;
}

void ThrowLockdown(Napi::Env env, const char* step, int err) {
  std::string msg = std::string("lockdown: ") + step + " failed: " + ErrnoName(err) + " (" +
                    strerror(err) + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, "E_LOCKDOWN"));
  e.Set("errno", Napi::String::New(env, ErrnoName(err)));
  e.ThrowAsJavaScriptException();
}

// ---------------------------------------------------------------------------------------------
// lockdown()

#define RET WARDEN_BPF_RET
#define RET_ERRNO WARDEN_BPF_RET_ERRNO
// "if nr == N return errno": two instructions, jumps relative to themselves.
#define DENY(nr, err) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET_ERRNO(err)
// Syscall numbers only mean something for one ABI (native/seccomp_bpf.h); leaves nr loaded.
#define CHECK_ARCH_LOAD_NR WARDEN_BPF_PROLOGUE

const struct sock_filter kFilter[] = {
    CHECK_ARCH_LOAD_NR
    DENY(__NR_execve, EPERM),
    DENY(__NR_execveat, EPERM),
#ifdef __NR_fork  // x86_64 only; aarch64 has just clone/clone3
    DENY(__NR_fork, EPERM),
#endif
#ifdef __NR_vfork
    DENY(__NR_vfork, EPERM),
#endif
    // clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes glibc's
    // pthread_create (and anything else) fall back to clone, whose flags are in args[0].
    DENY(__NR_clone3, ENOSYS),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 1, 0),
    RET(SECCOMP_RET_ALLOW),
    // clone: CLONE_THREAD (which the kernel only accepts with CLONE_SIGHAND and CLONE_VM) makes
    // a thread of this process. Without it a new process would be created: EPERM. The kernel
    // only looks at the low 32 bits of the flags.
    WARDEN_BPF_LOAD_ARG(0),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
    RET(SECCOMP_RET_ALLOW),
    RET_ERRNO(EPERM),
};

// The one-job filter: once a one-job process has read the job's artifact and input, the job
// needs no file and no new socket. Everything that opens, creates, changes or removes a path,
// or makes a socket, answers EACCES; the IPC socket (fd 3) and the fds already open still
// work. Metadata lookups (stat, access, readlink) stay: glibc's fstat is newfstatat, and
// they open nothing.
// They are tested as a binary search over the syscall number, not one by one: the kernel emulates
// every new filter for each syscall number when it installs it (to cache the ones it allows), so
// the install's cost grows with the comparisons a number goes through (a list of 53: ~140 µs on a
// one-job process's path; as a tree, 6 or 7).
const long kJobDenied[] = {
#ifdef __NR_open  // x86_64 only, like every legacy path call below; aarch64 has the *at forms
    __NR_open,
    __NR_creat,
    __NR_mkdir,
    __NR_rmdir,
    __NR_unlink,
    __NR_rename,
    __NR_link,
    __NR_symlink,
    __NR_chmod,
    __NR_chown,
    __NR_lchown,
    __NR_mknod,
    __NR_utime,
    __NR_utimes,
    __NR_futimesat,
    __NR_inotify_init,
#endif
    __NR_openat,
    __NR_openat2,
    __NR_open_by_handle_at,
    __NR_name_to_handle_at,
    __NR_mkdirat,
    __NR_unlinkat,
    __NR_renameat,
    __NR_renameat2,
    __NR_linkat,
    __NR_symlinkat,
    __NR_fchmod,
    __NR_fchmodat,
    __NR_fchmodat2,
    __NR_fchown,
    __NR_fchownat,
    __NR_truncate,
    __NR_mknodat,
    __NR_utimensat,
    __NR_setxattr,
    __NR_lsetxattr,
    __NR_fsetxattr,
    __NR_removexattr,
    __NR_lremovexattr,
    __NR_fremovexattr,
    __NR_chdir,
    __NR_fchdir,
    __NR_chroot,
    __NR_inotify_init1,
    __NR_inotify_add_watch,
    __NR_fanotify_init,
    __NR_socket,
    __NR_socketpair,
    __NR_connect,
    __NR_bind,
    __NR_listen,
    __NR_accept,
    __NR_accept4,
};

// Emits the search over nrs[lo, hi) (sorted, distinct) with nr loaded: EACCES for those, allow
// for every other. Returns false when a jump would be longer than BPF's 255 instructions.
bool EmitDenyTree(std::vector<sock_filter>& out, const std::vector<uint32_t>& nrs, size_t lo, size_t hi) {
  if (hi - lo <= 4) {
    for (size_t i = lo; i < hi; i++) {
      out.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nrs[i], 0, 1));
      out.push_back(RET_ERRNO(EACCES));
    }
    out.push_back(RET(SECCOMP_RET_ALLOW));
    return true;
  }
  size_t mid = lo + (hi - lo) / 2;
  size_t split = out.size();
  // nr >= nrs[mid]: the upper half, after the lower half's code.
  out.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, nrs[mid], 0, 0));
  if (!EmitDenyTree(out, nrs, lo, mid)) return false;
  size_t lower = out.size() - split - 1;
  if (lower > 255) return false;
  out[split].jt = static_cast<uint8_t>(lower);
  return EmitDenyTree(out, nrs, mid, hi);
}

// The one-job filter's program, built once: the arch check, then the search.
const std::vector<sock_filter>& JobFilter() {
  static const std::vector<sock_filter> program = [] {
    std::vector<sock_filter> out = {CHECK_ARCH_LOAD_NR};
    std::vector<uint32_t> nrs;
    for (long nr : kJobDenied) {
      if (nr >= 0) nrs.push_back(static_cast<uint32_t>(nr));
    }
    std::sort(nrs.begin(), nrs.end());
    nrs.erase(std::unique(nrs.begin(), nrs.end()), nrs.end());
    // Cannot fail for a list this short; an empty program makes lockdownJob throw if it ever did.
    if (!EmitDenyTree(out, nrs, 0, nrs.size())) out.clear();
    return out;
  }();
  return program;
}

// Installs a filter on every thread (TSYNC), or throws E_LOCKDOWN.
void InstallFilter(Napi::Env env, const struct sock_filter* filter, size_t length) {
  // Without CAP_SYS_ADMIN the kernel only takes a filter with no_new_privs set. The launcher
  // already set it; setting it again is harmless, and TSYNC copies it to every thread.
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 &&
      prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    ThrowLockdown(env, "prctl(PR_SET_NO_NEW_PRIVS)", errno);
    return;
  }
  struct sock_fprog prog;
  prog.len = static_cast<unsigned short>(length);
  prog.filter = const_cast<struct sock_filter*>(filter);
  // TSYNC: node already runs V8 and libuv threads; a filter on this thread alone would leave
  // them free. New threads inherit the filter. Filters stack, so calling twice is fine.
  long ret = Sys(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  if (ret < 0) {
    ThrowLockdown(env, "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)", errno);
    return;
  }
  if (ret > 0) {
    // TSYNC failure: ret is the id of a thread whose seccomp state cannot be synchronised
    // (the same case SECCOMP_FILTER_FLAG_TSYNC_ESRCH reports as ESRCH).
    std::string step = "seccomp TSYNC (thread " + std::to_string(ret) + ")";
    ThrowLockdown(env, step.c_str(), ESRCH);
  }
}

Napi::Value Lockdown(const Napi::CallbackInfo& info) {
  InstallFilter(info.Env(), kFilter, sizeof(kFilter) / sizeof(kFilter[0]));
  return info.Env().Undefined();
}

Napi::Value LockdownJob(const Napi::CallbackInfo& info) {
  const std::vector<sock_filter>& program = JobFilter();
  if (program.empty()) {
    ThrowLockdown(info.Env(), "building the one-job filter", E2BIG);
    return info.Env().Undefined();
  }
  InstallFilter(info.Env(), program.data(), program.size());
  return info.Env().Undefined();
}

// The one-job filter's program as the kernel takes it (struct sock_filter: u16 code, u8 jt,
// u8 jf, u32 k, native byte order), for the test that runs it for every syscall number.
Napi::Value JobFilterProgram(const Napi::CallbackInfo& info) {
  const std::vector<sock_filter>& program = JobFilter();
  return Napi::Buffer<uint8_t>::Copy(info.Env(), reinterpret_cast<const uint8_t*>(program.data()), program.size() * sizeof(sock_filter));
}

// ---------------------------------------------------------------------------------------------
// attest()

std::string Hex64(uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Napi::Value Attest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);

  out.Set("seccompMode", Napi::Number::New(env, prctl(PR_GET_SECCOMP, 0, 0, 0, 0)));
  out.Set("noNewPrivs", Napi::Boolean::New(env, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1));
  out.Set("uid", Napi::Number::New(env, getuid()));
  out.Set("gid", Napi::Number::New(env, getgid()));
  out.Set("euid", Napi::Number::New(env, geteuid()));
  out.Set("egid", Napi::Number::New(env, getegid()));

  // capget v3: two 32-bit words per set. Raw syscall: no libcap needed.
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  uint64_t eff = 0, perm = 0;
  if (Sys(__NR_capget, &hdr, data) == 0) {
    eff = (static_cast<uint64_t>(data[1].effective) << 32) | data[0].effective;
    perm = (static_cast<uint64_t>(data[1].permitted) << 32) | data[0].permitted;
  }
  out.Set("capEffective", Napi::String::New(env, Hex64(eff)));
  out.Set("capPermitted", Napi::String::New(env, Hex64(perm)));

  // Bounding set: PR_CAPBSET_READ answers 1/0 per capability and EINVAL past the last one
  // this kernel knows.
  uint64_t bounding = 0;
  for (int cap = 0; cap < 64; cap++) {
    int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (r < 0) break;
    if (r == 1) bounding |= 1ULL << cap;
  }
  out.Set("capBounding", Napi::String::New(env, Hex64(bounding)));

  // With LANDLOCK_CREATE_RULESET_VERSION (attr NULL, size 0) the call returns the highest
  // ABI; ENOSYS / EOPNOTSUPP when Landlock is not built or not enabled.
  long abi = Sys(__NR_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  out.Set("landlockAbi", Napi::Number::New(env, abi < 0 ? -1 : static_cast<double>(abi)));

  out.Set("pid", Napi::Number::New(env, getpid()));
  out.Set("ppid", Napi::Number::New(env, getppid()));
  struct utsname uts;
  out.Set("hostname", Napi::String::New(env, uname(&uts) == 0 ? uts.nodename : ""));
  return out;
}

// ---------------------------------------------------------------------------------------------
// probeExecve(), probeFork()

Napi::Value ProbeExecve(const Napi::CallbackInfo& info) {
  // A NULL path makes the kernel fail copying the file name (EFAULT): nothing can run. A
  // filter answers before the kernel looks at the arguments.
  long ret = Sys(__NR_execve, nullptr, nullptr, nullptr);
  return Napi::String::New(info.Env(), ResultName(ret, errno));
}

Napi::Value ProbeFork(const Napi::CallbackInfo& info) {
  // CLONE_SIGHAND without CLONE_VM: EINVAL from copy_process() when clone is allowed, EPERM
  // from the filter (no CLONE_THREAD) when it is not.
  long ret = RawClone(CLONE_SIGHAND);
  return Napi::String::New(info.Env(), ResultName(ret, errno));
}

// ---------------------------------------------------------------------------------------------
// probeSyscall(name)
//
// Every argument list below is chosen so that the call cannot change anything even when no
// filter stops it (e.g. as root outside the sandbox): the kernel then fails it with EINVAL,
// EFAULT, EBADF, ESRCH, ... (or EPERM from its own capability checks). Socket probes are the
// exception: the socket is closed at once and the probe answers 'OK'.

// Not attached to pid 1 (which, in the worker's pid namespace, is the worker): ESRCH.
long ProbePtrace() { return Sys(__NR_ptrace, PTRACE_PEEKDATA, 1, 0, 0); }
long ProbeUnshare() {
  // CLONE_PTRACE is not an unshare flag: check_unshare_flags() says EINVAL before anything.
  // (A multi-threaded process gets EINVAL for CLONE_NEWUSER alone as well.)
  return Sys(__NR_unshare, CLONE_NEWUSER | CLONE_PTRACE);
}
long ProbeMount() {
  // NULL target: the path lookup fails with EFAULT before any permission check or mount.
  return Sys(__NR_mount, "none", nullptr, "tmpfs", 0UL, nullptr);
}
long ProbeSetns() { return Sys(__NR_setns, -1, 0); }  // EBADF
long ProbePivotRoot() {
  // NULL paths: EFAULT (or EPERM from may_mount() without CAP_SYS_ADMIN). Never ".", ".":
  // that form really pivots when the cwd is a mount point.
  return Sys(__NR_pivot_root, nullptr, nullptr);
}
// BPF_PROG_LOAD (5) with size 0: a zeroed attr has no instructions (E2BIG), nothing loads.
long ProbeBpf() { return Sys(__NR_bpf, 5, nullptr, 0); }
long ProbePerfEventOpen() { return Sys(__NR_perf_event_open, nullptr, 0, -1, -1, 0UL); }
long ProbeUserfaultfd() { return Sys(__NR_userfaultfd, 0); }  // an fd, closed at once
// Op 0 (KEYCTL_GET_KEYRING_ID) on key id 0, which names no key or special keyring.
long ProbeKeyctl() { return Sys(__NR_keyctl, 0, 0, 0, 0, 0); }
long ProbeIoUringSetup() { return Sys(__NR_io_uring_setup, 0, nullptr); }  // EFAULT
long ProbeKexecLoad() {
  // nr_segments 0 would UNLOAD the loaded kexec image, so never 0: an undefined flag bit and a
  // segment count above KEXEC_SEGMENT_MAX make kexec_load_check() answer EINVAL.
  return Sys(__NR_kexec_load, 0UL, ~0UL, nullptr, 0x8000UL);
}
long ProbeInitModule() { return Sys(__NR_init_module, nullptr, 0UL, ""); }  // ENOEXEC / EFAULT
long ProbeProcessVmReadv() {
  // Flags must be 0: 1 gives EINVAL (with flags 0 and no iovecs the kernel returns 0 at once).
  return Sys(__NR_process_vm_readv, 1, nullptr, 0UL, nullptr, 0UL, 1UL);
}
long ProbeCloneNewns() {
  // CLONE_SIGHAND without CLONE_VM: EINVAL before the namespace is looked at (RawClone).
  return RawClone(CLONE_NEWNS | CLONE_SIGHAND);
}
long SocketOf(int family, int type, int protocol) {
  return Sys(__NR_socket, family, type | SOCK_CLOEXEC, protocol);
}
long ProbeSocketInet() { return SocketOf(AF_INET, SOCK_STREAM, 0); }
long ProbeSocketInet6() { return SocketOf(AF_INET6, SOCK_STREAM, 0); }
long ProbeSocketNetlink() { return SocketOf(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE); }
// Protocol 0: a packet socket that is not hooked into any device, so it receives nothing.
long ProbeSocketPacket() { return SocketOf(AF_PACKET, SOCK_RAW, 0); }
long ProbeSocketUnix() { return SocketOf(AF_UNIX, SOCK_STREAM, 0); }

struct Probe {
  const char* name;
  long (*run)();
  bool returnsFd;  // on success the result is an fd to close
};

const Probe kProbes[] = {
    {"ptrace", ProbePtrace, false},
    {"unshare", ProbeUnshare, false},
    {"mount", ProbeMount, false},
    {"setns", ProbeSetns, false},
    {"pivot_root", ProbePivotRoot, false},
    {"bpf", ProbeBpf, true},
    {"perf_event_open", ProbePerfEventOpen, true},
    {"userfaultfd", ProbeUserfaultfd, true},
    {"keyctl", ProbeKeyctl, false},
    {"io_uring_setup", ProbeIoUringSetup, true},
    {"kexec_load", ProbeKexecLoad, false},
    {"init_module", ProbeInitModule, false},
    {"process_vm_readv", ProbeProcessVmReadv, false},
    {"socket_inet", ProbeSocketInet, true},
    {"socket_inet6", ProbeSocketInet6, true},
    {"socket_netlink", ProbeSocketNetlink, true},
    {"socket_packet", ProbeSocketPacket, true},
    {"socket_unix", ProbeSocketUnix, true},
    {"clone_newns", ProbeCloneNewns, false},
};

Napi::Value ProbeSyscall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "probeSyscall(name): name must be a string")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  for (const Probe& p : kProbes) {
    if (name != p.name) continue;
    errno = 0;
    long ret = p.run();
    int err = errno;
    if (ret >= 0 && p.returnsFd) close(static_cast<int>(ret));
    return Napi::String::New(env, ResultName(ret, err));
  }
  Napi::TypeError::New(env, "probeSyscall: unknown probe '" + name + "'")
      .ThrowAsJavaScriptException();
  return env.Undefined();
}

// The host's cache dir lock. flock(2) rather than a pid file: the kernel releases it when
// the holder dies, however it dies, so there is no stale lock to detect and no race in
// taking one over. Returns "OK", or the errno name (EAGAIN: another open file holds it).
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "tryLock(fd) needs a file descriptor").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int ret = flock(fd, LOCK_EX | LOCK_NB);
  return Napi::String::New(env, ret == 0 ? std::string("OK") : ErrnoName(errno));
}

// The job thread's own CPU time, readable from the main thread that watches it: process-wide
// CPU (getrusage) also counts V8's background compiler and GC threads, which are not the job.
// pthread_getcpuclockid gives a clockid that clock_gettime accepts from any thread of the process.
Napi::Value ThreadCpuClock(const Napi::CallbackInfo& info) {
  clockid_t clock;
  int err = pthread_getcpuclockid(pthread_self(), &clock);
  if (err != 0) {
    Napi::Error::New(info.Env(), std::string("pthread_getcpuclockid: ") + ErrnoName(err)).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(clock));
}

Napi::Value CpuClockNs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "cpuClockNs(clock) needs a clockid").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct timespec ts;
  if (clock_gettime(static_cast<clockid_t>(info[0].As<Napi::Number>().Int32Value()), &ts) != 0) {
    Napi::Error::New(env, std::string("clock_gettime: ") + ErrnoName(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec));
}

// peakRssBytes(): this process's peak resident set (getrusage's ru_maxrss), bytes. One syscall:
// node's process.resourceUsage() builds 16 fields, and its first call costs ~0.2 ms, which a
// one-job process paid in its only reply.
Napi::Value PeakRssBytes(const Napi::CallbackInfo& info) {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) {
    Napi::Error::New(info.Env(), std::string("getrusage: ") + ErrnoName(errno)).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(usage.ru_maxrss) * 1024);
}

// sha256(first, second, out): the digest of two byte views read in place, written into the
// 32-byte view `out`. Plain N-API calls with no JavaScript to run (no allocation, no throw but on
// bad arguments): a job thread may be terminated while it hashes, and then every call that could
// run JavaScript fails, and node-addon-api turns a failed throw into a fatal error of the process.
Napi::Value Sha256(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  uint8_t* bytes[3] = {nullptr, nullptr, nullptr};
  size_t lengths[3] = {0, 0, 0};
  for (size_t i = 0; i < 3; i++) {
    bool is_typed_array = false;
    napi_typedarray_type type;
    napi_value buffer;
    size_t offset;
    void* data = nullptr;
    if (i >= info.Length() || napi_is_typedarray(env, info[i], &is_typed_array) != napi_ok || !is_typed_array ||
        napi_get_typedarray_info(env, info[i], &type, &lengths[i], &data, &buffer, &offset) != napi_ok ||
        type != napi_uint8_array) {
      napi_throw_type_error(env, nullptr, "sha256(first, second, out) needs three Uint8Arrays, out of 32 bytes");
      return Napi::Value();
    }
    // `data` is already the view's first byte (napi adds its offset); an empty view may have none.
    bytes[i] = static_cast<uint8_t*>(data);
  }
  if (lengths[2] != SHA256_DIGEST_LENGTH) {
    napi_throw_type_error(env, nullptr, "sha256(first, second, out) needs three Uint8Arrays, out of 32 bytes");
    return Napi::Value();
  }
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, bytes[0], lengths[0]);
  SHA256_Update(&ctx, bytes[1], lengths[1]);
  SHA256_Final(bytes[2], &ctx);
  return Napi::Value();
}

// Fresh memory costs a page fault per 4 KiB page on first touch; on a virtual machine that is
// ~11 us a page (3 ms per MiB, measured on the Firecracker VM of the bench), 40 times the copy
// itself. With transparent huge pages in "madvise" mode (the common default) a region advised
// MADV_HUGEPAGE takes one fault per 2 MiB, zeroed by the kernel like any fresh page. Used on
// memory that is about to be filled at once: a big input or output, a wasm memory.
// `reservedBytes` extends the range past the buffer's current length: only for a wasm memory,
// whose reservation V8 maps (PROT_NONE) up to its maximum and opens as it grows; the advice is
// kept on the parts mprotect opens later. Returns the offset in the buffer of the first 2 MiB
// boundary advised (so that a caller may start its data there), -1 when the range holds no whole
// 2 MiB page, -2 when madvise refused. Advice only: it never changes what the memory holds.
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    Napi::TypeError::New(env, "adviseHugePages(buffer[, reservedBytes]) needs an ArrayBuffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  uintptr_t start = reinterpret_cast<uintptr_t>(buffer.Data());
  double length = static_cast<double>(buffer.ByteLength());
  if (info.Length() > 1 && info[1].IsNumber()) {
    double reserved = info[1].As<Napi::Number>().DoubleValue();
    // A wasm32 memory is at most 4 GiB; anything else is a caller's mistake, not a range to advise.
    if (reserved > length && reserved <= 4294967296.0) length = reserved;
  }
  const uintptr_t huge = 2u << 20;
  uintptr_t first = (start + huge - 1) & ~(huge - 1);
  uintptr_t end = (start + static_cast<uintptr_t>(length)) & ~(huge - 1);
  if (start == 0 || end <= first) return Napi::Number::New(env, -1);
  if (madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE) != 0) return Napi::Number::New(env, -2);
  return Napi::Number::New(env, static_cast<double>(first - start));
}

// Kept memory. A first touch of fresh memory costs a page fault per page, and on a virtual machine
// whose guest memory is not yet backed, far more (a fresh 16 MiB: 3 ms to 50 ms here). A reply body
// is handed to the caller, so it cannot come from a pool the host returns it to by hand; an
// external ArrayBuffer's finalizer returns its memory here once the garbage collector has let go
// of it. Idle memory is bounded (kKeptIdleMax, trimmed by the host when it idles); each region is
// an mmap of its own, unmapped when it leaves.
namespace kept {
constexpr size_t kHuge = size_t{2} << 20;
constexpr size_t kIdleMax = size_t{64} << 20;

struct Region {
  void* base;
  size_t size;
};

std::mutex mu;
std::vector<Region> idle;
size_t idleBytes = 0;

// A fresh region of `size` bytes (a multiple of 2 MiB) starting on a 2 MiB boundary, or null.
void* Map(size_t size) {
  void* raw = mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (start + kHuge - 1) & ~(kHuge - 1);
  if (aligned > start) munmap(raw, aligned - start);
  uintptr_t end = start + size + kHuge;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
  madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

// Trims idle memory to `max` bytes, the oldest first.
void Trim(size_t max) {
  std::vector<Region> gone;
  {
    std::lock_guard<std::mutex> lock(mu);
    while (idleBytes > max && !idle.empty()) {
      gone.push_back(idle.front());
      idleBytes -= idle.front().size;
      idle.erase(idle.begin());
    }
  }
  for (const Region& r : gone) munmap(r.base, r.size);
}

// The smallest idle region of `size` bytes or more that would not waste it (at most twice), else a fresh one.
Region Take(size_t size) {
  {
    std::lock_guard<std::mutex> lock(mu);
    int best = -1;
    for (size_t i = 0; i < idle.size(); i++) {
      if (idle[i].size >= size && idle[i].size <= 2 * size && (best < 0 || idle[i].size < idle[best].size)) best = static_cast<int>(i);
    }
    if (best >= 0) {
      Region r = idle[best];
      idle.erase(idle.begin() + best);
      idleBytes -= r.size;
      return r;
    }
  }
  return Region{Map(size), size};
}

void Give(Region r) {
  if (r.size > kIdleMax) {
    munmap(r.base, r.size);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    idle.push_back(r);
    idleBytes += r.size;
  }
  Trim(kIdleMax);
}

void Finalize(Napi::Env, void*, Region* region) {
  Give(*region);
  delete region;
}
}  // namespace kept

Napi::Value KeptBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "keptBuffer(n) needs a byte count").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= 4294967296.0)) {
    Napi::RangeError::New(env, "keptBuffer(n): n must be from 1 to 4 GiB").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t bytes = static_cast<size_t>(n);
  size_t size = (bytes + kept::kHuge - 1) & ~(kept::kHuge - 1);
  kept::Region region = kept::Take(size);
  if (region.base == nullptr) {
    Napi::Error::New(env, std::string("keptBuffer: mmap: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  kept::Region* owned = new kept::Region(region);
  return Napi::ArrayBuffer::New(env, region.base, bytes, kept::Finalize, owned);
}

Napi::Value KeptIdleBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && info[0].IsNumber()) {
    double max = info[0].As<Napi::Number>().DoubleValue();
    kept::Trim(max > 0 ? static_cast<size_t>(max) : 0);
  }
  std::lock_guard<std::mutex> lock(kept::mu);
  return Napi::Number::New(env, static_cast<double>(kept::idleBytes));
}

// Two fds as a JS array [fds[0], fds[1]].
Napi::Array FdPair(Napi::Env env, const int fds[2]) {
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    Napi::Error::New(env, std::string("socketpair: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int bytes = 0;
  if (info.Length() > 0 && info[0].IsNumber()) {
    double asked = info[0].As<Napi::Number>().DoubleValue();
    if (asked > 0 && asked <= 64.0 * 1024 * 1024) bytes = static_cast<int>(asked);
  }
  // Send buffers of `bytes` (what a unix stream socket queues is bounded by its sender's): forced
  // where the process may (CAP_NET_ADMIN), else as much as net.core.wmem_max allows. Best effort.
  for (int i = 0; bytes > 0 && i < 2; i++) {
    if (setsockopt(fds[i], SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  return FdPair(env, fds);
}

// ---- spawn: a worker's launcher without a fork of the host -------------------------------
//
// node's child_process forks the host (libuv's uv_spawn): the kernel copies the host's page
// tables while the host's thread waits, ~1.4 ms at 45 MB of RSS and ~7 ms at 100 MB here, for
// every worker start (a one-job process per job in `isolation: 'job'`). posix_spawn shares the
// parent's memory until the child execs (CLONE_VM | CLONE_VFORK) and reports the child's
// setup and exec errors as its return value.

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    Napi::Error::New(env, std::string("pipe2: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return FdPair(env, fds);
}

Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsString() || !info[3].IsArray()) {
    Napi::TypeError::New(env, "spawn(file, argv, cwd, fds)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string file = info[0].As<Napi::String>().Utf8Value();
  std::string cwd = info[2].As<Napi::String>().Utf8Value();
  Napi::Array argArray = info[1].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < argArray.Length(); i++) args.push_back(argArray.Get(i).As<Napi::String>().Utf8Value());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  Napi::Array fdArray = info[3].As<Napi::Array>();

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  int rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  // The given fds become 1, 2, 3, …: each is close-on-exec and above 3 (the caller's own), so
  // dup2 makes a copy without the flag, and the originals close at the exec.
  for (uint32_t i = 0; rc == 0 && i < fdArray.Length(); i++) {
    int fd = fdArray.Get(i).As<Napi::Number>().Int32Value();
    if (fd <= static_cast<int>(i) + 1) rc = EINVAL;
    else rc = posix_spawn_file_actions_adddup2(&actions, fd, static_cast<int>(i) + 1);
  }
  if (rc == 0) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  // node ignores SIGPIPE and blocks nothing the child should keep: every signal at its default, none blocked.
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
  pid_t pid = -1;
  if (rc == 0) rc = posix_spawn(&pid, file.c_str(), &actions, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    Napi::Error error = Napi::Error::New(env, std::string("spawn ") + file + ": " + strerror(rc));
    error.Set("code", Napi::String::New(env, ErrnoName(rc)));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, pid);
}

namespace waiter {
struct Exit {
  int code;
  int signal;
};
void CallJs(Napi::Env env, Napi::Function callback, std::nullptr_t*, Exit* exit) {
  if (env != nullptr && callback != nullptr) {
    callback.Call({exit->code >= 0 ? Napi::Number::New(env, exit->code) : env.Null(),
                   exit->signal > 0 ? Napi::Number::New(env, exit->signal) : env.Null()});
  }
  delete exit;
}
using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Exit, CallJs>;
}  // namespace waiter

struct ExitWatch {
  pid_t pid;
  waiter::Tsfn tsfn;
};

void* WatchExit(void* arg) {
  ExitWatch* watch = static_cast<ExitWatch*>(arg);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc;
  // WNOWAIT: seen, not reaped: the pid stays the child's until the caller reaps it.
  do rc = waitid(P_PID, static_cast<id_t>(watch->pid), &si, WEXITED | WNOWAIT);
  while (rc != 0 && errno == EINTR);
  auto* exit = new waiter::Exit{-1, 0};
  if (rc == 0 && si.si_code == CLD_EXITED) exit->code = si.si_status;
  else if (rc == 0) exit->signal = si.si_status;
  else exit->code = 255;
  if (watch->tsfn.BlockingCall(exit) != napi_ok) delete exit;
  watch->tsfn.Release();
  delete watch;
  return nullptr;
}

Napi::Value WaitExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "waitExit(pid, callback)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  // Keeps the event loop alive while the child runs, as node's child processes do.
  auto* watch = new ExitWatch{pid, waiter::Tsfn::New(env, info[1].As<Napi::Function>(), "warden waitExit", 0, 1)};
  // pthread, not std::thread: built without exceptions, a thread that cannot be made would abort
  // the host; here it is an error the caller handles.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, WatchExit, watch);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    watch->tsfn.Release();
    delete watch;
    Napi::Error error = Napi::Error::New(env, std::string("waitExit: cannot start a thread: ") + strerror(rc));
    error.Set("code", Napi::String::New(env, ErrnoName(rc)));
    error.ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value Reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  bool wait = info.Length() > 1 && info[1].ToBoolean().Value();
  int status;
  while (waitpid(pid, &status, wait ? 0 : WNOHANG) < 0 && errno == EINTR) {
  }
  return env.Undefined();
}

// ---- runGuarded: a job on the main thread, stopped past its CPU or wall-clock limit ----------
//
// An execute worker runs its job on its main thread (no thread hop per job). What stops code
// that does not cooperate is V8's TerminateExecution, which another thread may call: a watchdog
// thread, started on the first guarded call, sleeps until the earliest moment the running call
// could pass a limit (this thread's CPU time cannot grow faster than the wall clock), reads the
// clocks and terminates the call past either. The main thread cancels the termination once the
// call has unwound (as node's vm timeout does) and carries on with the next job.
struct Guard {
  std::mutex mu;
  std::condition_variable wake;
  bool running = false;
  bool parked = false;      // the watchdog waits for a call with no deadline
  uint64_t serial = 0;      // which call the fields below are about
  int reason = 0;           // 1 CPU, 2 wall; set once per call by the watchdog
  uint64_t stoppedAt = 0;   // monotonic ns of the termination
  clockid_t cpuClock = 0;
  int64_t cpuStart = 0, wallStart = 0, cpuLimit = 0, wallLimit = 0, grace = 0;
  int64_t wakeAt = INT64_MAX;  // when the watchdog will look next (monotonic ns)
  v8::Isolate* isolate = nullptr;
  bool started = false;
};

Guard& TheGuard() {
  static Guard* guard = new Guard();  // process lifetime: the watchdog never exits
  return *guard;
}

int64_t ClockNs(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void Watchdog() {
  Guard& g = TheGuard();
  std::unique_lock<std::mutex> lock(g.mu);
  for (;;) {
    if (!g.running) {
      g.wakeAt = INT64_MAX;
      g.parked = true;
      g.wake.wait(lock, [&g] { return g.running; });
      g.parked = false;
    }
    int64_t now = ClockNs(CLOCK_MONOTONIC);
    int64_t next;
    if (g.reason != 0) {
      // Stopped, not yet unwound: V8 acts on a termination at its next check, and a garbage
      // collection run by a memory growth can swallow the request, so it is asked again every
      // 10 ms. Past the grace the process ends; the host sees the death.
      if (now - static_cast<int64_t>(g.stoppedAt) > g.grace) {
        static const char kMessage[] = "warden worker: a job did not stop when terminated\n";
        ssize_t ignored = write(2, kMessage, sizeof kMessage - 1);
        (void)ignored;
        _exit(75);
      }
      g.isolate->TerminateExecution();
      next = now + 10000000;
    } else {
      int64_t cpuLeft = g.cpuLimit - (ClockNs(g.cpuClock) - g.cpuStart);
      int64_t wallLeft = g.wallLimit - (now - g.wallStart);
      if (cpuLeft < 0 || wallLeft < 0) {
        g.reason = cpuLeft < 0 ? 1 : 2;
        g.stoppedAt = static_cast<uint64_t>(now);
        g.isolate->TerminateExecution();
        next = now + 10000000;
      } else {
        next = now + std::max<int64_t>(std::min(cpuLeft, wallLeft), 200000);
      }
    }
    g.wakeAt = next;
    g.wake.wait_for(lock, std::chrono::nanoseconds(next - now));
  }
}

int64_t NsArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) return -1;
  double value = info[i].As<Napi::Number>().DoubleValue();
  return value > 0 && value < 9.2e18 ? static_cast<int64_t>(value) : -1;
}

Napi::Value RunGuarded(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t cpuLimit = NsArg(info, 1), wallLimit = NsArg(info, 2), grace = NsArg(info, 3);
  if (info.Length() < 4 || !info[0].IsFunction() || cpuLimit < 0 || wallLimit < 0 || grace < 0) {
    Napi::TypeError::New(env, "runGuarded(fn, cpuNs, wallNs, graceNs) needs a function and three positive numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Guard& g = TheGuard();
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  clockid_t cpuClock;
  if (pthread_getcpuclockid(pthread_self(), &cpuClock) != 0) {
    Napi::Error::New(env, "pthread_getcpuclockid failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  {
    std::lock_guard<std::mutex> lock(g.mu);
    if (g.running) {
      Napi::Error::New(env, "runGuarded: a guarded call is already running").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!g.started) {
      std::thread(Watchdog).detach();
      g.started = true;
    }
    g.isolate = isolate;
    g.cpuClock = cpuClock;
    g.cpuStart = ClockNs(cpuClock);
    g.wallStart = ClockNs(CLOCK_MONOTONIC);
    g.cpuLimit = cpuLimit;
    g.wallLimit = wallLimit;
    g.grace = grace;
    g.reason = 0;
    g.serial++;
    g.running = true;
    // A watchdog asleep until a later moment than this call's first possible deadline is woken;
    // one that will look in time anyway is not (no wake-up per job in a stream of short jobs).
    if (g.parked || g.wakeAt > g.wallStart + std::min(cpuLimit, wallLimit)) g.wake.notify_one();
  }
  napi_value fnValue = info[0];
  v8::Local<v8::Value> fnLocal;
  static_assert(sizeof fnLocal == sizeof fnValue, "napi_value is a v8::Local");
  memcpy(static_cast<void*>(&fnLocal), &fnValue, sizeof fnValue);
  int reason;
  bool terminated;
  {
    v8::TryCatch tryCatch(isolate);
    v8::MaybeLocal<v8::Value> result = fnLocal.As<v8::Function>()->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), 0, nullptr);
    (void)result;
    {
      std::lock_guard<std::mutex> lock(g.mu);
      g.running = false;
      reason = g.reason;
      g.reason = 0;
    }
    terminated = tryCatch.HasTerminated();
    // A termination asked for as the call returned may still be pending: cancelled either way.
    if (terminated || reason != 0) isolate->CancelTerminateExecution();
    if (tryCatch.HasCaught() && !terminated) {
      tryCatch.ReThrow();
      return env.Undefined();
    }
  }
  // Terminated with no reason of ours (node stopping the thread): reported as a wall stop.
  if (terminated && reason == 0) reason = 2;
  return Napi::Number::New(env, reason);
}

// A thread's V8 stack limit: `bytes` below this frame. A worker thread's is set by node from its
// stack size; the main thread's is V8's default (about 1 MiB) unless set here.
Napi::Value SetStackLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t bytes = NsArg(info, 0);
  if (bytes < 64 * 1024) {
    Napi::TypeError::New(env, "setStackLimit(bytes) needs at least 64 KiB").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  volatile char here = 0;
  uintptr_t top = reinterpret_cast<uintptr_t>(&here);
  v8::Isolate::GetCurrent()->SetStackLimit(top - static_cast<uintptr_t>(bytes));
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("keptBuffer", Napi::Function::New(env, KeptBuffer, "keptBuffer"));
  exports.Set("keptIdleBytes", Napi::Function::New(env, KeptIdleBytes, "keptIdleBytes"));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair, "socketPair"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
  exports.Set("waitExit", Napi::Function::New(env, WaitExit, "waitExit"));
  exports.Set("reap", Napi::Function::New(env, Reap, "reap"));
  exports.Set("sha256", Napi::Function::New(env, Sha256, "sha256"));
  exports.Set("adviseHugePages", Napi::Function::New(env, AdviseHugePages, "adviseHugePages"));
  exports.Set("tryLock", Napi::Function::New(env, TryLock, "tryLock"));
  exports.Set("lockdown", Napi::Function::New(env, Lockdown, "lockdown"));
  exports.Set("lockdownJob", Napi::Function::New(env, LockdownJob, "lockdownJob"));
  exports.Set("jobFilterProgram", Napi::Function::New(env, JobFilterProgram, "jobFilterProgram"));
  exports.Set("attest", Napi::Function::New(env, Attest, "attest"));
  exports.Set("probeExecve", Napi::Function::New(env, ProbeExecve, "probeExecve"));
  exports.Set("probeFork", Napi::Function::New(env, ProbeFork, "probeFork"));
  exports.Set("probeSyscall", Napi::Function::New(env, ProbeSyscall, "probeSyscall"));
  exports.Set("threadCpuClock", Napi::Function::New(env, ThreadCpuClock, "threadCpuClock"));
  exports.Set("cpuClockNs", Napi::Function::New(env, CpuClockNs, "cpuClockNs"));
  exports.Set("peakRssBytes", Napi::Function::New(env, PeakRssBytes, "peakRssBytes"));
  exports.Set("runGuarded", Napi::Function::New(env, RunGuarded, "runGuarded"));
  exports.Set("setStackLimit", Napi::Function::New(env, SetStackLimit, "setStackLimit"));
  return exports;
}

}  // namespace

NODE_API_MODULE(warden_addon, Init)
