/**
 * The ELF reader behind the sandbox's runtime binds: what it finds in node's binary and its
 * libraries is what binutils' readelf finds, and a file that is not a whole ELF is refused.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readElfDeps } from '../../src/sandbox/elf.js';

function readelf(args: string[], file: string): string | undefined {
  try {
    return execFileSync('readelf', [...args, file], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  } catch {
    return undefined;
  }
}

const node = fs.realpathSync(process.execPath);
const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6'].find((f) => fs.existsSync(f));

for (const file of [node, ...(libc ? [fs.realpathSync(libc)] : [])]) {
  test(`${path.basename(file)}: the interpreter and the needed libraries, as readelf reads them`, (t) => {
    const deps = readElfDeps(file);
    if (file === node) {
      t.truthy(deps.interpreter, 'node is dynamically linked: it names its loader');
      t.true(deps.needed.includes('libc.so.6'), deps.needed.join(', '));
    }
    const dynamic = readelf(['-d', '-W'], file);
    const headers = readelf(['-l', '-W'], file);
    if (dynamic === undefined || headers === undefined) {
      t.log('readelf is not installed: checked against the facts above only');
      return;
    }
    const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    t.deepEqual(deps.needed, needed);
    t.is(deps.interpreter, /Requesting program interpreter: ([^\]]+)\]/.exec(headers)?.[1]);
  });
}

test('a file that is not ELF, or is cut short, is refused with its name', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-elf-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const text = path.join(dir, 'text');
  fs.writeFileSync(text, 'not an executable, but long enough to hold an ELF header of 64 bytes.....');
  t.throws(() => readElfDeps(text), { message: /text is not an ELF file/ });
  const cut = path.join(dir, 'cut');
  const head = Buffer.alloc(40);
  const fd = fs.openSync(node, 'r');
  fs.readSync(fd, head, 0, 40, 0);
  fs.closeSync(fd);
  fs.writeFileSync(cut, head);
  t.throws(() => readElfDeps(cut), { message: /cut: truncated/ });
});
