/**
 * The descriptor and path calls of the WASI shim (`fd_*`, `path_*`), served from the job's
 * in-memory directory (`memoryFs.ts`) and descriptor table (`wasiFds.ts`). Errnos, rights and
 * edge cases follow node:wasi on Linux, the reference the tests compare with.
 */
import { Fault, type GuestMemory } from './guestMemory.js';
import { FsError, type DirNode, type FileNode, type FsNode, type MemoryFs, type Resolved } from './memoryFs.js';
import { FdTable, type Descriptor, type DirFd, type FileFd } from './wasiFds.js';
import {
  DIRECTORY_INHERITING,
  DIRECTORY_RIGHTS,
  Errno,
  FdFlags,
  FILE_RIGHTS,
  Filetype,
  FstFlags,
  OFlags,
  PreopenType,
  Rights,
  Size,
  Whence,
} from './wasiTypes.js';

/** What the calls share with the rest of the shim. */
export interface FileContext {
  memory: GuestMemory;
  fds: FdTable;
  fs: MemoryFs;
  /** Realtime now, ns (for `*_NOW` time flags). */
  now(): bigint;
  /**
   * The one place every data-moving call reports the bytes it moved between the job and its
   * files or stdio (metering hooks here).
   */
  moved(bytes: number): void;
  /** Reports the items of work a call does beyond copying (`HOST_ITEM_FUEL`), before it does them. */
  worked(items: number): void;
}

/** Path bytes per item of work: decoding, splitting and walking a path is dearer than copying it. */
const PATH_BYTES_PER_ITEM = 32;
/** Items of work per directory entry `fd_readdir` lists (its name encoded, a dirent built and copied). */
const DIRENT_ITEMS = 8;

/** The rights that make a descriptor writable, as node:wasi decides the access mode from them. */
const WRITE_RIGHTS = Rights.FD_DATASYNC | Rights.FD_WRITE | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE;
const READ_RIGHTS = Rights.FD_READ | Rights.FD_READDIR;

/** The device number every node of the job's directory reports. */
const DEVICE = 1n;

function filetypeOf(descriptor: Descriptor): number {
  if (descriptor.kind === 'file') return Filetype.REGULAR_FILE;
  if (descriptor.kind === 'dir') return Filetype.DIRECTORY;
  // stdio is a pipe: neither a terminal (CHARACTER_DEVICE) nor seekable, as wasmtime reports a pipe.
  return Filetype.UNKNOWN;
}

function nodeFiletype(node: FsNode): number {
  return node.kind === 'file' ? Filetype.REGULAR_FILE : Filetype.DIRECTORY;
}

/**
 * The fd_* and path_* import functions, as methods (one object per job, no closure per call):
 * the shim wraps each as an import, answers an FsError thrown by one with its errno, and a call
 * that returns nothing with success.
 */
export class FileCalls {
  constructor(private readonly ctx: FileContext) {}

  private get m(): GuestMemory {
    return this.ctx.memory;
  }

  private get fds(): FdTable {
    return this.ctx.fds;
  }

  private get fs(): MemoryFs {
    return this.ctx.fs;
  }

  /**
   * Resolves a guest path against a directory, charged first: the path's bytes, and the walk up
   * from the directory (its depth) that joining and any new entry's path length take.
   */
  private resolvePath(base: DirNode, ptr: number, length: number): Resolved {
    const path = this.m.bytes(ptr, length);
    let depth = 0;
    for (let dir = base.parent; dir !== undefined; dir = dir.parent) depth++;
    this.ctx.worked(1 + 2 * depth + Math.ceil(path.byteLength / PATH_BYTES_PER_ITEM));
    this.ctx.moved(path.byteLength);
    return this.fs.resolve(base, path);
  }

  private resolveAt(fd: number, needed: bigint, ptr: number, length: number): { dirFd: DirFd; resolved: Resolved } {
    const dirFd = this.fds.dir(fd, needed);
    return { dirFd, resolved: this.resolvePath(dirFd.node, ptr, length) };
  }

  /** Sets a file's size, charged by the bytes it zero-fills or clears. */
  private setSize(node: FileNode, size: number): void {
    this.ctx.moved(Math.abs(size - node.size));
    this.fs.setSize(node, size);
  }

  private writeFilestat(ptr: number, node: FsNode | undefined, filetype: number): void {
    this.m.zero(ptr, Size.FILESTAT);
    // A directory's link count walks its entries.
    if (node?.kind === 'dir') this.ctx.worked(Math.ceil(node.entries.size / 4));
    if (node === undefined) {
      this.m.setU8(ptr + 16, filetype);
      return;
    }
    this.m.setU64(ptr, DEVICE);
    this.m.setU64(ptr + 8, node.ino);
    this.m.setU8(ptr + 16, filetype);
    // A directory's links, as on Linux: its name, its own `.`, and each subdirectory's `..`.
    this.m.setU64(ptr + 24, node.kind === 'file' ? BigInt(node.nlink) : BigInt(2 + [...node.entries.values()].filter((e) => e.kind === 'dir').length));
    this.m.setU64(ptr + 32, node.kind === 'file' ? BigInt(node.size) : 4096n);
    this.m.setU64(ptr + 40, node.atim);
    this.m.setU64(ptr + 48, node.mtim);
    this.m.setU64(ptr + 56, node.ctim);
  }

  private setTimes(node: FsNode, atim: bigint, mtim: bigint, flags: number): void {
    if ((flags & FstFlags.ATIM && flags & FstFlags.ATIM_NOW) || (flags & FstFlags.MTIM && flags & FstFlags.MTIM_NOW)) throw new FsError(Errno.INVAL);
    const now = this.ctx.now();
    if (flags & FstFlags.ATIM) node.atim = atim;
    if (flags & FstFlags.ATIM_NOW) node.atim = now;
    if (flags & FstFlags.MTIM) node.mtim = mtim;
    if (flags & FstFlags.MTIM_NOW) node.mtim = now;
    node.ctim = now;
  }

  /** The iovecs at `iovs` as views of guest memory. */
  private iovecs(iovs: number, count: number): Uint8Array[] {
    // The whole array must be in memory (EFAULT if not, before any charge); then each iovec is
    // charged before the loop walks it. Empty iovecs take no view.
    const n = count >>> 0;
    if (n * Size.IOVEC > 0xffff_ffff) throw new Fault(`${n} iovecs do not fit in memory`);
    const array = this.m.bytes(iovs, n * Size.IOVEC);
    this.ctx.worked(n);
    this.ctx.moved(array.byteLength);
    const entries = new DataView(array.buffer, array.byteOffset, array.byteLength);
    const views: Uint8Array[] = [];
    for (let at = 0; at < array.byteLength; at += Size.IOVEC) {
      const length = entries.getUint32(at + 4, true);
      const view = this.m.bytes(entries.getUint32(at, true), length);
      if (length > 0) views.push(view);
    }
    return views;
  }

  /** Reads a file into iovecs from `offset`; returns the bytes read. */
  private readFile(node: FileNode, offset: number, targets: Uint8Array[]): number {
    const bytes = node.bytes();
    let read = 0;
    for (const target of targets) {
      if (offset + read >= bytes.byteLength) break;
      const chunk = bytes.subarray(offset + read, offset + read + target.byteLength);
      target.set(chunk);
      read += chunk.byteLength;
    }
    this.ctx.moved(read);
    return read;
  }

  /** Writes iovecs to a file at `offset`; a full budget after some bytes is a short write, before any ENOSPC. */
  private writeFile(node: FileNode, offset: number, sources: Uint8Array[]): number {
    // A write past the end zero-fills the gap: charged like the bytes written.
    const gap = Math.max(0, offset - node.size);
    let written = 0;
    for (const source of sources) {
      let wrote: number;
      try {
        wrote = this.fs.write(node, offset + written, source);
      } catch (error) {
        if (written > 0 && error instanceof FsError) break;
        throw error;
      }
      written += wrote;
      if (wrote < source.byteLength) break;
    }
    this.ctx.moved(written + (written > 0 ? gap : 0));
    return written;
  }

  private fileFd(fd: number, needed: bigint): FileFd {
    // stdio lacks the seek, size and allocation rights: ENOTCAPABLE, as node:wasi answers for a pipe.
    const descriptor = this.fds.with(fd, needed);
    if (descriptor.kind === 'dir') throw new FsError(Errno.ISDIR);
    if (descriptor.kind !== 'file') throw new FsError(Errno.SPIPE);
    return descriptor;
  }

  private offsetOf(value: bigint): number {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FsError(Errno.INVAL);
    return Number(value);
  }


  fd_advise(fd: number, _offset: bigint, _length: bigint, advice: number): number | void {
    const descriptor = this.fds.with(fd, Rights.FD_ADVISE);
    if (descriptor.kind === 'stdin' || descriptor.kind === 'sink') throw new FsError(Errno.SPIPE);
    if (advice >>> 0 > 5) throw new FsError(Errno.INVAL);
  }

  fd_allocate(fd: number, offset: bigint, length: bigint): number | void {
    const { node } = this.fileFd(fd, Rights.FD_ALLOCATE);
    const end = this.offsetOf(offset) + this.offsetOf(length);
    if (end > node.size) this.setSize(node, end);
  }

  fd_close(fd: number): number | void {
    this.fds.close(fd);
  }
  fd_datasync(fd: number): number | void {
    this.fds.with(fd, Rights.FD_DATASYNC);
  }

  fd_sync(fd: number): number | void {
    this.fds.with(fd, Rights.FD_SYNC);
  }

  fd_fdstat_get(fd: number, ptr: number): number | void {
    const descriptor = this.fds.get(fd);
    this.m.zero(ptr, Size.FDSTAT);
    this.m.setU8(ptr, filetypeOf(descriptor));
    this.m.setU16(ptr + 2, descriptor.flags);
    this.m.setU64(ptr + 8, descriptor.rights);
    this.m.setU64(ptr + 16, descriptor.inheriting);
  }

  fd_fdstat_set_flags(fd: number, flags: number): number | void {
    const descriptor = this.fds.with(fd, Rights.FD_FDSTAT_SET_FLAGS);
    // Linux's F_SETFL changes only APPEND and NONBLOCK; the sync flags stay as opened.
    const settable = FdFlags.APPEND | FdFlags.NONBLOCK;
    descriptor.flags = (descriptor.flags & ~settable) | (flags & settable);
  }

  fd_fdstat_set_rights(fd: number, rights: bigint, inheriting: bigint): number | void {
    const descriptor = this.fds.get(fd);
    const base = BigInt.asUintN(64, rights);
    const inherit = BigInt.asUintN(64, inheriting);
    if ((base & ~descriptor.rights) !== 0n || (inherit & ~descriptor.inheriting) !== 0n) throw new FsError(Errno.NOTCAPABLE);
    descriptor.rights = base;
    descriptor.inheriting = inherit;
  }

  fd_filestat_get(fd: number, ptr: number): number | void {
    const descriptor = this.fds.with(fd, Rights.FD_FILESTAT_GET);
    this.writeFilestat(ptr, descriptor.kind === 'file' || descriptor.kind === 'dir' ? descriptor.node : undefined, filetypeOf(descriptor));
  }

  fd_filestat_set_size(fd: number, size: bigint): number | void {
    const { node } = this.fileFd(fd, Rights.FD_FILESTAT_SET_SIZE);
    this.setSize(node, this.offsetOf(size));
  }

  fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, flags: number): number | void {
    const descriptor = this.fds.with(fd, Rights.FD_FILESTAT_SET_TIMES);
    if (descriptor.kind === 'file' || descriptor.kind === 'dir') this.setTimes(descriptor.node, atim, mtim, flags);
  }

  fd_pread(fd: number, iovs: number, count: number, offset: bigint, readPtr: number): number | void {
    const { node } = this.fileFd(fd, Rights.FD_READ | Rights.FD_SEEK);
    this.m.setU32(readPtr, this.readFile(node, this.offsetOf(offset), this.iovecs(iovs, count)));
  }

  fd_pwrite(fd: number, iovs: number, count: number, offset: bigint, writtenPtr: number): number | void {
    const descriptor = this.fileFd(fd, Rights.FD_WRITE | Rights.FD_SEEK);
    // With O_APPEND, Linux's pwrite appends whatever the offset.
    const at = descriptor.flags & FdFlags.APPEND ? descriptor.node.size : this.offsetOf(offset);
    this.m.setU32(writtenPtr, this.writeFile(descriptor.node, at, this.iovecs(iovs, count)));
  }

  fd_read(fd: number, iovs: number, count: number, readPtr: number): number | void {
    // Reading stdout or stderr is what reading the write end of a pipe is: EBADF, as node:wasi answers.
    if (this.fds.get(fd).kind === 'sink') throw new FsError(Errno.BADF);
    const descriptor = this.fds.with(fd, Rights.FD_READ);
    if (descriptor.kind === 'dir') throw new FsError(Errno.ISDIR);
    if (descriptor.kind === 'sink') throw new FsError(Errno.BADF);
    const targets = this.iovecs(iovs, count);
    let read: number;
    if (descriptor.kind === 'file') {
      read = this.readFile(descriptor.node, descriptor.offset, targets);
      descriptor.offset += read;
    } else {
      const source = descriptor.source;
      read = 0;
      for (const target of targets) {
        if (source.offset >= source.bytes.byteLength) break;
        const chunk = source.bytes.subarray(source.offset, source.offset + target.byteLength);
        target.set(chunk);
        source.offset += chunk.byteLength;
        read += chunk.byteLength;
      }
      this.ctx.moved(read);
    }
    this.m.setU32(readPtr, read);
  }

  fd_write(fd: number, iovs: number, count: number, writtenPtr: number): number | void {
    if (this.fds.get(fd).kind === 'stdin') throw new FsError(Errno.BADF);
    const descriptor = this.fds.with(fd, Rights.FD_WRITE);
    if (descriptor.kind === 'dir') throw new FsError(Errno.ISDIR);
    if (descriptor.kind === 'stdin') throw new FsError(Errno.BADF);
    const sources = this.iovecs(iovs, count);
    let written = 0;
    if (descriptor.kind === 'file') {
      const at = descriptor.flags & FdFlags.APPEND ? descriptor.node.size : descriptor.offset;
      written = this.writeFile(descriptor.node, at, sources);
      descriptor.offset = at + written;
    } else {
      for (const chunk of sources) {
        descriptor.sink.write(chunk);
        written += chunk.byteLength;
      }
      this.ctx.moved(written);
    }
    this.m.setU32(writtenPtr, written);
  }

  fd_seek(fd: number, offset: bigint, whence: number, newOffsetPtr: number): number | void {
    const descriptor = this.fds.with(fd, offset === 0n && whence === Whence.CUR ? Rights.FD_TELL : Rights.FD_SEEK);
    if (descriptor.kind !== 'file') throw new FsError(Errno.NOTCAPABLE);
    const base = whence === Whence.SET ? 0n : whence === Whence.CUR ? BigInt(descriptor.offset) : whence === Whence.END ? BigInt(descriptor.node.size) : undefined;
    if (base === undefined) throw new FsError(Errno.INVAL);
    const target = base + offset;
    if (target < 0n) throw new FsError(Errno.INVAL);
    if (target > BigInt(Number.MAX_SAFE_INTEGER)) throw new FsError(Errno.OVERFLOW);
    descriptor.offset = Number(target);
    this.m.setU64(newOffsetPtr, target);
  }

  fd_tell(fd: number, ptr: number): number | void {
    const descriptor = this.fds.with(fd, Rights.FD_TELL);
    if (descriptor.kind !== 'file') throw new FsError(Errno.NOTCAPABLE);
    this.m.setU64(ptr, BigInt(descriptor.offset));
  }

  fd_prestat_get(fd: number, ptr: number): number | void {
    const descriptor = this.fds.get(fd);
    if (descriptor.kind !== 'dir' || descriptor.preopen === undefined) throw new FsError(Errno.INVAL);
    this.m.setU8(ptr, PreopenType.DIR);
    this.m.setU32(ptr + 4, new TextEncoder().encode(descriptor.preopen).byteLength);
  }

  fd_prestat_dir_name(fd: number, ptr: number, length: number): number | void {
    const descriptor = this.fds.get(fd);
    if (descriptor.kind !== 'dir' || descriptor.preopen === undefined) throw new FsError(Errno.INVAL);
    const name = new TextEncoder().encode(descriptor.preopen);
    if (length >>> 0 < name.byteLength) throw new FsError(Errno.NAMETOOLONG);
    this.m.bytes(ptr, name.byteLength).set(name);
  }

  fd_readdir(fd: number, buf: number, length: number, cookie: bigint, usedPtr: number): number | void {
    const descriptor = this.fds.with(fd, Rights.FD_READDIR);
    if (descriptor.kind !== 'dir') throw new FsError(Errno.NOTDIR);
    // A listing from cookie 0 is a snapshot: later cookies index into it, so a directory that
    // changes between calls neither repeats nor skips the entries listed.
    const target = this.m.bytes(buf, length);
    if (cookie === 0n || descriptor.listing === undefined) {
      this.ctx.worked(Math.ceil(descriptor.node.entries.size / 4));
      descriptor.listing = [...descriptor.node.entries];
    }
    let used = 0;
    const entries = descriptor.listing;
    for (let index = Number(BigInt.asUintN(53, cookie)); index < entries.length && used < target.byteLength; index++) {
      const [name, node] = entries[index]!;
      this.ctx.worked(DIRENT_ITEMS);
      const nameBytes = new TextEncoder().encode(name);
      const dirent = new Uint8Array(Size.DIRENT + nameBytes.byteLength);
      const view = new DataView(dirent.buffer);
      view.setBigUint64(0, BigInt(index + 1), true);
      view.setBigUint64(8, node.ino, true);
      view.setUint32(16, nameBytes.byteLength, true);
      view.setUint8(20, nodeFiletype(node));
      dirent.set(nameBytes, Size.DIRENT);
      // A dirent that does not fit is cut: the caller sees a full buffer and asks again with a bigger one.
      const fits = Math.min(dirent.byteLength, target.byteLength - used);
      target.set(dirent.subarray(0, fits), used);
      used += fits;
    }
    this.ctx.moved(used);
    this.m.setU32(usedPtr, used);
  }

  fd_renumber(from: number, to: number): number | void {
    this.fds.renumber(from, to);
  }
  path_create_directory(fd: number, ptr: number, length: number): number | void {
    const { resolved } = this.resolveAt(fd, Rights.PATH_CREATE_DIRECTORY, ptr, length);
    this.fs.createDirectory(resolved);
  }

  path_filestat_get(fd: number, _flags: number, ptr: number, length: number, statPtr: number): number | void {
    const { resolved } = this.resolveAt(fd, Rights.PATH_FILESTAT_GET, ptr, length);
    const node = this.fs.existing(resolved);
    this.writeFilestat(statPtr, node, nodeFiletype(node));
  }

  path_filestat_set_times(fd: number, _flags: number, ptr: number, length: number, atim: bigint, mtim: bigint, fstFlags: number): number | void {
    const { resolved } = this.resolveAt(fd, Rights.PATH_FILESTAT_SET_TIMES, ptr, length);
    this.setTimes(this.fs.existing(resolved), atim, mtim, fstFlags);
  }

  path_link(oldFd: number, _flags: number, oldPtr: number, oldLength: number, newFd: number, newPtr: number, newLength: number): number | void {
    const source = this.resolveAt(oldFd, Rights.PATH_LINK_SOURCE, oldPtr, oldLength).resolved;
    const target = this.resolveAt(newFd, Rights.PATH_LINK_TARGET, newPtr, newLength).resolved;
    this.fs.link(source, target);
  }

  path_open(
    fd: number,
    _lookupFlags: number,
    ptr: number,
    length: number,
    oflags: number,
    rightsBase: bigint,
    rightsInheriting: bigint,
    fdflags: number,
    openedPtr: number,
  ): number | void {
    const dirFd = this.fds.dir(fd, Rights.PATH_OPEN);
    const base = BigInt.asUintN(64, rightsBase);
    const inheriting = BigInt.asUintN(64, rightsInheriting);
    if (((base | inheriting) & ~dirFd.inheriting) !== 0n) throw new FsError(Errno.NOTCAPABLE);
    if (oflags & OFlags.CREAT && (dirFd.rights & Rights.PATH_CREATE_FILE) === 0n) throw new FsError(Errno.NOTCAPABLE);
    if (oflags & OFlags.TRUNC && (dirFd.rights & Rights.PATH_FILESTAT_SET_SIZE) === 0n) throw new FsError(Errno.NOTCAPABLE);
    const resolved = this.resolvePath(dirFd.node, ptr, length);
    const writing = (base & WRITE_RIGHTS) !== 0n;
    const reading = (base & READ_RIGHTS) !== 0n || !writing;
    let node = this.fs.lookup(resolved);
    if (node !== undefined && oflags & OFlags.CREAT && oflags & OFlags.EXCL) throw new FsError(Errno.EXIST);
    if (node === undefined) {
      if (!(oflags & OFlags.CREAT)) throw new FsError(Errno.NOENT);
      if (oflags & OFlags.DIRECTORY || resolved.name === undefined || resolved.trailingSlash) throw new FsError(resolved.trailingSlash ? Errno.ISDIR : Errno.INVAL);
      node = this.fs.createFile(resolved.dir, resolved.name);
    }
    if (oflags & OFlags.DIRECTORY && node.kind !== 'dir') throw new FsError(Errno.NOTDIR);
    let descriptor: Descriptor;
    if (node.kind === 'dir') {
      if (writing || oflags & OFlags.TRUNC) throw new FsError(Errno.ISDIR);
      descriptor = { kind: 'dir', node, preopen: undefined, listing: undefined, flags: fdflags & 0xffff, rights: base & DIRECTORY_RIGHTS, inheriting: inheriting & DIRECTORY_INHERITING };
    } else {
      // As node:wasi: the access mode comes from the rights asked for, and bounds the rights granted.
      let max = FILE_RIGHTS;
      if (!writing) max &= ~WRITE_RIGHTS;
      if (!reading) max &= ~Rights.FD_READ;
      if (oflags & OFlags.TRUNC && node.size > 0) this.setSize(node, 0);
      descriptor = { kind: 'file', node, offset: 0, flags: fdflags & 0xffff, rights: base & max, inheriting: 0n };
    }
    this.m.setU32(openedPtr, this.fds.open(descriptor));
  }

  path_readlink(fd: number, ptr: number, length: number, _buf: number, _bufLength: number, _usedPtr: number): number | void {
    const { resolved } = this.resolveAt(fd, Rights.PATH_READLINK, ptr, length);
    // The job's directory holds no symbolic links.
    this.fs.existing(resolved);
    throw new FsError(Errno.INVAL);
  }

  path_remove_directory(fd: number, ptr: number, length: number): number | void {
    const { resolved } = this.resolveAt(fd, Rights.PATH_REMOVE_DIRECTORY, ptr, length);
    this.fs.removeDirectory(resolved);
  }

  path_rename(oldFd: number, oldPtr: number, oldLength: number, newFd: number, newPtr: number, newLength: number): number | void {
    const source = this.resolveAt(oldFd, Rights.PATH_RENAME_SOURCE, oldPtr, oldLength).resolved;
    const target = this.resolveAt(newFd, Rights.PATH_RENAME_TARGET, newPtr, newLength).resolved;
    // Moving a directory walks what it holds (path lengths, files to return): at most every entry.
    if (this.fs.lookup(source)?.kind === 'dir') this.ctx.worked(2 * this.fs.entryCount);
    this.fs.rename(source, target);
  }

  path_symlink(_oldPtr: number, _oldLength: number, fd: number, ptr: number, length: number): number | void {
    const { resolved } = this.resolveAt(fd, Rights.PATH_SYMLINK, ptr, length);
    if (this.fs.lookup(resolved) !== undefined) throw new FsError(Errno.EXIST);
    // No symbolic links: nothing in the job's directory can point anywhere else.
    throw new FsError(Errno.PERM);
  }

  path_unlink_file(fd: number, ptr: number, length: number): number | void {
    const { resolved } = this.resolveAt(fd, Rights.PATH_UNLINK_FILE, ptr, length);
    this.fs.unlinkFile(resolved);
  }

}
