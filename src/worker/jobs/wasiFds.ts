/**
 * The job's file descriptors: stdio, the preopened directory and what the job opens beneath it.
 * Each carries its rights as node:wasi (uvwasi) computes them, so a call a descriptor was not
 * opened for fails the same way (ENOTCAPABLE).
 */
import { FsError, type DirNode, type FileNode } from './memoryFs.js';
import type { LogSink, OutputSink } from './sinks.js';
import { Errno, Rights } from './wasiTypes.js';

interface Common {
  rights: bigint;
  inheriting: bigint;
  /** `fdflags`: APPEND, NONBLOCK, ... */
  flags: number;
}

/** stdin: the job's input, read once from start to end, never seekable (a pipe). */
export interface StdinFd extends Common {
  kind: 'stdin';
  source: { bytes: Uint8Array; offset: number };
}

/** stdout or stderr: a sink, never seekable (a pipe). */
export interface SinkFd extends Common {
  kind: 'sink';
  sink: OutputSink | LogSink;
}

export interface FileFd extends Common {
  kind: 'file';
  node: FileNode;
  offset: number;
}

export interface DirFd extends Common {
  kind: 'dir';
  node: DirNode;
  /** The name a preopened directory is announced under (`fd_prestat_get`). */
  preopen: string | undefined;
  /** Directory entries as listed for the last `fd_readdir` at cookie 0, reused for later cookies. */
  listing: [string, FileNode | DirNode][] | undefined;
}

export type Descriptor = StdinFd | SinkFd | FileFd | DirFd;

/** Open descriptors a job may hold at once: bounds the table, as RLIMIT_NOFILE does a process. */
export const MAX_OPEN_FDS = 1024;

/** Stdio rights: read or write, flags and stat; no seek or tell (what makes wasi-libc's isatty false, with the filetype). */
export const STDIN_RIGHTS = Rights.FD_READ | Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE;
export const SINK_RIGHTS = Rights.FD_WRITE | Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE;

export class FdTable {
  readonly #fds = new Map<number, Descriptor>();

  /** Told when a file descriptor opens or closes (an unlinked file's bytes count until its last close). */
  constructor(private readonly files: { opened(node: FileNode): void; closed(node: FileNode): void } = { opened() {}, closed() {} }) {}

  get(fd: number): Descriptor {
    const descriptor = this.#fds.get(fd);
    if (descriptor === undefined) throw new FsError(Errno.BADF);
    return descriptor;
  }

  has(fd: number): boolean {
    return this.#fds.has(fd);
  }

  /** The descriptor at `fd` if it holds every right in `needed`; ENOTCAPABLE if not, EBADF if not open. */
  with(fd: number, needed: bigint): Descriptor {
    const descriptor = this.get(fd);
    if ((descriptor.rights & needed) !== needed) throw new FsError(Errno.NOTCAPABLE);
    return descriptor;
  }

  /** A directory descriptor holding `needed`: rights are checked first (a file or stdio lacks them), as node:wasi does. */
  dir(fd: number, needed: bigint): DirFd {
    const descriptor = this.with(fd, needed);
    if (descriptor.kind !== 'dir') throw new FsError(Errno.NOTDIR);
    return descriptor;
  }

  set(fd: number, descriptor: Descriptor): void {
    if (descriptor.kind === 'file') this.files.opened(descriptor.node);
    this.#fds.set(fd, descriptor);
  }

  /** Opens at the lowest free number, as POSIX and node:wasi do. */
  open(descriptor: Descriptor): number {
    if (this.#fds.size >= MAX_OPEN_FDS) throw new FsError(Errno.MFILE);
    let fd = 0;
    while (this.#fds.has(fd)) fd++;
    this.set(fd, descriptor);
    return fd;
  }

  close(fd: number): void {
    const descriptor = this.get(fd);
    this.#fds.delete(fd);
    if (descriptor.kind === 'file') this.files.closed(descriptor.node);
  }

  /** `fd_renumber`: `from` replaces `to`, which must be open (as node:wasi requires) and is closed. */
  renumber(from: number, to: number): void {
    const descriptor = this.get(from);
    this.get(to);
    if (from === to) return;
    this.close(to);
    this.#fds.set(to, descriptor);
    this.#fds.delete(from);
  }
}
