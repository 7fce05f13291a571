/**
 * The `args`, `env` and `files` options of `host.execute`: checked at the boundary (a bad one is
 * E_INVALID_OPTION naming it, before anything is queued), and carried to a real sandboxed worker
 * and back, in both isolation modes.
 */
import fs from 'node:fs';
import test from 'ava';
import { createHost, DEFAULT_LIMITS, ExitError, InvalidOptionError, type Host } from '../../src/index.js';
import { tempCacheDir } from '../helpers/host.js';
import { wat } from '../helpers/wat.js';
import { buildWasiPrograms } from '../helpers/wasiPrograms.js';

/** A WASI command that does nothing: enough for the option checks, which run before any job. */
const NOTHING = wat('(module (memory (export "memory") 1) (func (export "_start")))');

const BAD: [string, Record<string, unknown>, RegExp][] = [
  ['args that is not an array', { args: 'main' }, /`args` option to be an array of strings/],
  ['an argument that is not a string', { args: ['main', 3] }, /`args\[1\]` to be a string/],
  ['an argument with a NUL', { args: ['a\0b'] }, /`args\[0\]` to contain no NUL/],
  ['env that is an array', { env: ['A=1'] }, /`env` option to be an object or a Map/],
  ['an env name with "="', { env: { 'A=B': '1' } }, /every `env` name to be non-empty, without "=" or NUL/],
  ['an env value that is not a string', { env: { A: 1 } }, /`env.A` to be a string/],
  ['args and env beyond maxArgsBytes', { args: ['x'.repeat(DEFAULT_LIMITS.maxArgsBytes)] }, /more than limits.maxArgsBytes/],
  ['files that is a string', { files: 'in.txt' }, /`files` option to be an object or a Map/],
  ['a file name with ".."', { files: { '../x': 'x' } }, /has a ".." component/],
  ['an absolute file name', { files: { '/etc/x': 'x' } }, /is absolute/],
  ['an empty file name', { files: { '': 'x' } }, /is empty/],
  ['a file name with a doubled slash', { files: { 'a//b': 'x' } }, /empty component/],
  ['a file name too long', { files: { ['a'.repeat(DEFAULT_LIMITS.maxPathBytes + 1)]: 'x' } }, /more than 4096 \(maxPathBytes\)/],
  ['a file that is both a file and a directory', { files: { a: 'x', 'a/b': 'y' } }, /"a" is both a file and a directory/],
  ['file contents that are a number', { files: { a: 1 } }, /`files\["a"\]` to be a Uint8Array or a string/],
  ['more files than maxFiles', { files: Object.fromEntries(Array.from({ length: DEFAULT_LIMITS.maxFiles + 1 }, (_, n) => [`f${n}`, ''])) }, /more than limits.maxFiles/],
  ['directories counted as files', { files: Object.fromEntries(Array.from({ length: 600 }, (_, n) => [`d${n}/f`, ''])) }, /600 files and 600 directories, more than limits.maxFiles/],
  ['files beyond maxFilesBytes', { files: { big: new Uint8Array(DEFAULT_LIMITS.maxFilesBytes + 1) } }, /more than limits.maxFilesBytes/],
];

let host: Host;
let cacheDir: string;
test.before(async () => {
  cacheDir = await tempCacheDir();
  host = await createHost({ cacheDir, executeWorkers: 1 });
});
test.after.always(async () => {
  await host?.close();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

for (const [what, options, message] of BAD) {
  test(`${what} is E_INVALID_OPTION`, async (t) => {
    const error = await t.throwsAsync(host.execute(NOTHING, new Uint8Array(0), { abi: 'wasi', ...options }), { instanceOf: InvalidOptionError });
    t.regex(error!.message, message);
    t.truthy(error!.details.option);
  });
}

const built = buildWasiPrograms();
const maybe = 'programs' in built ? test.serial : test.skip;

for (const isolation of ['worker', 'job'] as const) {
  maybe(`files go in and come back with isolation '${isolation}', as a Map or a record`, async (t) => {
    if (!('programs' in built)) return;
    const sortuniq = built.programs.get('sortuniq')!;
    const result = await host.execute(sortuniq, new Uint8Array(0), {
      abi: 'wasi',
      isolation,
      args: ['sortuniq', '-o', 'out/../counts.txt', 'in/words.txt'],
      files: new Map([['in/words.txt', Buffer.from('b\na\nb\n')]]),
    });
    t.is(Buffer.from(result.output).toString(), '3 lines, 2 distinct, written to out/../counts.txt\n');
    t.deepEqual(Object.keys(result.files), ['counts.txt']);
    t.is(Buffer.from(result.files['counts.txt']!).toString(), '      1 a\n      2 b\n');
    t.true(result.memoryPages! >= 1 && result.memoryPages! <= result.maxMemoryPages!);
    t.is(result.maxMemoryPages, DEFAULT_LIMITS.maxMemoryPages);
  });
}

maybe('each job starts with an empty directory: nothing of the last job is left', async (t) => {
  if (!('programs' in built)) return;
  const files = built.programs.get('files')!;
  await host.execute(files, new Uint8Array(0), { abi: 'wasi', args: ['files'], files: { 'in.txt': 'x\n' } });
  const second = await t.throwsAsync(host.execute(files, new Uint8Array(0), { abi: 'wasi', args: ['files'] }), { instanceOf: ExitError });
  t.is(second?.code, 'E_EXIT');
  t.is(Buffer.from(second!.details.log as Uint8Array).toString(), 'cannot open in.txt: No such file or directory\n');
});
