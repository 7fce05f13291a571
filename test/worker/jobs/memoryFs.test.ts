/** The job's in-memory directory: its budget (entries, bytes, path lengths) holds whatever the job does with names and descriptors. */
import test from 'ava';
import { FsError, MemoryFs, type FileNode } from '../../../src/worker/jobs/memoryFs.js';
import { FdTable } from '../../../src/worker/jobs/wasiFds.js';
import { Errno, FILE_RIGHTS } from '../../../src/worker/jobs/wasiTypes.js';

const enc = (s: string) => new TextEncoder().encode(s);

function newFs(limits: Partial<{ maxFiles: number; maxFilesBytes: number; maxPathBytes: number }> = {}): MemoryFs {
  return new MemoryFs({ maxFiles: 100, maxFilesBytes: 1000, maxPathBytes: 64, ...limits }, () => 1n);
}

function errno(t: import('ava').ExecutionContext, fn: () => unknown, expected: number): void {
  const error = t.throws(fn, { instanceOf: FsError });
  t.is(error?.errno, expected);
}

test('a write past the byte budget writes what fits, then ENOSPC', (t) => {
  const fs = newFs({ maxFilesBytes: 10 });
  const file = fs.createFile(fs.root, 'a');
  const other = fs.createFile(fs.root, 'b');
  t.is(fs.write(file, 0, new Uint8Array(6)), 6);
  t.is(fs.write(other, 0, new Uint8Array(8)), 4);
  errno(t, () => fs.write(other, 4, new Uint8Array(1)), Errno.NOSPC);
  // A file no budget could hold is EFBIG, as past RLIMIT_FSIZE.
  errno(t, () => fs.write(file, 10, new Uint8Array(1)), Errno.FBIG);
  errno(t, () => fs.setSize(file, 11), Errno.FBIG);
});

test('a file counts once per name: a hard link doubles its bytes', (t) => {
  const fs = newFs({ maxFilesBytes: 10 });
  const file = fs.createFile(fs.root, 'a');
  fs.write(file, 0, new Uint8Array(6));
  errno(t, () => fs.link(fs.resolve(fs.root, enc('a')), fs.resolve(fs.root, enc('b'))), Errno.NOSPC);
  fs.setSize(file, 5);
  fs.link(fs.resolve(fs.root, enc('a')), fs.resolve(fs.root, enc('b')));
  errno(t, () => fs.write(file, 5, new Uint8Array(1)), Errno.NOSPC);
});

test('an unlinked file still open keeps its bytes counted until its last descriptor closes', (t) => {
  const fs = newFs({ maxFilesBytes: 20 });
  const fds = new FdTable(fs);
  const file = fs.createFile(fs.root, 'tmp');
  const fd = fds.open({ kind: 'file', node: file, offset: 0, rights: FILE_RIGHTS, inheriting: 0n, flags: 0 });
  fs.write(file, 0, new Uint8Array(15));
  fs.unlinkFile(fs.resolve(fs.root, enc('tmp')));
  // Nameless but open: writing more is still bounded, and only what is left fits beside it.
  t.is(fs.write(file, 15, new Uint8Array(10)), 5);
  const other = fs.createFile(fs.root, 'other');
  errno(t, () => fs.write(other, 0, new Uint8Array(1)), Errno.NOSPC);
  fds.close(fd);
  t.is(fs.write(other, 0, new Uint8Array(20)), 20);
});

test('entries and path lengths are bounded', (t) => {
  const fs = newFs({ maxFiles: 2, maxPathBytes: 8 });
  fs.createDirectory(fs.resolve(fs.root, enc('d')));
  fs.createFile(fs.root, 'f');
  errno(t, () => fs.createFile(fs.root, 'g'), Errno.NOSPC);
  const deep = newFs({ maxPathBytes: 8 });
  deep.createDirectory(deep.resolve(deep.root, enc('dir')));
  errno(t, () => deep.createFile(deep.root.entries.get('dir') as never, 'file1'), Errno.NAMETOOLONG);
  errno(t, () => deep.resolve(deep.root, enc('x'.repeat(9))), Errno.NAMETOOLONG);
  // A rename that would make a path below it too long is refused too.
  deep.createDirectory(deep.resolve(deep.root, enc('a')));
  deep.createFile(deep.root.entries.get('a') as never, 'bbbbbb');
  errno(t, () => deep.rename(deep.resolve(deep.root, enc('a')), deep.resolve(deep.root, enc('dir/a'))), Errno.NAMETOOLONG);
});

test("paths never leave the tree: '..' stops at the root, absolute paths are refused", (t) => {
  const fs = newFs();
  fs.createDirectory(fs.resolve(fs.root, enc('sub')));
  const sub = fs.root.entries.get('sub') as never;
  t.is(fs.resolve(sub, enc('../../../x')).dir, fs.root);
  t.is(fs.resolve(sub, enc('../../../x')).name, 'x');
  errno(t, () => fs.resolve(sub, enc('/x')), Errno.NOTCAPABLE);
  errno(t, () => fs.resolve(fs.root, new Uint8Array([0xff])), Errno.ILSEQ);
  errno(t, () => fs.resolve(fs.root, enc('')), Errno.INVAL);
});

test('a directory moved into itself is EINVAL; changed files are what is returned', (t) => {
  const fs = newFs();
  fs.addInputFile('in/a.txt', enc('a'));
  fs.createDirectory(fs.resolve(fs.root, enc('in/inner')));
  errno(t, () => fs.rename(fs.resolve(fs.root, enc('in')), fs.resolve(fs.root, enc('in/inner/x'))), Errno.INVAL);
  t.deepEqual(fs.changedFiles(), [], 'an input left alone is not returned');
  fs.rename(fs.resolve(fs.root, enc('in')), fs.resolve(fs.root, enc('out')));
  t.deepEqual(fs.changedFiles().map(([name]) => name), ['out/a.txt'], 'a renamed directory returns its files under their new names');
  const file = fs.root.entries.get('out') as never as { entries: Map<string, FileNode> };
  t.is(file.entries.get('a.txt')!.size, 1);
});
