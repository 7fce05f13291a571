import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { ArtifactCache, type ArtifactCacheEvents, type ArtifactDeletedEvent } from '../../src/actors/artifactCache.js';
import { PreparationError } from '../../src/errors.js';
import { ARTIFACT_HEADER_BYTES, encodeArtifact, hashParams } from '../../src/shared/artifact.js';

const PARAMS = hashParams({ maxMemoryPages: 16, maxFunctions: 1000 });
const OTHER_PARAMS = hashParams({ maxMemoryPages: 32, maxFunctions: 1000 });
const MODULE_BYTES = 1000;
const ARTIFACT_BYTES = ARTIFACT_HEADER_BYTES + MODULE_BYTES;
const MAX_ARTIFACT = 1 << 20;
const T0 = Date.UTC(2024, 0, 1);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A test cache dir with a cache on a clock the test moves; removed after the test. */
async function setup(t: ExecutionContext, maxBytes = 1 << 30) {
  const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-cache-test-'));
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const clock = { now: T0 };
  const cache = await ArtifactCache.open(cacheDir, { maxBytes, now: () => clock.now });
  return { cacheDir, clock, cache, artifactsDir: path.join(cacheDir, 'artifacts') };
}

/** Any bytes stand for the module: the cache does not compile wasm. */
function code(name: string): Buffer {
  return crypto.createHash('sha512').update(name).digest();
}

function artifactOf(name: string, paramsHash = PARAMS): Buffer {
  const module = Buffer.alloc(MODULE_BYTES);
  code(name).copy(module);
  return encodeArtifact(module, paramsHash);
}

/** Writes what a prepare worker would leave: `<cacheDir>/worker-dir-prepare-<n>/tmp-artifact`. */
async function workerOutput(cacheDir: string, content: Uint8Array): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(cacheDir, 'worker-dir-prepare-'));
  const file = path.join(dir, 'tmp-artifact');
  await fsp.writeFile(file, content);
  return file;
}

async function install(cache: ArtifactCache, cacheDir: string, name: string): Promise<string> {
  const key = ArtifactCache.keyFor(code(name), PARAMS);
  await cache.installFrom(key, await workerOutput(cacheDir, artifactOf(name)), { maxBytes: MAX_ARTIFACT, expectedParamsHash: PARAMS });
  return key;
}

function record<E extends keyof ArtifactCacheEvents>(cache: ArtifactCache, event: E): ArtifactCacheEvents[E][0][] {
  const seen: ArtifactCacheEvents[E][0][] = [];
  // eventemitter3's typings cannot relate a generic event name to its listener.
  cache.on(event, ((payload: ArtifactCacheEvents[E][0]) => seen.push(payload)) as never);
  return seen;
}

function flipByte(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0x01;
  fs.writeFileSync(file, bytes);
}

test('keys are <sha256(code)>-<16 hex of the params hash>, and only such keys name files', async (t) => {
  const { cache, artifactsDir } = await setup(t);
  const key = ArtifactCache.keyFor(code('a'), PARAMS);
  t.is(key, `${crypto.createHash('sha256').update(code('a')).digest('hex')}-${PARAMS.slice(0, 16)}`);
  t.is(cache.pathOf(key), path.join(artifactsDir, `${key}.wdna`));
  t.throws(() => ArtifactCache.keyFor(code('a'), 'not-a-hash'), { instanceOf: TypeError });
  t.throws(() => cache.pathOf('../../etc/passwd'), { instanceOf: TypeError });
  t.throws(() => cache.has(key.toUpperCase()), { instanceOf: TypeError });
});

test('an installed artifact can be looked up at its path', async (t) => {
  const { cache, cacheDir, artifactsDir } = await setup(t);
  const installed = record(cache, 'artifact:installed');
  const key = ArtifactCache.keyFor(code('a'), PARAMS);
  t.false(cache.has(key));
  t.is(cache.lookup(key), undefined);
  const entry = await cache.installFrom(key, await workerOutput(cacheDir, artifactOf('a')), { maxBytes: MAX_ARTIFACT, expectedParamsHash: PARAMS });
  t.deepEqual(entry, { key, path: cache.pathOf(key), size: ARTIFACT_BYTES, lastUsed: new Date(T0), pinned: 0 });
  t.deepEqual(installed, [entry]);
  t.true(cache.has(key));
  t.deepEqual(cache.lookup(key), entry);
  t.is(cache.totalBytes, ARTIFACT_BYTES);
  t.deepEqual(fs.readFileSync(entry.path), artifactOf('a'));
  t.is(fs.statSync(entry.path).mode & 0o777, 0o600);
  t.is(fs.statSync(artifactsDir).mode & 0o777, 0o700);
  t.deepEqual(fs.readdirSync(artifactsDir), [`${key}.wdna`]);
});

test('reopening keeps the entries and their order of last use', async (t) => {
  const { cache, cacheDir, clock } = await setup(t);
  const a = await install(cache, cacheDir, 'a');
  clock.now = T0 + 10_000;
  const b = await install(cache, cacheDir, 'b');
  clock.now = T0 + 20_000;
  const c = await install(cache, cacheDir, 'c');
  clock.now = T0 + 30_000;
  cache.lookup(a);
  await cache.flush();
  const reopened = await ArtifactCache.open(cacheDir, { maxBytes: 1 << 30 });
  t.deepEqual(reopened.removedOnOpen, []);
  t.deepEqual(
    reopened.list().map((entry) => [entry.key, entry.lastUsed.getTime()]),
    [
      [b, T0 + 10_000],
      [c, T0 + 20_000],
      [a, T0 + 30_000],
    ],
  );
  t.is(reopened.totalBytes, 3 * ARTIFACT_BYTES);
});

test('last use is written to the mtime at most once a second per entry', async (t) => {
  const { cache, cacheDir, clock } = await setup(t);
  const key = await install(cache, cacheDir, 'a');
  const mtime = async (): Promise<number> => {
    await cache.flush();
    return Math.round(fs.statSync(cache.pathOf(key)).mtimeMs);
  };
  t.is(await mtime(), T0);
  clock.now = T0 + 500;
  cache.lookup(key);
  t.is(await mtime(), T0);
  clock.now = T0 + 1500;
  cache.lookup(key);
  t.is(await mtime(), T0 + 1500);
  clock.now = T0 + 1700;
  t.is(cache.lookup(key)?.lastUsed.getTime(), T0 + 1700);
  t.is(await mtime(), T0 + 1500);
});

test('artifacts that fail verification are removed on open and reported', async (t) => {
  const { cache, cacheDir, artifactsDir } = await setup(t);
  const flipped = await install(cache, cacheDir, 'flipped');
  const truncated = await install(cache, cacheDir, 'truncated');
  const good = await install(cache, cacheDir, 'good');
  flipByte(cache.pathOf(flipped), ARTIFACT_HEADER_BYTES + 10);
  fs.truncateSync(cache.pathOf(truncated), ARTIFACT_BYTES - 1);
  // A valid artifact under a key for other params, and a symlink named like an artifact.
  const misnamed = ArtifactCache.keyFor(code('good'), OTHER_PARAMS);
  fs.copyFileSync(cache.pathOf(good), cache.pathOf(misnamed));
  const outside = await workerOutput(cacheDir, artifactOf('outside'));
  const symlinked = ArtifactCache.keyFor(code('outside'), PARAMS);
  fs.symlinkSync(outside, cache.pathOf(symlinked));

  const reopened = await ArtifactCache.open(cacheDir, { maxBytes: 1 << 30 });
  const deleted = record(reopened, 'artifact:deleted');
  const reasons = Object.fromEntries(reopened.removedOnOpen.map((removed) => [removed.key, removed.reason]));
  t.regex(reasons[flipped] ?? '', /checksum/);
  t.regex(reasons[truncated] ?? '', /module bytes/);
  t.regex(reasons[misnamed] ?? '', /does not match its key/);
  t.regex(reasons[symlinked] ?? '', /ELOOP/);
  t.is(reopened.removedOnOpen.length, 4);
  t.true(reopened.removedOnOpen.every((removed) => removed.kind === 'artifact'));
  t.deepEqual(fs.readdirSync(artifactsDir), [`${good}.wdna`]);
  t.deepEqual(reopened.list().map((entry) => entry.key), [good]);
  t.true(fs.existsSync(outside), 'the symlink target is left alone');
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(deleted.map((event) => [event.key, event.reason]).sort(), [flipped, truncated, misnamed, symlinked].map((key) => [key, 'invalid-on-open']).sort());
});

test('temp files of interrupted installs are removed on open; unknown files are left', async (t) => {
  const { cache, cacheDir, artifactsDir } = await setup(t);
  const key = await install(cache, cacheDir, 'a');
  const leftover = `.tmp-0123456789ab-${key}.wdna`;
  fs.writeFileSync(path.join(artifactsDir, leftover), artifactOf('a').subarray(0, 100));
  fs.writeFileSync(path.join(artifactsDir, 'README'), 'not ours');
  const reopened = await ArtifactCache.open(cacheDir, { maxBytes: 1 << 30 });
  t.deepEqual(reopened.removedOnOpen, [{ name: leftover, kind: 'temp', key: undefined, size: 100, reason: 'left by an interrupted install' }]);
  t.deepEqual(fs.readdirSync(artifactsDir).sort(), [`${key}.wdna`, 'README'].sort());
  t.true(reopened.has(key));
});

const refused = test.macro(async (t, reason: string, prepare: (file: string, cacheDir: string) => void, maxBytes: number = MAX_ARTIFACT) => {
  t.timeout(10_000, 'opening a FIFO must not block');
  const { cache, cacheDir, artifactsDir } = await setup(t);
  const file = path.join(await fsp.mkdtemp(path.join(cacheDir, 'worker-dir-prepare-')), 'tmp-artifact');
  prepare(file, cacheDir);
  const key = ArtifactCache.keyFor(code('a'), PARAMS);
  const error = await t.throwsAsync(cache.installFrom(key, file, { maxBytes, expectedParamsHash: PARAMS }), { instanceOf: PreparationError });
  t.is(error?.code, 'E_PREPARATION');
  t.is(error?.details['reason'], reason);
  t.false(cache.has(key));
  t.deepEqual(fs.readdirSync(artifactsDir), []);
});

test('install refuses a symlink, even to a valid artifact', refused, 'symlink', (file, cacheDir) => {
  const elsewhere = path.join(cacheDir, 'valid-artifact');
  fs.writeFileSync(elsewhere, artifactOf('a'));
  fs.symlinkSync(elsewhere, file);
});
test('install refuses a FIFO without blocking', refused, 'not-regular-file', (file) => execFileSync('mkfifo', [file]));
test('install refuses a directory', refused, 'not-regular-file', (file) => fs.mkdirSync(file));
test('install refuses a missing file', refused, 'missing', () => undefined);
test('install refuses a file above maxBytes', refused, 'too-large', (file) => fs.writeFileSync(file, artifactOf('a')), ARTIFACT_BYTES - 1);
test('install refuses an artifact prepared under other params', refused, 'params-mismatch', (file) => fs.writeFileSync(file, artifactOf('a', OTHER_PARAMS)));
test('install refuses garbage', refused, 'bad-format', (file) => fs.writeFileSync(file, crypto.randomBytes(ARTIFACT_BYTES)));
test('install refuses an empty file (nothing written)', refused, 'bad-format', (file) => fs.writeFileSync(file, ''));
test('install refuses an artifact with a flipped byte', refused, 'bad-format', (file) => {
  fs.writeFileSync(file, artifactOf('a'));
  flipByte(file, ARTIFACT_HEADER_BYTES + 1);
});

test('install accepts an artifact of exactly maxBytes', async (t) => {
  const { cache, cacheDir } = await setup(t);
  const key = ArtifactCache.keyFor(code('a'), PARAMS);
  const entry = await cache.installFrom(key, await workerOutput(cacheDir, artifactOf('a')), { maxBytes: ARTIFACT_BYTES, expectedParamsHash: PARAMS });
  t.is(entry.size, ARTIFACT_BYTES);
});

test('install copies: a worker that kept an fd on its output cannot change the cache', async (t) => {
  const { cache, cacheDir } = await setup(t);
  const source = await workerOutput(cacheDir, artifactOf('a'));
  const kept = fs.openSync(source, 'r+');
  t.teardown(() => fs.closeSync(kept));
  const key = ArtifactCache.keyFor(code('a'), PARAMS);
  const entry = await cache.installFrom(key, source, { maxBytes: MAX_ARTIFACT, expectedParamsHash: PARAMS });
  t.not(fs.statSync(entry.path).ino, fs.statSync(source).ino);
  t.is(fs.statSync(entry.path).nlink, 1);
  fs.writeSync(kept, crypto.randomBytes(ARTIFACT_BYTES), 0, ARTIFACT_BYTES, 0);
  t.deepEqual(fs.readFileSync(entry.path), artifactOf('a'));
  t.true(await cache.verify(key));
});

test('prune removes the least recently used first', async (t) => {
  const { cache, cacheDir, clock } = await setup(t);
  const pruned = record(cache, 'artifact:pruned');
  const deleted = record(cache, 'artifact:deleted');
  const a = await install(cache, cacheDir, 'a');
  clock.now = T0 + 1000;
  const b = await install(cache, cacheDir, 'b');
  clock.now = T0 + 2000;
  const c = await install(cache, cacheDir, 'c');
  clock.now = T0 + 3000;
  cache.lookup(a);
  t.deepEqual(await cache.prune(2 * ARTIFACT_BYTES), [{ key: b, size: ARTIFACT_BYTES, lastUsed: new Date(T0 + 1000) }]);
  t.deepEqual(cache.list().map((entry) => entry.key), [c, a]);
  t.false(fs.existsSync(cache.pathOf(b)));
  t.deepEqual((await cache.prune(0)).map((entry) => entry.key), [c, a]);
  t.is(cache.totalBytes, 0);
  t.deepEqual(pruned.map((entry) => entry.key), [b, c, a]);
  t.deepEqual(deleted.map((event) => [event.key, event.reason]), [b, c, a].map((key) => [key, 'pruned']));
});

test('install prunes above the size bound, never the artifact just installed', async (t) => {
  const { cache, cacheDir, clock } = await setup(t, 2 * ARTIFACT_BYTES);
  const a = await install(cache, cacheDir, 'a');
  clock.now = T0 + 1000;
  const b = await install(cache, cacheDir, 'b');
  clock.now = T0 + 2000;
  cache.lookup(a);
  clock.now = T0 + 3000;
  const c = await install(cache, cacheDir, 'c');
  t.deepEqual(cache.list().map((entry) => entry.key), [a, c]);
  t.false(cache.has(b));

  const { cache: tiny, cacheDir: tinyDir } = await setup(t, ARTIFACT_BYTES - 1);
  const big = await install(tiny, tinyDir, 'big');
  t.true(tiny.has(big), 'an artifact larger than the bound is kept until something else is installed');
});

test('pinned entries survive pruning', async (t) => {
  const { cache, cacheDir, clock } = await setup(t);
  const a = await install(cache, cacheDir, 'a');
  clock.now = T0 + 1000;
  const b = await install(cache, cacheDir, 'b');
  t.true(cache.pin(a));
  t.true(cache.pin(a));
  t.is(cache.lookup(a)?.pinned, 2);
  t.deepEqual((await cache.prune(0)).map((entry) => entry.key), [b]);
  t.deepEqual(cache.list().map((entry) => entry.key), [a]);
  t.is(cache.totalBytes, ARTIFACT_BYTES);
  cache.unpin(a);
  t.deepEqual(await cache.prune(0), []);
  cache.unpin(a);
  t.deepEqual((await cache.prune(0)).map((entry) => entry.key), [a]);
  t.false(cache.pin(a), 'nothing to pin once gone');
  t.throws(() => cache.unpin(a), { message: /without a matching pin/ });
});

test('delete removes the file and the entry, pinned or not', async (t) => {
  const { cache, cacheDir } = await setup(t);
  const deleted = record(cache, 'artifact:deleted');
  const key = await install(cache, cacheDir, 'a');
  const other = await install(cache, cacheDir, 'b');
  cache.pin(key);
  t.true(await cache.delete(key, 'corrupted'));
  t.false(cache.has(key));
  t.false(fs.existsSync(cache.pathOf(key)));
  t.is(cache.totalBytes, ARTIFACT_BYTES);
  t.deepEqual(deleted, [{ key, path: cache.pathOf(key), size: ARTIFACT_BYTES, reason: 'corrupted' } satisfies ArtifactDeletedEvent]);
  t.false(await cache.delete(key, 'corrupted'));
  t.true(cache.has(other));
});

test('verify keeps a good artifact and deletes a bad or missing one', async (t) => {
  const { cache, cacheDir } = await setup(t);
  const deleted = record(cache, 'artifact:deleted');
  const good = await install(cache, cacheDir, 'good');
  const bad = await install(cache, cacheDir, 'bad');
  const missing = await install(cache, cacheDir, 'missing');
  flipByte(cache.pathOf(bad), 20);
  fs.unlinkSync(cache.pathOf(missing));
  t.true(await cache.verify(good));
  t.false(await cache.verify(bad));
  t.false(await cache.verify(missing));
  t.false(await cache.verify(bad), 'no longer cached');
  t.deepEqual(cache.list().map((entry) => entry.key), [good]);
  t.false(fs.existsSync(cache.pathOf(bad)));
  t.deepEqual(deleted.map((event) => [event.key, event.reason]), [[bad, 'corrupted'], [missing, 'corrupted']]);
});

test('clear removes every artifact', async (t) => {
  const { cache, cacheDir, artifactsDir } = await setup(t);
  const deleted = record(cache, 'artifact:deleted');
  const keys = [await install(cache, cacheDir, 'a'), await install(cache, cacheDir, 'b')];
  cache.pin(keys[0] ?? '');
  await cache.clear();
  t.deepEqual(cache.list(), []);
  t.is(cache.totalBytes, 0);
  t.deepEqual(fs.readdirSync(artifactsDir), []);
  t.deepEqual(deleted.map((event) => [event.key, event.reason]).sort(), keys.map((key) => [key, 'cleared']).sort());
  await cache.clear();
});

test('concurrent installs of the same key leave one complete artifact', async (t) => {
  const { cache, cacheDir, artifactsDir } = await setup(t);
  const key = ArtifactCache.keyFor(code('a'), PARAMS);
  const sources = await Promise.all(Array.from({ length: 8 }, () => workerOutput(cacheDir, artifactOf('a'))));
  const entries = await Promise.all(sources.map((source) => cache.installFrom(key, source, { maxBytes: MAX_ARTIFACT, expectedParamsHash: PARAMS })));
  t.true(entries.every((entry) => entry.key === key && entry.size === ARTIFACT_BYTES));
  t.is(cache.list().length, 1);
  t.is(cache.totalBytes, ARTIFACT_BYTES);
  t.deepEqual(fs.readdirSync(artifactsDir), [`${key}.wdna`]);
  t.true(await cache.verify(key));
});

test('a write failure removes the temp file and throws E_CACHE_IO', async (t) => {
  const { cacheDir, artifactsDir } = await setup(t);
  const source = await workerOutput(cacheDir, artifactOf('a'));
  // RLIMIT_FSIZE below the artifact's size makes the write fail as a full disk would
  // (EFBIG instead of ENOSPC; node ignores SIGXFSZ, so the write returns the error).
  const script = `
    import { ArtifactCache } from ${JSON.stringify(path.join(ROOT, 'src/actors/artifactCache.ts'))};
    const cache = await ArtifactCache.open(${JSON.stringify(cacheDir)}, { maxBytes: 1 << 30 });
    const key = ArtifactCache.keyFor(Buffer.alloc(1), ${JSON.stringify(PARAMS)});
    try {
      await cache.installFrom(key, ${JSON.stringify(source)}, { maxBytes: ${MAX_ARTIFACT}, expectedParamsHash: ${JSON.stringify(PARAMS)} });
      console.log(JSON.stringify({ installed: true }));
    } catch (error) {
      console.log(JSON.stringify({ ...error.toJSON(), has: cache.has(key) }));
    }`;
  const { stdout } = await promisify(execFile)(
    'prlimit',
    [`--fsize=${ARTIFACT_BYTES / 2}`, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: ROOT },
  );
  const result = JSON.parse(stdout) as Record<string, unknown>;
  t.like(result, { name: 'CacheIoError', code: 'E_CACHE_IO', deterministic: false, has: false, details: { step: 'write temp file', errno: 'EFBIG' } });
  t.deepEqual(fs.readdirSync(artifactsDir), []);
});

test('open validates its options and refuses an artifacts dir that is a symlink', async (t) => {
  const { cacheDir } = await setup(t);
  await t.throwsAsync(ArtifactCache.open(cacheDir, { maxBytes: -1 }), { message: /`maxBytes` option to be a positive integer, got `-1`/ });
  const other = await fsp.mkdtemp(path.join(cacheDir, 'elsewhere-'));
  const linked = path.join(cacheDir, 'linked');
  fs.mkdirSync(linked);
  fs.symlinkSync(other, path.join(linked, 'artifacts'));
  await t.throwsAsync(ArtifactCache.open(linked, { maxBytes: 1 << 30 }), { code: 'E_CACHE_IO', message: /not a directory/ });
});
