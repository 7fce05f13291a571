import { nodeCrypto } from '../../shared/builtins.js';
import { DEFAULT_EXECUTE_LIMITS } from '../../shared/limits.js';
import { JobError } from '../../shared/jobError.js';
import { Fault, GuestMemory } from './guestMemory.js';
import { WASI_FUNCTIONS } from '../../shared/hostFunctions.js';
import { FsError, MemoryFs, type FsLimits } from './memoryFs.js';
import type { LogSink, OutputSink } from './sinks.js';
import { FdTable, SINK_RIGHTS, STDIN_RIGHTS } from './wasiFds.js';
import { FileCalls } from './wasiFiles.js';
import { ClockId, DIRECTORY_INHERITING, DIRECTORY_RIGHTS, Errno, EventType, FdFlags, Size, SUBSCRIPTION_CLOCK_ABSTIME } from './wasiTypes.js';

/** Thrown by `proc_exit` to unwind the module; `execute` turns it into success or E_EXIT. */
export class ProcExit extends Error {
  override name = 'ProcExit';
  constructor(readonly exitCode: number) {
    super(`proc_exit(${exitCode})`);
  }
}

/** Everything a job's WASI world is made of. */
export interface WasiConfig {
  stdin: Uint8Array;
  stdout: OutputSink | LogSink;
  stderr: OutputSink | LogSink;
  /** argv, argv[0] included. Default `DEFAULT_ARGS`. */
  args?: readonly string[];
  /** `NAME=value` strings. Default none. */
  env?: readonly string[];
  /** The files the job's directory starts with: relative paths (checked by the caller) and contents. Default none. */
  files?: readonly (readonly [string, Uint8Array])[];
  /** Default: the default execute limits. */
  fsLimits?: FsLimits;
  /** CPU time of the job's thread, ns: the job's CPU-time clocks count from the job's start. Default: the process's. */
  cpuNs?: () => bigint;
  /** The reading of `cpuNs` at the job's start, when the caller took one. Default: read at construction. */
  cpuStartNs?: bigint;
  /**
   * Called with the bytes each call moves between linear memory and the host side (the job's fuel
   * meter); it throws to stop the job when it is out of fuel.
   */
  charge?: (bytes: number) => void;
  /** Called with the items of work a call does beyond copying (`HOST_ITEM_FUEL`); throws like `charge`. */
  chargeItems?: (items: number) => void;
}

/** argv when the caller gives none: C programs commonly read argv[0] (usage messages, getopt). */
export const DEFAULT_ARGS: readonly string[] = ['main'];

/** The name the job's directory is preopened under: absolute and relative paths both resolve in it. */
export const PREOPEN_NAME = '/';

/** A CPU-clock read is a system call (clock_gettime on a thread's clock): this many items. */
const CPU_CLOCK_ITEMS = 16;
/** Bytes of randomness per item: the generator costs about 2 fuel a byte more than a copy. */
const RANDOM_BYTES_PER_ITEM = 512;

/** Items of work per `poll_oneoff` subscription (read, classified, an event built and written). */
const SUBSCRIPTION_ITEMS = 2;

/** A call that fails unwinds with an exception (several µs in V8): this many items. */
const FAILED_CALL_ITEMS = 16;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;

/** CPU time of this process, ns. */
export function processCpuNs(): bigint {
  const { user, system } = process.cpuUsage();
  return BigInt(user + system) * 1000n;
}

type WasiFunction = (...args: never[]) => number | void;

const encoder = new TextEncoder();

/** NUL-terminated strings laid out as `args_get` and `environ_get` write them. */
function cStrings(strings: readonly string[]): Uint8Array[] {
  return strings.map((s) => {
    const bytes = encoder.encode(s);
    const out = new Uint8Array(bytes.byteLength + 1);
    out.set(bytes);
    return out;
  });
}

/**
 * An in-memory WASI preview 1: stdin is the job input, stdout and stderr go to sinks, argv and the
 * environment are the caller's, and fd 3 is the job's own directory, preopened as `/`, held in this
 * thread's memory (`memoryFs.ts`). Nothing here touches the host: node:wasi is not used because it
 * needs real file descriptors and paths, which a sandboxed job must not have.
 *
 * stdio is what a pipe is: not a terminal (so wasi-libc's `isatty` is 0 and stdout is fully
 * buffered), not seekable.
 */
export class WasiShim {
  readonly memory = new GuestMemory();
  readonly fs: MemoryFs;
  readonly #fds: FdTable;
  readonly #args: Uint8Array[];
  readonly #env: Uint8Array[];
  /** Bytes of all args and all env strings, NULs included: what the `*_sizes_get` calls answer. */
  readonly #argsBytes: number;
  readonly #envBytes: number;
  readonly #cpuNs: () => bigint;
  readonly #cpuStart: bigint;
  readonly #stdin: { bytes: Uint8Array; offset: number };
  /** Realtime is derived from the monotonic clock so that both advance together. */
  readonly #realtimeBase = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  readonly #charge: (bytes: number) => void;
  readonly #chargeItems: (items: number) => void;
  #exitCode: number | undefined;
  #fatal: JobError | undefined;

  constructor(config: WasiConfig) {
    this.#args = cStrings(config.args ?? DEFAULT_ARGS);
    this.#env = cStrings(config.env ?? []);
    this.#argsBytes = this.#args.reduce((sum, s) => sum + s.byteLength, 0);
    this.#envBytes = this.#env.reduce((sum, s) => sum + s.byteLength, 0);
    this.#cpuNs = config.cpuNs ?? processCpuNs;
    this.#charge = config.charge ?? (() => {});
    this.#chargeItems = config.chargeItems ?? (() => {});
    this.#cpuStart = config.cpuStartNs ?? this.#cpuNs();
    this.#stdin = { bytes: config.stdin, offset: 0 };
    this.fs = new MemoryFs(config.fsLimits ?? DEFAULT_EXECUTE_LIMITS, () => this.#realtime());
    this.#fds = new FdTable(this.fs);
    for (const [name, bytes] of config.files ?? []) this.fs.addInputFile(name, bytes);
    this.#fds.set(STDIN, { kind: 'stdin', source: this.#stdin, rights: STDIN_RIGHTS, inheriting: 0n, flags: 0 });
    this.#fds.set(STDOUT, { kind: 'sink', sink: config.stdout, rights: SINK_RIGHTS, inheriting: 0n, flags: FdFlags.APPEND });
    this.#fds.set(STDERR, { kind: 'sink', sink: config.stderr, rights: SINK_RIGHTS, inheriting: 0n, flags: FdFlags.APPEND });
    this.#fds.set(3, {
      kind: 'dir',
      node: this.fs.root,
      preopen: PREOPEN_NAME,
      listing: undefined,
      rights: DIRECTORY_RIGHTS,
      inheriting: DIRECTORY_INHERITING,
      flags: 0,
    });
  }

  /**
   * The `wasi_snapshot_preview1` import object: the preview 1 functions among `names` (by
   * default every one; a job passes those its module imports, so that no closure is made per job
   * for the others). A call that returns nothing succeeded; a Fault (a bad guest pointer) or an
   * FsError becomes its errno.
   */
  imports(names: Iterable<string> = WASI_FUNCTIONS.keys()): Record<string, WasiFunction> {
    const own = this.#functions();
    let files: FileCalls | undefined;
    const imports: Record<string, WasiFunction> = {};
    for (const name of names) {
      if (!WASI_FUNCTIONS.has(name)) continue;
      // The file calls are made only for a module that imports one.
      const target = (Object.hasOwn(own, name) ? own : (files ??= this.#fileCalls())) as unknown as Record<string, WasiFunction | undefined>;
      const fn = target[name];
      if (typeof fn !== 'function') throw new Error(`WASI shim has no ${name}`);
      imports[name] = (...args: never[]) => {
        // A process that exited does nothing more: a module that caught its own proc_exit (a
        // wasm catch_all catches it) is unwound again by each call it makes after it.
        if (this.#exitCode !== undefined) throw new ProcExit(this.#exitCode);
        // A job error a call threw (output too large, out of fuel) ended the job, as an exit does:
        // a module that caught it meets it again at each call, and `execute` fails with it.
        if (this.#fatal !== undefined) throw this.#fatal;
        try {
          return fn.apply(target, args) ?? Errno.SUCCESS;
        } catch (error) {
          // An errno or a bad pointer unwinds the call with an exception: dearer than the call.
          if (error instanceof Fault || error instanceof FsError) this.#worked(FAILED_CALL_ITEMS);
          if (error instanceof Fault) return Errno.FAULT;
          if (error instanceof FsError) return error.errno;
          if (error instanceof JobError) this.#fatal ??= error;
          throw error;
        }
      };
    }
    return imports;
  }

  #fileCalls(): FileCalls {
    return new FileCalls({ memory: this.memory, fds: this.#fds, fs: this.fs, now: () => this.#realtime(), moved: (bytes) => this.#moved(bytes), worked: (items) => this.#worked(items) });
  }

  /**
   * The one place every data-moving call reports the bytes it moved between the job and the host
   * side (stdio, files, argv, environment, randomness): metering hooks here.
   */
  #moved(bytes: number): void {
    this.#charge(bytes);
  }

  /** The one place every call reports the items of work it does beyond copying, before it does them. */
  #worked(items: number): void {
    this.#chargeItems(items);
  }

  /** The first job error a call threw (E_OUTPUT_TOO_LARGE, E_OUT_OF_FUEL): the job's end, even if the module caught it. */
  get fatal(): JobError | undefined {
    return this.#fatal;
  }

  /** The code of the module's first `proc_exit`, once it called it. */
  get exitCode(): number | undefined {
    return this.#exitCode;
  }

  #realtime(): bigint {
    return this.#realtimeBase + process.hrtime.bigint();
  }

  #now(clock: number): bigint | undefined {
    switch (clock) {
      case ClockId.MONOTONIC:
        return process.hrtime.bigint();
      case ClockId.REALTIME:
        return this.#realtime();
      case ClockId.PROCESS_CPUTIME:
      case ClockId.THREAD_CPUTIME:
        // The job is one thread: its CPU time since the job started is both its process's and its
        // thread's. Reading it is a system call, charged as such.
        this.#worked(CPU_CLOCK_ITEMS);
        return this.#cpuNs() - this.#cpuStart;
      default:
        return undefined;
    }
  }

  #randomGet(ptr: number, length: number): number {
    const target = this.memory.bytes(ptr, length);
    // Generating randomness costs more than copying: charged before it is made.
    this.#worked(Math.ceil(target.byteLength / RANDOM_BYTES_PER_ITEM));
    this.#moved(target.byteLength);
    // getRandomValues fills at most 65536 bytes per call.
    for (let offset = 0; offset < target.byteLength; offset += 65_536) {
      nodeCrypto().getRandomValues(target.subarray(offset, offset + 65_536));
    }
    return Errno.SUCCESS;
  }

  /** `args_get` / `environ_get`: the pointers at `ptrs`, the strings at `buf`. */
  #copyStrings(strings: Uint8Array[], ptrs: number, buf: number): number {
    this.#worked(strings.length);
    let at = buf;
    for (const [n, bytes] of strings.entries()) {
      this.memory.bytes(at, bytes.byteLength).set(bytes);
      this.memory.setU32(ptrs + n * 4, at);
      at += bytes.byteLength;
    }
    this.#moved(at - buf);
    return Errno.SUCCESS;
  }

  #sizes(strings: Uint8Array[], bytes: number, countPtr: number, sizePtr: number): number {
    this.memory.setU32(countPtr, strings.length);
    this.memory.setU32(sizePtr, bytes);
    return Errno.SUCCESS;
  }

  /**
   * `poll_oneoff`: stdio and files are always ready, so fd subscriptions complete at once; with
   * none, the thread sleeps until the earliest clock subscription (how wasi-libc implements `sleep`).
   */
  #pollOneoff(inPtr: number, outPtr: number, count: number, eventsPtr: number): number {
    const m = this.memory;
    if (count >>> 0 === 0) return Errno.INVAL;
    // Each subscription is read, answered and written back: several items of work.
    m.bytes(inPtr, (count >>> 0) * Size.SUBSCRIPTION);
    this.#worked((count >>> 0) * SUBSCRIPTION_ITEMS);
    this.#moved((count >>> 0) * (Size.SUBSCRIPTION + Size.EVENT));
    const events: { userdata: bigint; error: number; type: number; nbytes: bigint }[] = [];
    const clocks: { userdata: bigint; deadline: bigint | undefined; clock: number }[] = [];
    for (let n = 0; n < count >>> 0; n++) {
      const sub = inPtr + n * Size.SUBSCRIPTION;
      const userdata = m.u64(sub);
      const type = m.u8(sub + 8);
      if (type === EventType.CLOCK) {
        const clock = m.u32(sub + 16);
        const timeout = m.u64(sub + 24);
        const absolute = (m.u16(sub + 40) & SUBSCRIPTION_CLOCK_ABSTIME) !== 0;
        const now = this.#now(clock);
        clocks.push({ userdata, clock, deadline: now === undefined ? undefined : absolute ? timeout : now + timeout });
      } else if (type === EventType.FD_READ || type === EventType.FD_WRITE) {
        events.push({ userdata, type, ...this.#fdReadiness(m.u32(sub + 16), type) });
      } else {
        events.push({ userdata, type, error: Errno.INVAL, nbytes: 0n });
      }
    }
    if (events.length === 0) {
      const invalid = clocks.filter((c) => c.deadline === undefined);
      for (const c of invalid) events.push({ userdata: c.userdata, type: EventType.CLOCK, error: Errno.INVAL, nbytes: 0n });
      if (events.length === 0) this.#sleepUntilFirst(clocks, events);
    }
    for (const [n, event] of events.entries()) {
      const at = outPtr + n * Size.EVENT;
      m.zero(at, Size.EVENT);
      m.setU64(at, event.userdata);
      m.setU16(at + 8, event.error);
      m.setU8(at + 10, event.type);
      m.setU64(at + 16, event.nbytes);
    }
    m.setU32(eventsPtr, events.length);
    return Errno.SUCCESS;
  }

  /** An fd subscription's event: ready at once, with the bytes left to read where that is known. */
  #fdReadiness(fd: number, type: number): { error: number; nbytes: bigint } {
    if (!this.#fds.has(fd)) return { error: Errno.BADF, nbytes: 0n };
    const descriptor = this.#fds.get(fd);
    const reading = type === EventType.FD_READ;
    if (descriptor.kind === 'stdin') return reading ? { error: Errno.SUCCESS, nbytes: BigInt(this.#stdin.bytes.byteLength - this.#stdin.offset) } : { error: Errno.BADF, nbytes: 0n };
    if (descriptor.kind === 'sink') return reading ? { error: Errno.BADF, nbytes: 0n } : { error: Errno.SUCCESS, nbytes: 0n };
    if (descriptor.kind === 'file') return { error: Errno.SUCCESS, nbytes: reading ? BigInt(Math.max(0, descriptor.node.size - descriptor.offset)) : 0n };
    return { error: Errno.ISDIR, nbytes: 0n };
  }

  #sleepUntilFirst(clocks: { userdata: bigint; deadline: bigint | undefined; clock: number }[], events: { userdata: bigint; error: number; type: number; nbytes: bigint }[]): void {
    const first = clocks.reduce((a, b) => (b.deadline! < a.deadline! ? b : a));
    const remaining = first.deadline! - this.#now(first.clock)!;
    const cpuClock = first.clock === ClockId.PROCESS_CPUTIME || first.clock === ClockId.THREAD_CPUTIME;
    // The job thread may block: the CPU-time watch does not count sleep, the wall-clock bound does.
    // A CPU-time clock does not advance while the thread sleeps: such a wait ends at once.
    if (remaining > 0n && !cpuClock) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(remaining) / 1e6);
    for (const c of clocks) {
      if (c.deadline! <= this.#now(c.clock)! || (c === first && cpuClock)) events.push({ userdata: c.userdata, type: EventType.CLOCK, error: Errno.SUCCESS, nbytes: 0n });
    }
  }

  #functions(): Record<string, WasiFunction> {
    const m = this.memory;
    const notSocket = (fd: number) => (this.#fds.has(fd) ? Errno.NOTSOCK : Errno.BADF);
    return {
      args_sizes_get: (countPtr: number, sizePtr: number) => this.#sizes(this.#args, this.#argsBytes, countPtr, sizePtr),
      args_get: (argvPtr: number, bufPtr: number) => this.#copyStrings(this.#args, argvPtr, bufPtr),
      environ_sizes_get: (countPtr: number, sizePtr: number) => this.#sizes(this.#env, this.#envBytes, countPtr, sizePtr),
      environ_get: (envPtr: number, bufPtr: number) => this.#copyStrings(this.#env, envPtr, bufPtr),
      clock_res_get: (clock: number, ptr: number) => {
        if (this.#now(clock) === undefined) return Errno.INVAL;
        // What node:wasi reports for every clock.
        m.setU64(ptr, 1n);
        return Errno.SUCCESS;
      },
      clock_time_get: (clock: number, _precision: bigint, ptr: number) => {
        const now = this.#now(clock);
        if (now === undefined) return Errno.INVAL;
        m.setU64(ptr, now);
        return Errno.SUCCESS;
      },
      poll_oneoff: (inPtr: number, outPtr: number, count: number, ptr: number) => this.#pollOneoff(inPtr, outPtr, count, ptr),
      proc_exit: (code: number) => {
        this.#exitCode = code >>> 0;
        throw new ProcExit(this.#exitCode);
      },
      proc_raise: () => Errno.NOSYS,
      sched_yield: () => Errno.SUCCESS,
      random_get: (ptr: number, length: number) => this.#randomGet(ptr, length),
      sock_accept: notSocket,
      sock_recv: notSocket,
      sock_send: notSocket,
      sock_shutdown: notSocket,
    };
  }
}
