/**
 * `warden run` and `warden batch` with a WASI program's argv, environment and files, and what a
 * failing program said. Uses the C corpus (test/fixtures/wasi-programs); skipped without clang.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { cacheDirFor, warden } from '../helpers/cli.js';
import { buildWasiPrograms } from '../helpers/wasiPrograms.js';

const built = buildWasiPrograms();
const maybe = 'programs' in built ? test : test.skip;

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cli-wasi-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The corpus program `name` written to `dir`. */
function program(dir: string, name: string): string {
  if (!('programs' in built)) throw new Error('unreachable');
  const file = path.join(dir, `${name}.wasm`);
  fs.writeFileSync(file, built.programs.get(name)!);
  return file;
}

maybe('run: --file, --env, --out-dir and the arguments after --', async (t) => {
  const dir = tempDir(t);
  const cacheDir = await cacheDirFor(t);
  const module = program(dir, 'sortuniq');
  fs.writeFileSync(path.join(dir, 'fruit.txt'), 'pear\napple\npear\n');
  const outDir = path.join(dir, 'out');
  const result = await warden(['run', module, '--cache-dir', cacheDir, '--file', `words.txt=${path.join(dir, 'fruit.txt')}`, '--out-dir', outDir, '--', '-o', 'counts.txt', 'words.txt']);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, '3 lines, 2 distinct, written to counts.txt\n');
  t.is(fs.readFileSync(path.join(outDir, 'counts.txt'), 'utf8'), '      1 apple\n      2 pear\n');
  t.false(fs.existsSync(path.join(outDir, 'words.txt')), 'an input left unchanged is not written back');

  const env = await warden(['run', program(dir, 'argsenv'), '--cache-dir', cacheDir, '--env', 'GREETING=hi there', '--', 'a b', '--x']);
  t.is(env.code, 0, env.stderr);
  t.regex(env.stdout, /^argc=3\nargv\[0\]=\[.*argsenv\.wasm\] \(\d+ bytes\)\nargv\[1\]=\[a b\] \(3 bytes\)\nargv\[2\]=\[--x\] \(3 bytes\)\nenv 0: GREETING=hi there\n/);
});

maybe('run: a failing program still prints its output and log; --json has both and the exit code', async (t) => {
  const dir = tempDir(t);
  const cacheDir = await cacheDirFor(t);
  const module = program(dir, 'exitcode');
  const plain = await warden(['run', module, '--cache-dir', cacheDir, '--', 'exit', '7']);
  t.is(plain.code, 1);
  t.is(plain.stdout, 'ending by exit 7\n');
  t.regex(plain.stderr, /^usage: exitcode return\|exit\|abort\|trap \[code\]\nwarden: E_EXIT: the module exited with code 7/m);

  const json = await warden(['run', module, '--cache-dir', cacheDir, '--json', '--', 'exit', '7']);
  t.is(json.code, 1);
  const report = JSON.parse(json.stdout) as Record<string, unknown>;
  t.like(report, { ok: false, error: { code: 'E_EXIT', exitCode: 7, deterministic: true }, output: 'ending by exit 7\n', outputEncoding: 'utf8' });
  t.is(report.log, 'usage: exitcode return|exit|abort|trap [code]\n');

  const aborted = await warden(['run', module, '--cache-dir', cacheDir, '--', 'abort']);
  t.is(aborted.code, 1);
  t.is(aborted.stdout, 'ending by abort 0\n');
  t.regex(aborted.stderr, /usage: exitcode[^\n]*\nwarden: E_TRAP: wasm trap: unreachable/);
});

maybe('run: a bad --file or --env is a usage error', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const module = program(tempDir(t), 'argsenv');
  const env = await warden(['run', module, '--cache-dir', cacheDir, '--env', 'NOVALUE']);
  t.is(env.code, 2);
  t.regex(env.stderr, /--env expects NAME=VALUE/);
  const file = await warden(['run', module, '--cache-dir', cacheDir, '--file', '../x=/etc/hostname']);
  t.is(file.code, 1);
  t.regex(file.stderr, /E_INVALID_OPTION: The `files` name `..\/x` \(string\) has a ".." component/);
});

maybe('batch: lines carry args, env, files and outDir', async (t) => {
  const dir = tempDir(t);
  const cacheDir = await cacheDirFor(t);
  program(dir, 'sortuniq');
  fs.writeFileSync(path.join(dir, 'words.txt'), 'b\na\nb\n');
  const jobs = [
    { id: 'sorted', module: 'sortuniq.wasm', args: ['-r', 'in.txt'], files: { 'in.txt': 'words.txt' }, outDir: 'out' },
    { id: 'usage', module: 'sortuniq.wasm', args: [], env: { X: '1' } },
  ];
  fs.writeFileSync(path.join(dir, 'jobs.ndjson'), jobs.map((job) => JSON.stringify(job)).join('\n'));
  const result = await warden(['batch', path.join(dir, 'jobs.ndjson'), '--cache-dir', cacheDir, '--workers', '1', '--json']);
  t.is(result.code, 1, result.stderr);
  const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const byId = new Map(lines.map((line) => [line.id, line]));
  t.like(byId.get('sorted'), { ok: true, output: '3 lines, 2 distinct, written to sorted.txt\n', files: { 'sorted.txt': { data: '      2 b\n      1 a\n', encoding: 'utf8' } } });
  t.is(fs.readFileSync(path.join(dir, 'out', 'sorted.txt'), 'utf8'), '      2 b\n      1 a\n');
  t.like(byId.get('usage'), { ok: false, code: 'E_EXIT', exitCode: 2 });
  t.regex(String(byId.get('usage')!.log), /^usage: sortuniq\.wasm \[-r\] \[-o out\] file\n$/);
});
