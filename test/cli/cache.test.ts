import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { CacheLock } from '../../src/actors/cacheLock.js';
import { workerDirsIn } from '../helpers/host.js';
import { cacheDirFor, warden } from '../helpers/cli.js';

const hello = path.resolve('examples/build/hello.wasm');
const sha256 = path.resolve('examples/build/sha256.wasm');
const KEY = /^[0-9a-f]{64}-[0-9a-f]{16}$/;

interface Prepared {
  ok: true;
  key: string;
  size: number;
  exports: string[];
  abi: string | null;
  cached: boolean;
}

async function prepare(cacheDir: string, module: string): Promise<Prepared> {
  const { code, stdout, stderr } = await warden(['prepare', module, '--json', '--cache-dir', cacheDir]);
  if (code !== 0) throw new Error(`prepare ${module} exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as Prepared;
}

async function listJson(cacheDir: string): Promise<{ cacheDir: string; artifacts: { key: string; size: number; lastUsed: string }[]; count: number; totalBytes: number }> {
  const { code, stdout, stderr } = await warden(['cache', 'ls', '--json', '--cache-dir', cacheDir]);
  if (code !== 0) throw new Error(`cache ls exited ${code}: ${stderr}`);
  return JSON.parse(stdout);
}

test('prepare prints the key, size, exports and abi, and says when the artifact was cached', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const first = await warden(['prepare', hello, '--cache-dir', cacheDir]);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /^key\s+[0-9a-f]{64}-[0-9a-f]{16}$/m);
  t.regex(first.stdout, /^size\s+\d+ bytes \(\d+ B\)$/m);
  t.regex(first.stdout, /^exports\s+memory, alloc, run$/m);
  t.regex(first.stdout, /^abi\s+run$/m);
  t.regex(first.stdout, /^cached\s+no$/m);
  const second = await warden(['prepare', hello, '--timeout', '10s', '--allow-insecure', '--cache-dir', cacheDir]);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /^cached\s+yes$/m);
  t.deepEqual(workerDirsIn(cacheDir), [], 'the host removed its worker dirs');
});

test('prepare --json describes the artifact; the key and size match cache ls', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const artifact = await prepare(cacheDir, hello);
  t.like(artifact, { ok: true, exports: ['memory', 'alloc', 'run'], abi: 'run', cached: false });
  t.regex(artifact.key, KEY);
  const listed = await listJson(cacheDir);
  t.deepEqual(listed.artifacts.map((a) => [a.key, a.size]), [[artifact.key, artifact.size]]);
  t.is(fs.statSync(path.join(cacheDir, 'artifacts', `${artifact.key}.wdna`)).size, artifact.size);
});

test('prepare of a file that is not WebAssembly exits 1 with E_PREVALIDATION, as text and as JSON', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const garbage = path.join(cacheDir, 'garbage.wasm');
  fs.writeFileSync(garbage, 'not a module at all');
  const text = await warden(['prepare', garbage, '--cache-dir', cacheDir]);
  t.is(text.code, 1);
  t.regex(text.stderr, /^warden: E_PREVALIDATION: /);
  const json = await warden(['prepare', garbage, '--json', '--cache-dir', cacheDir]);
  t.is(json.code, 1);
  t.like(JSON.parse(json.stdout), { ok: false, error: { code: 'E_PREVALIDATION', deterministic: true } });
  const missing = await warden(['prepare', path.join(cacheDir, 'nope.wasm'), '--cache-dir', cacheDir]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^warden: E_READ_FILE: cannot read module .*nope\.wasm: no such file \(ENOENT\)\n$/);
});

test('cache ls of an empty cache prints a zero total', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const { code, stdout } = await warden(['cache', 'ls', '--cache-dir', cacheDir]);
  t.is(code, 0);
  t.is(stdout, '0 artifacts, total 0 bytes (0 B)\n');
  t.like(await listJson(cacheDir), { artifacts: [], count: 0, totalBytes: 0 });
});

test('cache ls lists every artifact, least recently used first, with the total', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const older = await prepare(cacheDir, hello);
  const newer = await prepare(cacheDir, sha256);
  const { code, stdout } = await warden(['cache', 'ls', '--cache-dir', cacheDir]);
  t.is(code, 0);
  const lines = stdout.split('\n');
  t.regex(lines[0]!, /^key\s+size\s+last used$/);
  t.true(lines[2]!.startsWith(older.key) && lines[3]!.startsWith(newer.key), stdout);
  t.regex(lines[2]!, /\s\d+ B\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.true(stdout.endsWith(`\n\n2 artifacts, total ${older.size + newer.size} bytes (${((older.size + newer.size) / 1024).toFixed(1)} KiB)\n`), stdout);
  const listed = await listJson(cacheDir);
  t.is(listed.cacheDir, path.resolve(cacheDir));
  t.deepEqual(listed.artifacts.map((a) => a.key), [older.key, newer.key]);
  t.is(listed.totalBytes, older.size + newer.size);
  t.false(Number.isNaN(Date.parse(listed.artifacts[0]!.lastUsed)));
});

test('cache prune --max-bytes removes the least recently used artifacts down to the bound', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const older = await prepare(cacheDir, hello);
  const newer = await prepare(cacheDir, sha256);
  const none = await warden(['cache', 'prune', '--cache-dir', cacheDir]);
  t.is(none.code, 0);
  t.regex(none.stdout, /^nothing to prune: \d+\.\d KiB left \(bound 1\.0 GiB\)\n$/);
  const { code, stdout } = await warden(['cache', 'prune', '--max-bytes', String(newer.size), '--cache-dir', cacheDir]);
  t.is(code, 0);
  t.regex(stdout, new RegExp(`^${older.key}\\s`, 'm'));
  t.notRegex(stdout, new RegExp(newer.key));
  // Sizes for people: 553 B, 1.6 KiB, 1.0 GiB, never a raw 1073741824.
  t.regex(stdout, new RegExp(`\\n\\npruned 1 artifact, ${older.size} B; ${(newer.size / 1024).toFixed(1)} KiB left \\(bound ${(newer.size / 1024).toFixed(1)} KiB\\)\\n$`));
  t.deepEqual((await listJson(cacheDir)).artifacts.map((a) => a.key), [newer.key]);
});

test('cache prune --max-bytes 0 --json removes everything and reports it', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const artifact = await prepare(cacheDir, hello);
  const { code, stdout } = await warden(['cache', 'prune', '--max-bytes', '0', '--json', '--cache-dir', cacheDir]);
  t.is(code, 0);
  const result = JSON.parse(stdout);
  t.like(result, { prunedBytes: artifact.size, totalBytes: 0, maxBytes: 0 });
  t.deepEqual(result.pruned.map((p: { key: string }) => p.key), [artifact.key]);
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'artifacts')), []);
});

test('cache prune --max-bytes takes K, M and G suffixes and rejects anything else', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const ok = await warden(['cache', 'prune', '--max-bytes', '64M', '--json', '--cache-dir', cacheDir]);
  t.is(ok.code, 0);
  t.is(JSON.parse(ok.stdout).maxBytes, 64 * 1024 * 1024);
  for (const bad of ['-1', '1.5', 'lots', '10T']) {
    const { code, stderr } = await warden(['cache', 'prune', `--max-bytes=${bad}`, '--cache-dir', cacheDir]);
    t.is(code, 2, bad);
    t.regex(stderr, /^warden cache: --max-bytes expects a number of bytes/, bad);
  }
});

test('cache clear removes every artifact', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const a = await prepare(cacheDir, hello);
  const b = await prepare(cacheDir, sha256);
  const { code, stdout } = await warden(['cache', 'clear', '--cache-dir', cacheDir]);
  t.is(code, 0);
  t.is(stdout, `removed 2 artifacts, ${a.size + b.size} bytes (${((a.size + b.size) / 1024).toFixed(1)} KiB)\n`);
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'artifacts')), []);
  t.like(await listJson(cacheDir), { count: 0, totalBytes: 0 });
  const again = await warden(['cache', 'clear', '--json', '--cache-dir', cacheDir]);
  t.deepEqual(JSON.parse(again.stdout), { removed: [], removedBytes: 0 });
});

test('cache ls removes and reports an artifact that fails verification', async (t) => {
  const cacheDir = await cacheDirFor(t);
  fs.mkdirSync(path.join(cacheDir, 'artifacts'), { mode: 0o700 });
  const name = `${'ab'.repeat(32)}-${'cd'.repeat(8)}.wdna`;
  fs.writeFileSync(path.join(cacheDir, 'artifacts', name), 'not an artifact');
  const { code, stdout, stderr } = await warden(['cache', 'ls', '--cache-dir', cacheDir]);
  t.is(code, 0);
  t.is(stdout, '0 artifacts, total 0 bytes (0 B)\n');
  t.regex(stderr, new RegExp(`^warden: removed invalid artifact ${name}: `));
});

test('cache commands and prepare fail with E_CACHE_LOCKED while a host holds the cache dir', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const lock = CacheLock.acquire(cacheDir);
  t.teardown(() => lock.release());
  for (const command of ['ls', 'prune', 'clear']) {
    const { code, stderr } = await warden(['cache', command, '--cache-dir', cacheDir]);
    t.is(code, 1, command);
    t.regex(stderr, new RegExp(`^warden: E_CACHE_LOCKED: cache dir .* is in use by another warden host \\(pid ${process.pid}\\)`), command);
  }
  const run = await warden(['prepare', hello, '--cache-dir', cacheDir]);
  t.is(run.code, 1);
  t.regex(run.stderr, /^warden: E_CACHE_LOCKED: /);
});

test('the cache commands release the lock: a host can start right after', async (t) => {
  const cacheDir = await cacheDirFor(t);
  t.is((await warden(['cache', 'ls', '--cache-dir', cacheDir])).code, 0);
  t.notThrows(() => CacheLock.acquire(cacheDir).release());
});

const usageError = test.macro(async (t, args: string[], message: RegExp) => {
  const { code, stdout, stderr } = await warden(args);
  t.is(code, 2);
  t.is(stdout, '');
  t.regex(stderr, message);
  t.regex(stderr, /Run "warden cache --help" for usage/);
});

test('cache without a command is a usage error', usageError, ['cache'], /^warden cache: missing <ls\|prune\|clear>/);
test('cache with an unknown command is a usage error', usageError, ['cache', 'list'], /^warden cache: unknown command "list"/);
test('cache ls takes no --max-bytes', usageError, ['cache', 'ls', '--max-bytes', '1'], /^warden cache: unknown option --max-bytes\n/);
test('cache takes no --allow-insecure: it starts no host', usageError, ['cache', 'ls', '--allow-insecure'], /^warden cache: unknown option --allow-insecure\n/);

test('cache --help offers only what the cache commands take', async (t) => {
  const { code, stdout } = await warden(['cache', '--help']);
  t.is(code, 0);
  t.regex(stdout, /--cache-dir DIR/);
  t.notRegex(stdout, /--allow-insecure/);
  t.regex(stdout, /\(default: 1\.0 GiB, a host's default bound\)/);
});

test('cache ls, prune and clear of a cache dir that does not exist: empty, and the dir is not created', async (t) => {
  const cacheDir = path.join(await cacheDirFor(t), 'no', 'such', 'dir');
  const expected: Record<string, [string, unknown]> = {
    ls: ['0 artifacts, total 0 bytes (0 B)\n', { cacheDir, artifacts: [], count: 0, totalBytes: 0 }],
    prune: ['nothing to prune: 0 B left (bound 1.0 GiB)\n', { pruned: [], prunedBytes: 0, totalBytes: 0, maxBytes: 1024 ** 3 }],
    clear: ['removed 0 artifacts, 0 bytes (0 B)\n', { removed: [], removedBytes: 0 }],
  };
  for (const [command, [text, json]] of Object.entries(expected)) {
    const plain = await warden(['cache', command, '--cache-dir', cacheDir]);
    t.is(plain.code, 0, command);
    t.is(plain.stdout, text, command);
    t.is(plain.stderr, `warden: no cache dir at ${cacheDir}: nothing is cached there\n`);
    const asJson = await warden(['cache', command, '--json', '--cache-dir', cacheDir]);
    t.deepEqual(JSON.parse(asJson.stdout), json, command);
  }
  t.false(fs.existsSync(path.join(cacheDir, '..', '..')), 'not even its parent was created');
});
test('cache clear takes no arguments', usageError, ['cache', 'clear', 'everything'], /unexpected argument "everything"/);
