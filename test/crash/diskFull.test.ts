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
  t.deepEqual(await settled(cacheDir), { dirs: 2, hiddenBytes: 0 }, 'the retired worker\'s dir and files are gone before the disk is filled');
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
  t.deepEqual(await settled(cacheDir), { dirs: 2, hiddenBytes: 0 });
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

  // The host still answers: both pools idle, a cached artifact still runs. The retired
  // workers' dirs go as their processes exit, and with them the tmp-artifact's page: until then
  // the execute's copy of the artifact would not fit (that case is the next test's).
  await idleWorkers(host, 'prepare', 1, 20_000);
  t.deepEqual(host.workers().map((w) => w.state).sort(), ['idle', 'idle']);
  t.deepEqual(await settled(cacheDir), { dirs: 2, hiddenBytes: 0 }, 'one worker dir per live worker, the dead ones and their files removed');
  t.is(text((await host.execute(cached, Buffer.from('full'))).output), 'Hello, full!');
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'artifacts')).filter((n) => n.startsWith('.tmp-')), []);

  fs.rmSync(filler);
  const again = await host.prepare(variant(1));
  t.false(again.cached);
  t.false((await host.prepare(variant(2))).cached, 'the prepare that failed at install succeeds too');
  t.is(text((await host.execute(again, Buffer.from('freed'))).output), 'Hello, freed!');
});

maybe(title('disk full at an execute\'s copy: E_CACHE_IO, the cached artifact kept (no recovery), and the job runs once space is freed'), async (t) => {
  const cacheDir = await smallTmpfs(t);
  const host = await startOn(t, cacheDir);
  const first = await host.prepare(variant(3));
  const second = await host.prepare(variant(4));
  t.is(text((await host.execute(first, Buffer.from('room'))).output), 'Hello, room!');
  await idleWorkers(host, 'prepare');
  t.deepEqual(await settled(cacheDir), { dirs: 2, hiddenBytes: 0 });
  const cacheFile = path.join(cacheDir, 'artifacts', `${second.key}.wdna`);
  const bytes = fs.readFileSync(cacheFile);
  const deleted: string[] = [];
  host.on('artifact:deleted', (e) => deleted.push(e.key));
  const prepared: string[] = [];
  host.on('artifact:prepared', (e) => prepared.push(e.key));

  // Not a byte left: the worker dir holds the first artifact; the second's copy cannot be made.
  const filler = path.join(cacheDir, 'filler');
  fill(cacheDir, filler, 0);
  const full = await rejection(host.execute(second, Buffer.from('full')));
  t.is(full.code, 'E_CACHE_IO');
  t.false(full.deterministic);
  t.like(full.details, { step: 'copy into worker dir', errno: 'ENOSPC', key: second.key });
  t.regex(full.message, /ENOSPC/);
  // A full disk says nothing about the artifact: it stays cached, byte for byte, and is not
  // deleted and prepared again (which on a full disk would lose it).
  t.true(host.cache.has(second.key));
  t.deepEqual(fs.readFileSync(cacheFile), bytes);
  t.deepEqual(deleted, []);
  t.deepEqual(prepared, []);
  // Nothing half-copied is left: the dir gave up the first artifact for the second, and holds
  // nothing now. The host carries on.
  await idleWorkers(host, 'execute');
  const executeDirs = workerDirsIn(cacheDir).filter((name) => name.startsWith('worker-dir-execute-'));
  t.is(executeDirs.length, 1);
  t.deepEqual(fs.readdirSync(path.join(cacheDir, executeDirs[0]!)), []);
  t.false(host.pools().some((pool) => pool.degraded));

  fs.rmSync(filler);
  const freed = await host.execute(second, Buffer.from('freed'));
  t.is(text(freed.output), 'Hello, freed!');
  t.is(freed.attempts, 1);
  t.deepEqual(deleted, []);
  t.deepEqual(prepared, [], 'the job ran from the artifact the disk full left cached');
});

/**
 * Waits until only the two live workers' dirs remain and no removed file still holds pages:
 * a dead worker's files are freed only when the last reference goes (its sandbox's bind mount
 * of them may outlive its dir by a moment), and a page freed after the disk is filled would
 * change what fits.
 */
function settled(cacheDir: string): Promise<{ dirs: number; hiddenBytes: number }> {
  return waitFor(
    () => ({ dirs: workerDirsIn(cacheDir).length, hiddenBytes: usedBytes(cacheDir) - visibleBytes(cacheDir) }),
    (state) => state.dirs === 2 && state.hiddenBytes === 0,
    20_000,
  );
}

const usedBytes = (dir: string): number => {
  const s = fs.statfsSync(dir);
  return (s.blocks - s.bfree) * s.bsize;
};

/** The bytes the files reachable under `dir` take (tmpfs: whole pages; dirs take none). */
function visibleBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const entryPath = path.join(dir, entry.name);
    try {
      total += entry.isDirectory() ? visibleBytes(entryPath) : fs.lstatSync(entryPath).blocks * 512;
    } catch {
      // removed meanwhile: counted on the next read
    }
  }
  return total;
}

function variant2Key(host: Host): string {
  return ArtifactCache.keyFor(variant(2), preparationParamsHash(prepareLimitsOf(host.options.limits)));
}
