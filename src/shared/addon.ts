import { fileURLToPath } from 'node:url';

/** The native addon's surface (native/addon.cc). */
export interface NativeAddon {
  lockdown(): void;
  /**
   * One-job processes only, once the job's files are read: a third TSYNC filter answers EACCES
   * to every call that opens, creates, changes or removes a path or makes a socket.
   */
  lockdownJob(): void;
  /** `lockdownJob`'s BPF program as the kernel takes it (8 bytes an instruction: code, jt, jf, k), for its test. */
  jobFilterProgram(): Buffer;
  attest(): {
    seccompMode: number;
    noNewPrivs: boolean;
    uid: number;
    gid: number;
    euid: number;
    egid: number;
    capEffective: string;
    capPermitted: string;
    capBounding: string;
    landlockAbi: number;
    pid: number;
    ppid: number;
    hostname: string;
  };
  probeExecve(): string;
  probeFork(): string;
  probeSyscall(name: string): string;
  /** flock(fd, LOCK_EX | LOCK_NB): 'OK' or the errno name. Used by the host for the cache dir lock. */
  tryLock(fd: number): string;
  /** The calling thread's CPU-time clock (pthread_getcpuclockid): any thread of the process can read it. */
  threadCpuClock(): number;
  /** A clock's reading in ns (clock_gettime). */
  cpuClockNs(clock: number): number;
  /** This process's peak resident set (getrusage's ru_maxrss), in bytes: one syscall, cheap from the first call. */
  peakRssBytes(): number;
  /**
   * Calls `fn()` on this thread under the addon's watchdog: past `cpuNs` of this thread's CPU time
   * or `wallNs` of wall-clock time V8 terminates it. 0: it returned; 1: stopped for CPU; 2: for
   * wall-clock time. A call that has not unwound `graceNs` after its stop ends the process (75).
   * An exception `fn` throws is rethrown.
   */
  runGuarded(fn: () => void, cpuNs: number, wallNs: number, graceNs: number): number;
  /** Sets this thread's V8 stack limit `bytes` below the caller. */
  setStackLimit(bytes: number): void;
  /**
   * madvise(MADV_HUGEPAGE) on the whole 2 MiB pages of `buffer` (or of a wasm memory's reservation
   * up to `reservedBytes`): the offset of the first one in the buffer, -1 when there is none, -2
   * when madvise refused.
   */
  adviseHugePages(buffer: ArrayBuffer, reservedBytes?: number): number;
  /**
   * An ArrayBuffer of `n` bytes (contents undefined) in memory the addon keeps: 2 MiB-aligned,
   * advised MADV_HUGEPAGE, put back in a bounded free list once collected (see `keptBuffer` in
   * src/shared/hugePages.ts).
   */
  keptBuffer(n: number): ArrayBuffer;
  /** Idle kept memory, bytes; with `max`, trimmed to it first (oldest first). */
  keptIdleBytes(max?: number): number;
  /**
   * A unix stream socketpair (fds), both ends close-on-exec, each end's send buffer raised to
   * `sendBufferBytes` (forced where the process may, else up to net.core.wmem_max).
   */
  socketPair(sendBufferBytes?: number): [number, number];
  /** A pipe [read, write], both ends close-on-exec. */
  pipe(): [number, number];
  /**
   * Starts `file` (argv `argv`, argv[0] included) in `cwd`, in a session of its own, with an empty
   * environment, every signal at its default and none blocked, stdin /dev/null and `fds[i]` as its
   * fd i + 1 (each must be above i + 1). posix_spawn: the host's page tables are not copied.
   * Throws (`code`: the errno name) when the file cannot be run. Returns the pid.
   */
  spawn(file: string, argv: string[], cwd: string, fds: number[]): number;
  /**
   * Calls `callback(code, signal)` (a signal number) once the child `pid` has exited, without
   * reaping it, from a thread of its own; throws when no thread can be made.
   */
  waitExit(pid: number, callback: (code: number | null, signal: number | null) => void): void;
  /** Reaps the exited child `pid` (with `wait`, once it has exited). */
  reap(pid: number, wait?: boolean): void;
  /** Writes the SHA-256 of `first` then `second`, read in place (node's own OpenSSL), into the 32 bytes of `out`. */
  sha256(first: Uint8Array, second: Uint8Array, out: Uint8Array): void;
}

/** Path of the addon relative to this file: dist/shared → build/Release (the worker bundles in dist/worker are at the same depth). */
export const ADDON_RELATIVE_PATH = '../../build/Release/warden_addon.node';

// Loaded lazily and once: the host process only needs the path, the worker needs the code.
let loaded: NativeAddon | undefined;

/** Loads the native addon (inside the worker, or in tests). */
export function loadAddon(): NativeAddon {
  if (!loaded) {
    // process.dlopen directly: createRequire from an ES module costs about a millisecond of
    // the worker's cold start for nothing.
    const module = { exports: {} as NativeAddon };
    process.dlopen(module, fileURLToPath(new URL(ADDON_RELATIVE_PATH, import.meta.url)));
    loaded = module.exports;
  }
  return loaded;
}

let optional: NativeAddon | null | undefined;

/** The addon where it loads, else null (tried once): for what only goes faster with it. */
export function optionalAddon(): NativeAddon | null {
  if (optional === undefined) {
    try {
      optional = loadAddon();
    } catch {
      optional = null;
    }
  }
  return optional;
}
