/**
 * A full disk under the cache dir: a 2 MiB tmpfs mounted as the cache dir, filled by a file of
 * the test's. Installing an artifact fails with a typed error, the host survives, and the same
 * prepare succeeds once space is freed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { ArtifactCache } from '../../src/actors/artifactCache.js';
import { createHost, type Host } from '../../src/index.js';
import { prepareLimitsOf } from '../../src/options.js';
import { preparationParamsHash } from '../../src/shared/derive.js';
import { waitFor, workerDirsIn } from '../helpers/host.js';
import { hello, idleWorkers, rejection, text } from '../helpers/scheduler.js';

const isRoot = process.getuid?.() === 0;
const maybe = isRoot ? test.serial : test.skip;
const title = (name: string): string => (isRoot ? name : `${name} (skipped: mounting a tmpfs needs root)`);

/** hello with a custom section `full-<i>`: a module of its own cache key. */
function variant(i: number): Buffer {
  const name = Buffer.from(`full-${i}`);
  const body = Buffer.concat([Buffer.from([name.length]), name]);
  return Buffer.concat([hello.wasm, Buffer.from([0, body.length]), body]);
}

/** A 2 MiB tmpfs, unmounted and removed in teardown. */
async function smallTmpfs(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await fsp.mkdtemp('/tmp/warden-full-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dir]);
  t.teardown(async () => {
    execFileSync('umount', ['-l', dir]);
    await fsp.rmdir(dir);
  });
  return dir;
}

const freeBytes = (dir: string): number => {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
};

/**
 * Fills `dir` with `filler` until exactly `leave` bytes are free (a multiple of the page size:
 * tmpfs counts whole pages, and empty files and dirs take none).
 */
function fill(dir: string, filler: string, leave: number): void {
  const current = fs.existsSync(filler) ? fs.statSync(filler).size : 0;
  fs.writeFileSync(filler, Buffer.alloc(current + freeBytes(dir) - leave, 0x55));
}

async function startOn(t: import('ava').ExecutionContext, cacheDir: string): Promise<Host> {
  const host = await createHost({ cacheDir, prepareWorkers: 1, executeWorkers: 1 });
  t.teardown(() => host.close());
  await idleWorkers(host, 'prepare');
  await idleWorkers(host, 'execute');
  return host;
}

maybe(title('disk full: a prepare fails typed, the host survives, and succeeds once space is freed'), async (t) => {
  const cacheDir = await smallTmpfs(t);
  const host = await startOn(t, cacheDir);
  const cached = await host.prepare(hello.wasm);
  const filler = path.join(cacheDir, 'filler');
  const page = fs.statfsSync(cacheDir).bsize;

  // The worker that prepared it is retired after its one job; its dir (and the tmp-artifact it
  // wrote) goes once its process has exited, which may be after its replacement is idle. Filled
  // before that, the removal would free pages under the next prepare.
  await idleWorkers(host, 'prepare');
  t.is(await settledDirs(cacheDir), 2, 'the retired worker\'s dir is gone before the disk is filled');
  // Not a byte left: the worker cannot write its tmp-artifact.
  fill(cacheDir, filler, 0);
  t.is(freeBytes(cacheDir), 0);
  const before = (await idleWorkers(host, 'prepare'))[0]!.id;
  const exited = new Promise<{ reason: string }>((resolve) => host.on('worker:exited', (e) => e.id === before && resolve(e)));
  const full = await rejection(host.prepare(variant(1)));
  // The worker's write of tmp-artifact fails with ENOSPC: a typed, non-deterministic
  // E_CACHE_IO, and the worker does not die of it (a full disk is not its fault): it is retired
  // after its one job as every prepare worker is, and its replacement starts.
  t.is(full.code, 'E_CACHE_IO');
  t.regex(full.message, /ENOSPC/);
  t.false(full.deterministic);
  t.is((await exited).reason, 'retired');
  const after = await idleWorkers(host, 'prepare', 1, 20_000);
  t.not(after[0]!.id, before);
  t.false(host.pools().some((pool) => pool.degraded));

  // One page left: the worker's tmp-artifact fits, the cache's copy does not. The worker is
  // retired once it answers, and its dir may be removed before the host writes the cache's copy:
  // the test holds the tmp-artifact open so that its page stays taken after the unlink.
  t.is(await settledDirs(cacheDir), 2);
  const prepareDirs = workerDirsIn(cacheDir).filter((name) => name.startsWith('worker-dir-prepare-'));
  t.is(prepareDirs.length, 1);
  const held = fs.openSync(path.join(cacheDir, prepareDirs[0]!, 'tmp-artifact'), 'r');
  fill(cacheDir, filler, page);
  t.is(freeBytes(cacheDir), page);
  const onePage = await rejection(host.prepare(variant(2)));
  t.is(onePage.code, 'E_CACHE_IO');
  t.like(onePage.details, { step: 'write temp file', errno: 'ENOSPC' });
  t.false(host.cache.has(variant2Key(host)), 'nothing half-installed is indexed');
  t.true(fs.fstatSync(held).size > 0, 'the worker wrote its tmp-artifact: the cache\'s copy was what did not fit');
  fs.closeSync(held);

  // The host still answers: both pools idle, a cached artifact still runs.
  await idleWorkers(host, 'prepare', 1, 20_000);
  t.deepEqual(host.workers().map((w) => w.state).sort(), ['idle', 'idle']);
  t.is(text((await host.execute(cached, Buffer.from('full'))).output), 'Hello, full!');
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'artifacts')).filter((n) => n.startsWith('.tmp-')), []);
  // The retired workers' dirs go as their processes exit.
  t.is(await settledDirs(cacheDir), 2, 'one worker dir per live worker, the dead ones removed');

  fs.rmSync(filler);
  const again = await host.prepare(variant(1));
  t.false(again.cached);
  t.false((await host.prepare(variant(2))).cached, 'the prepare that failed at install succeeds too');
  t.is(text((await host.execute(again, Buffer.from('freed'))).output), 'Hello, freed!');
});

/** The number of worker dirs once only the two live workers' remain (the dead ones' removed). */
function settledDirs(cacheDir: string): Promise<number> {
  return waitFor(() => workerDirsIn(cacheDir).length, (n) => n === 2);
}

function variant2Key(host: Host): string {
  return ArtifactCache.keyFor(variant(2), preparationParamsHash(prepareLimitsOf(host.options.limits)));
}
