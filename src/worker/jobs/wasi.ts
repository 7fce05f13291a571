import crypto from 'node:crypto';
import { Fault, GuestMemory } from './guestMemory.js';
import { WASI_FUNCTIONS } from './hostFunctions.js';
import type { LogSink, OutputSink } from './sinks.js';
import { ClockId, Errno, EventType, Filetype, Rights, Size, SUBSCRIPTION_CLOCK_ABSTIME } from './wasiTypes.js';

/** Thrown by `proc_exit` to unwind the module; `execute` turns it into success or E_TRAP. */
export class ProcExit extends Error {
  override name = 'ProcExit';
  constructor(readonly exitCode: number) {
    super(`proc_exit(${exitCode})`);
  }
}

export interface WasiStdio {
  stdin: Uint8Array;
  stdout: OutputSink | LogSink;
  stderr: OutputSink | LogSink;
}

/**
 * argv is `["main"]`: the design says "no arguments", but C programs commonly read `argv[0]`
 * (usage messages, getopt) and an empty argv makes them dereference NULL.
 */
const ARGV0 = new TextEncoder().encode('main\0');

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;

type WasiFunction = (...args: never[]) => number | void;

/**
 * An in-memory WASI preview 1: stdin is the job input, stdout and stderr go to sinks, and there is
 * no file, no preopen, no environment, no socket. Nothing here touches the host: node:wasi is not
 * used because it needs real file descriptors, which a sandboxed job must not have.
 */
export class WasiShim {
  readonly memory = new GuestMemory();
  readonly #stdio: WasiStdio;
  #stdinOffset = 0;
  readonly #open = new Set([STDIN, STDOUT, STDERR]);
  /** Realtime is derived from the monotonic clock so that both advance together. */
  readonly #realtimeBase = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

  readonly #charge: (bytes: number) => void;

  /**
   * @param charge called with the bytes a call is about to move between linear memory and the
   *   host (the job's fuel meter); it throws to stop the call when the job is out of fuel
   */
  constructor(stdio: WasiStdio, charge: (bytes: number) => void = () => {}) {
    this.#stdio = stdio;
    this.#charge = charge;
  }

  /** The `wasi_snapshot_preview1` import object; every preview 1 function is present. */
  imports(): Record<string, WasiFunction> {
    const table = this.#functions();
    const imports: Record<string, WasiFunction> = {};
    for (const name of WASI_FUNCTIONS.keys()) {
      const fn = table[name];
      if (fn === undefined) throw new Error(`WASI shim has no ${name}`);
      imports[name] = (...args: never[]) => {
        try {
          return fn(...args);
        } catch (error) {
          if (error instanceof Fault) return Errno.FAULT;
          throw error;
        }
      };
    }
    return imports;
  }

  #now(clock: number): bigint | undefined {
    if (clock === ClockId.MONOTONIC) return process.hrtime.bigint();
    if (clock === ClockId.REALTIME) return this.#realtimeBase + process.hrtime.bigint();
    return undefined;
  }

  /** Errno for a call on `fd` that stdio cannot serve: stdio lacks the capability, others are not open. */
  #refuse(fd: number, forStdio: number = Errno.NOTCAPABLE): number {
    return this.#open.has(fd) ? forStdio : Errno.BADF;
  }

  #sink(fd: number): OutputSink | LogSink | undefined {
    if (!this.#open.has(fd)) return undefined;
    return fd === STDOUT ? this.#stdio.stdout : fd === STDERR ? this.#stdio.stderr : undefined;
  }

  #fdWrite(fd: number, iovs: number, iovsLength: number, writtenPtr: number): number {
    const sink = this.#sink(fd);
    if (sink === undefined) return this.#refuse(fd);
    const m = this.memory;
    let written = 0;
    for (let n = 0; n < iovsLength >>> 0; n++) {
      const chunk = m.bytes(m.u32(iovs + n * Size.IOVEC), m.u32(iovs + n * Size.IOVEC + 4));
      this.#charge(Size.IOVEC + chunk.byteLength);
      sink.write(chunk);
      written += chunk.byteLength;
    }
    m.setU32(writtenPtr, written);
    return Errno.SUCCESS;
  }

  #fdRead(fd: number, iovs: number, iovsLength: number, readPtr: number): number {
    if (fd !== STDIN || !this.#open.has(fd)) return this.#refuse(fd);
    const m = this.memory;
    const stdin = this.#stdio.stdin;
    let read = 0;
    for (let n = 0; n < iovsLength >>> 0 && this.#stdinOffset < stdin.byteLength; n++) {
      const target = m.bytes(m.u32(iovs + n * Size.IOVEC), m.u32(iovs + n * Size.IOVEC + 4));
      const chunk = stdin.subarray(this.#stdinOffset, this.#stdinOffset + target.byteLength);
      this.#charge(Size.IOVEC + chunk.byteLength);
      target.set(chunk);
      this.#stdinOffset += chunk.byteLength;
      read += chunk.byteLength;
    }
    m.setU32(readPtr, read);
    return Errno.SUCCESS;
  }

  #fdstat(fd: number, ptr: number): number {
    if (!this.#open.has(fd)) return Errno.BADF;
    const rights = fd === STDIN ? Rights.FD_READ : Rights.FD_WRITE;
    this.memory.zero(ptr, Size.FDSTAT);
    // A character device without seek rights: what a terminal or pipe looks like to wasi-libc.
    this.memory.setU8(ptr, Filetype.CHARACTER_DEVICE);
    this.memory.setU64(ptr + 8, rights | Rights.POLL_FD_READWRITE);
    return Errno.SUCCESS;
  }

  #filestat(fd: number, ptr: number): number {
    if (!this.#open.has(fd)) return Errno.BADF;
    this.memory.zero(ptr, Size.FILESTAT);
    this.memory.setU8(ptr + 16, Filetype.CHARACTER_DEVICE);
    return Errno.SUCCESS;
  }

  #randomGet(ptr: number, length: number): number {
    const target = this.memory.bytes(ptr, length);
    this.#charge(target.byteLength);
    // getRandomValues fills at most 65536 bytes per call.
    for (let offset = 0; offset < target.byteLength; offset += 65_536) {
      crypto.getRandomValues(target.subarray(offset, offset + 65_536));
    }
    return Errno.SUCCESS;
  }

  /**
   * Minimal `poll_oneoff`: stdio is always ready, so fd subscriptions complete at once; with none,
   * the thread sleeps until the earliest clock subscription (how wasi-libc implements `sleep`).
   */
  #pollOneoff(inPtr: number, outPtr: number, count: number, eventsPtr: number): number {
    const m = this.memory;
    if (count >>> 0 === 0) return Errno.INVAL;
    this.#charge((count >>> 0) * (Size.SUBSCRIPTION + Size.EVENT));
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
        const fd = m.u32(sub + 16);
        const ok = type === EventType.FD_READ ? fd === STDIN : fd === STDOUT || fd === STDERR;
        const nbytes = fd === STDIN ? BigInt(this.#stdio.stdin.byteLength - this.#stdinOffset) : 0n;
        events.push({ userdata, type, error: this.#open.has(fd) && ok ? Errno.SUCCESS : Errno.BADF, nbytes });
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

  #sleepUntilFirst(clocks: { userdata: bigint; deadline: bigint | undefined; clock: number }[], events: { userdata: bigint; error: number; type: number; nbytes: bigint }[]): void {
    const first = clocks.reduce((a, b) => (b.deadline! < a.deadline! ? b : a));
    const remaining = first.deadline! - this.#now(first.clock)!;
    // The job thread may block: the CPU-time watch does not count sleep, the wall-clock bound does.
    if (remaining > 0n) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(remaining) / 1e6);
    for (const c of clocks) {
      if (c.deadline! <= this.#now(c.clock)!) events.push({ userdata: c.userdata, type: EventType.CLOCK, error: Errno.SUCCESS, nbytes: 0n });
    }
  }

  #functions(): Record<string, WasiFunction> {
    const m = this.memory;
    const refuse = (fd: number) => this.#refuse(fd);
    const notSeekable = (fd: number) => this.#refuse(fd, Errno.SPIPE);
    const notSocket = (fd: number) => this.#refuse(fd, Errno.NOTSOCK);
    return {
      args_sizes_get: (argcPtr: number, bufSizePtr: number) => {
        m.setU32(argcPtr, 1);
        m.setU32(bufSizePtr, ARGV0.byteLength);
        return Errno.SUCCESS;
      },
      args_get: (argvPtr: number, bufPtr: number) => {
        m.bytes(bufPtr, ARGV0.byteLength).set(ARGV0);
        m.setU32(argvPtr, bufPtr);
        return Errno.SUCCESS;
      },
      environ_sizes_get: (countPtr: number, bufSizePtr: number) => {
        m.setU32(countPtr, 0);
        m.setU32(bufSizePtr, 0);
        return Errno.SUCCESS;
      },
      environ_get: () => Errno.SUCCESS,
      clock_res_get: (clock: number, ptr: number) => {
        if (this.#now(clock) === undefined) return Errno.INVAL;
        m.setU64(ptr, 1000n);
        return Errno.SUCCESS;
      },
      clock_time_get: (clock: number, _precision: bigint, ptr: number) => {
        const now = this.#now(clock);
        if (now === undefined) return Errno.INVAL;
        m.setU64(ptr, now);
        return Errno.SUCCESS;
      },
      fd_advise: refuse,
      fd_allocate: refuse,
      fd_close: (fd: number) => (this.#open.delete(fd) ? Errno.SUCCESS : Errno.BADF),
      fd_datasync: refuse,
      fd_fdstat_get: (fd: number, ptr: number) => this.#fdstat(fd, ptr),
      fd_fdstat_set_flags: refuse,
      fd_fdstat_set_rights: refuse,
      fd_filestat_get: (fd: number, ptr: number) => this.#filestat(fd, ptr),
      fd_filestat_set_size: refuse,
      fd_filestat_set_times: refuse,
      fd_pread: notSeekable,
      // EBADF for every fd: wasi-libc scans preopens from fd 3 until EBADF, and finds none.
      fd_prestat_get: () => Errno.BADF,
      fd_prestat_dir_name: () => Errno.BADF,
      fd_pwrite: notSeekable,
      fd_read: (fd: number, iovs: number, count: number, ptr: number) => this.#fdRead(fd, iovs, count, ptr),
      fd_readdir: refuse,
      fd_renumber: refuse,
      fd_seek: notSeekable,
      fd_sync: refuse,
      fd_tell: notSeekable,
      fd_write: (fd: number, iovs: number, count: number, ptr: number) => this.#fdWrite(fd, iovs, count, ptr),
      path_create_directory: refuse,
      path_filestat_get: refuse,
      path_filestat_set_times: refuse,
      path_link: refuse,
      path_open: refuse,
      path_readlink: refuse,
      path_remove_directory: refuse,
      path_rename: refuse,
      path_symlink: (_old: number, _oldLength: number, fd: number) => refuse(fd),
      path_unlink_file: refuse,
      poll_oneoff: (inPtr: number, outPtr: number, count: number, ptr: number) => this.#pollOneoff(inPtr, outPtr, count, ptr),
      proc_exit: (code: number) => {
        throw new ProcExit(code >>> 0);
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
