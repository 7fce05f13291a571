/**
 * The job's own directory: an in-memory tree of directories and files inside the job thread. It
 * never touches the host's filesystem, so nothing a job does with paths can reach anything but
 * this tree: `..` stops at its root (as `/..` is `/`), absolute paths are refused, and there are
 * no symbolic links to follow.
 *
 * Every operation answers a WASI errno, as Linux (and so node:wasi, which forwards to it) would for
 * the same tree. The limits bound what a job can keep here at any moment: entries, bytes (a file
 * counts once per name it has) and path length.
 */
import { Errno } from './wasiTypes.js';

export interface FsLimits {
  /** Files and directories the tree may hold (the root not counted). */
  maxFiles: number;
  /** Bytes of file content the tree may hold, a file counted once per name. */
  maxFilesBytes: number;
  /** UTF-8 bytes of a path, from the root. */
  maxPathBytes: number;
}

/** The longest name of one entry (Linux's NAME_MAX). */
const MAX_NAME_BYTES = 255;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** An errno thrown inside the filesystem and answered by the WASI call that ran into it. */
export class FsError extends Error {
  readonly errno: number;

  constructor(errno: number) {
    // No stack: the shim catches it at once, and capturing one through wasm frames costs tens of
    // µs, which would make a loop of failing calls far cheaper in fuel than in CPU.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`errno ${errno}`);
    Error.stackTraceLimit = limit;
    this.errno = errno;
  }
}

function fail(errno: number): never {
  throw new FsError(errno);
}

let nextIno = 1n;

/** What files and directories have in common: an inode number and times (ns since the epoch). */
abstract class Node {
  readonly ino = nextIno++;
  atim: bigint;
  mtim: bigint;
  ctim: bigint;

  constructor(now: bigint) {
    this.atim = now;
    this.mtim = now;
    this.ctim = now;
  }
}

export class FileNode extends Node {
  readonly kind = 'file';
  /** Names this file has in the tree (0 once unlinked; still readable through open fds). */
  nlink = 0;
  /** Descriptors open on it: an unlinked file still open keeps its bytes counted. */
  openFds = 0;
  /** Created, written, truncated or renamed by the job: returned when it ends. */
  changed = false;
  #data = new Uint8Array(0);
  size = 0;

  /** How many times its bytes count against the budget: once per name, once while only open. */
  get copies(): number {
    return Math.max(this.nlink, this.openFds > 0 ? 1 : 0);
  }

  /** The file's bytes, a live view: copy before the file changes. */
  bytes(): Uint8Array {
    return this.#data.subarray(0, this.size);
  }

  /** Sets the size, zero-filling what it adds. The caller has checked the byte budget. */
  resize(size: number): void {
    if (size > this.#data.byteLength) {
      const grown = new Uint8Array(Math.max(size, Math.min(this.#data.byteLength * 2, size + (64 << 20))));
      grown.set(this.#data.subarray(0, this.size));
      this.#data = grown;
    } else if (size < this.size) {
      this.#data.fill(0, size, this.size);
    }
    this.size = size;
  }

  /** Copies `chunk` in at `offset`; the caller has made the file large enough. */
  write(offset: number, chunk: Uint8Array): void {
    this.#data.set(chunk, offset);
  }
}

export class DirNode extends Node {
  readonly kind = 'dir';
  readonly entries = new Map<string, FileNode | DirNode>();

  /** UTF-8 bytes of its path from the root, kept (not walked up for) so that a deep tree costs no more per entry. */
  #pathBytes = 0;

  constructor(
    now: bigint,
    /** Where the directory is, for path lengths and `..`; the root has none. */
    public parent: DirNode | undefined,
    public name: string,
  ) {
    super(now);
    this.placed();
  }

  /** UTF-8 bytes of this directory's path from the root ('' for the root). */
  pathBytes(): number {
    return this.#pathBytes;
  }

  /** Recomputes the path length, here and below, after the directory was created or moved. */
  placed(): void {
    this.#pathBytes = this.parent === undefined ? 0 : childPathBytes(this.parent, this.name);
    for (const node of this.entries.values()) if (node.kind === 'dir') node.placed();
  }

  isWithin(other: DirNode): boolean {
    for (let dir: DirNode | undefined = this; dir; dir = dir.parent) if (dir === other) return true;
    return false;
  }
}

export type FsNode = FileNode | DirNode;

function byteLength(name: string): number {
  return encoder.encode(name).byteLength;
}

/** UTF-8 bytes of the path from the root of the entry `name` in `dir`. */
function childPathBytes(dir: DirNode, name: string): number {
  return (dir.parent === undefined ? 0 : dir.pathBytes() + 1) + byteLength(name);
}

/** A path resolved to the directory holding its last component. `name` is undefined when the path names `dir` itself. */
export interface Resolved {
  dir: DirNode;
  name: string | undefined;
  /** The path ended with a slash: it must name a directory. */
  trailingSlash: boolean;
}

/** The job's directory tree and its budget. */
export class MemoryFs {
  readonly root: DirNode;
  #entries = 0;
  #bytes = 0;

  constructor(
    readonly limits: FsLimits,
    readonly now: () => bigint,
  ) {
    this.root = new DirNode(now(), undefined, '');
  }

  /**
   * Resolves `path` (guest bytes) against `base` lexically, as node:wasi does for a directory
   * preopened as `/`: the path is joined to `base`'s own path from the root, `.` is skipped and
   * `..` removes the previous component, and at the root `..` stays there (as `/..` is `/`), so no
   * path leaves the tree. Absolute paths are ENOTCAPABLE (wasi-libc makes them relative to the
   * preopen). Every component but the last must then be an existing directory.
   */
  resolve(base: DirNode, pathBytes: Uint8Array): Resolved {
    if (pathBytes.byteLength > this.limits.maxPathBytes) fail(Errno.NAMETOOLONG);
    let path: string;
    try {
      path = decoder.decode(pathBytes);
    } catch {
      fail(Errno.ILSEQ);
    }
    if (path.length === 0) fail(Errno.INVAL);
    if (path.includes('\0')) fail(Errno.INVAL);
    if (path.startsWith('/')) fail(Errno.NOTCAPABLE);
    // The base's own path, collected leaf first and turned once: linear in its depth.
    const parts: string[] = [];
    for (let dir: DirNode | undefined = base; dir?.parent !== undefined; dir = dir.parent) parts.push(dir.name);
    parts.reverse();
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') parts.pop();
      else {
        if (byteLength(part) > MAX_NAME_BYTES) fail(Errno.NAMETOOLONG);
        parts.push(part);
      }
    }
    const trailingSlash = path.endsWith('/') || path.endsWith('/.') || path.endsWith('/..') || path === '.' || path === '..';
    let dir = this.root;
    for (const part of parts.slice(0, -1)) {
      const next = dir.entries.get(part);
      if (next === undefined) fail(Errno.NOENT);
      if (next.kind !== 'dir') fail(Errno.NOTDIR);
      dir = next;
    }
    return { dir, name: parts.at(-1), trailingSlash };
  }

  /** The node a resolved path names, or undefined if it does not exist. A file named with a trailing slash is ENOTDIR. */
  lookup({ dir, name, trailingSlash }: Resolved): FsNode | undefined {
    const node = name === undefined ? dir : dir.entries.get(name);
    if (node?.kind === 'file' && trailingSlash) fail(Errno.NOTDIR);
    return node;
  }

  /** As `lookup`, but a missing node is ENOENT. */
  existing(resolved: Resolved): FsNode {
    return this.lookup(resolved) ?? fail(Errno.NOENT);
  }

  /** Files and directories in the tree now (the root not counted). */
  get entryCount(): number {
    return this.#entries;
  }

  #checkNewEntry(dir: DirNode, name: string): void {
    if (this.#entries >= this.limits.maxFiles) fail(Errno.NOSPC);
    if (childPathBytes(dir, name) > this.limits.maxPathBytes) fail(Errno.NAMETOOLONG);
  }

  createFile(dir: DirNode, name: string): FileNode {
    this.#checkNewEntry(dir, name);
    const file = new FileNode(this.now());
    file.changed = true;
    this.#link(dir, name, file);
    return file;
  }

  createDirectory(resolved: Resolved): void {
    const { dir, name } = resolved;
    if (name === undefined || dir.entries.has(name)) fail(Errno.EXIST);
    this.#checkNewEntry(dir, name);
    this.#entries++;
    dir.entries.set(name, new DirNode(this.now(), dir, name));
    this.#touch(dir);
  }

  #link(dir: DirNode, name: string, file: FileNode): void {
    const before = file.copies;
    const added = file.size * (Math.max(file.nlink + 1, file.openFds > 0 ? 1 : 0) - before);
    if (added > this.limits.maxFilesBytes - this.#bytes) fail(Errno.NOSPC);
    this.#bytes += added;
    this.#entries++;
    file.nlink++;
    file.ctim = this.now();
    dir.entries.set(name, file);
    this.#touch(dir);
  }

  #unlinkEntry(dir: DirNode, name: string): void {
    const node = dir.entries.get(name)!;
    dir.entries.delete(name);
    this.#entries--;
    if (node.kind === 'file') {
      const before = node.copies;
      node.nlink--;
      this.#bytes -= node.size * (before - node.copies);
      node.ctim = this.now();
    }
    this.#touch(dir);
  }

  /** A descriptor on `file` was opened. */
  opened(file: FileNode): void {
    file.openFds++;
  }

  /** A descriptor on `file` was closed: the last one frees an unlinked file's bytes. */
  closed(file: FileNode): void {
    const before = file.copies;
    file.openFds--;
    this.#bytes -= file.size * (before - file.copies);
  }

  #touch(node: FsNode): void {
    const now = this.now();
    node.mtim = now;
    node.ctim = now;
  }

  /** Sets a file's size, within the byte budget (ENOSPC past it, EFBIG past what one file can be). */
  setSize(file: FileNode, size: number): void {
    if (!Number.isSafeInteger(size) || size < 0) fail(Errno.INVAL);
    const added = (size - file.size) * file.copies;
    if (size > this.limits.maxFilesBytes) fail(Errno.FBIG);
    if (added > this.limits.maxFilesBytes - this.#bytes) fail(Errno.NOSPC);
    this.#bytes += added;
    file.resize(size);
    file.changed = true;
    this.#touch(file);
  }

  /**
   * Writes `chunk` at `offset`, growing the file as needed; returns the bytes written. A write past
   * the budget writes what fits (ENOSPC when nothing does), as a full disk does.
   */
  write(file: FileNode, offset: number, chunk: Uint8Array): number {
    if (chunk.byteLength === 0) return 0;
    const end = offset + chunk.byteLength;
    let fits = chunk.byteLength;
    if (end > file.size) {
      const room = Math.floor((this.limits.maxFilesBytes - this.#bytes) / Math.max(1, file.copies)) + file.size;
      const limit = Math.min(room, this.limits.maxFilesBytes);
      if (offset >= limit) fail(offset >= this.limits.maxFilesBytes ? Errno.FBIG : Errno.NOSPC);
      fits = Math.min(fits, limit - offset);
      const newSize = Math.max(file.size, offset + fits);
      this.#bytes += (newSize - file.size) * file.copies;
      file.resize(newSize);
    }
    file.write(offset, fits === chunk.byteLength ? chunk : chunk.subarray(0, fits));
    file.changed = true;
    this.#touch(file);
    return fits;
  }

  unlinkFile(resolved: Resolved): void {
    const node = this.existing(resolved);
    if (node.kind === 'dir') fail(Errno.ISDIR);
    if (resolved.trailingSlash) fail(Errno.NOTDIR);
    this.#unlinkEntry(resolved.dir, resolved.name!);
  }

  removeDirectory(resolved: Resolved): void {
    const node = this.existing(resolved);
    if (node.kind !== 'dir') fail(Errno.NOTDIR);
    if (resolved.name === undefined) fail(node === this.root ? Errno.NOTCAPABLE : Errno.INVAL);
    if (node.entries.size > 0) fail(Errno.NOTEMPTY);
    this.#unlinkEntry(resolved.dir, resolved.name);
  }

  /** A hard link: `target` becomes another name of the file at `source`. */
  link(source: Resolved, target: Resolved): void {
    const node = this.existing(source);
    if (node.kind === 'dir') fail(Errno.PERM);
    if (target.name === undefined || this.lookup(target) !== undefined) fail(Errno.EXIST);
    if (target.trailingSlash) fail(Errno.NOENT);
    this.#checkNewEntry(target.dir, target.name);
    this.#link(target.dir, target.name, node);
    node.changed = true;
  }

  /** rename(2): moves an entry, replacing a file or an empty directory at the target. */
  rename(source: Resolved, target: Resolved): void {
    const node = this.existing(source);
    if (source.name === undefined || target.name === undefined) fail(Errno.BUSY);
    if (source.trailingSlash && node.kind !== 'dir') fail(Errno.NOTDIR);
    const replaced = this.lookup(target);
    if (replaced === node) return;
    if (node.kind === 'dir') {
      if (target.dir.isWithin(node)) fail(Errno.INVAL);
      if (replaced?.kind === 'file') fail(Errno.NOTDIR);
      if (replaced?.kind === 'dir' && replaced.entries.size > 0) fail(Errno.NOTEMPTY);
      if (childPathBytes(target.dir, target.name) + subtreePathBytes(node) > this.limits.maxPathBytes) fail(Errno.NAMETOOLONG);
    } else {
      if (replaced?.kind === 'dir') fail(Errno.ISDIR);
      if (target.trailingSlash) fail(Errno.NOTDIR);
      if (childPathBytes(target.dir, target.name) > this.limits.maxPathBytes) fail(Errno.NAMETOOLONG);
    }
    if (replaced !== undefined) this.#unlinkEntry(target.dir, target.name);
    source.dir.entries.delete(source.name);
    target.dir.entries.set(target.name, node);
    this.#touch(source.dir);
    this.#touch(target.dir);
    node.ctim = this.now();
    if (node.kind === 'dir') {
      node.parent = target.dir;
      node.name = target.name;
      node.placed();
      markChanged(node);
    } else {
      node.changed = true;
    }
  }

  /** Adds a file the caller gave before the job starts (not marked changed: it is not returned unless the job changes it). */
  addInputFile(path: string, bytes: Uint8Array): void {
    const parts = path.split('/');
    let dir = this.root;
    for (const part of parts.slice(0, -1)) {
      let next = dir.entries.get(part);
      if (next === undefined) {
        this.createDirectory({ dir, name: part, trailingSlash: false });
        next = dir.entries.get(part)!;
      }
      if (next.kind !== 'dir') throw new FsError(Errno.NOTDIR);
      dir = next;
    }
    const name = parts.at(-1)!;
    if (dir.entries.has(name)) throw new FsError(Errno.EXIST);
    const file = this.createFile(dir, name);
    this.write(file, 0, bytes);
    file.changed = false;
  }

  /** Every name of a file the job created or changed, with its bytes: what the job leaves. */
  changedFiles(): [string, Uint8Array][] {
    const out: [string, Uint8Array][] = [];
    const walk = (dir: DirNode, prefix: string): void => {
      for (const [name, node] of dir.entries) {
        const path = prefix === '' ? name : `${prefix}/${name}`;
        if (node.kind === 'dir') walk(node, path);
        else if (node.changed) out.push([path, node.bytes()]);
      }
    };
    walk(this.root, '');
    return out;
  }
}

/** The longest path below `dir`, in UTF-8 bytes relative to it (with the separating slash). */
function subtreePathBytes(dir: DirNode): number {
  let longest = 0;
  for (const [name, node] of dir.entries) {
    const own = 1 + byteLength(name);
    longest = Math.max(longest, own + (node.kind === 'dir' ? subtreePathBytes(node) : 0));
  }
  return longest;
}

function markChanged(dir: DirNode): void {
  for (const node of dir.entries.values()) {
    if (node.kind === 'dir') markChanged(node);
    else node.changed = true;
  }
}
