import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { CacheLock } from '../../src/actors/cacheLock.js';
import { CacheLockedError } from '../../src/errors.js';
import { tempCacheDir } from '../helpers/host.js';

test('a second lock on the same cache dir is refused until the first is released', async (t) => {
  const dir = await tempCacheDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = CacheLock.acquire(dir);
  const error = t.throws(() => CacheLock.acquire(dir), { instanceOf: CacheLockedError });
  t.is(error!.code, 'E_CACHE_LOCKED');
  t.regex(error!.message, new RegExp(`pid ${process.pid}`));
  first.release();
  first.release();
  const second = CacheLock.acquire(dir);
  second.release();
});

test('a lock held by another process is refused, and free again once that process is killed', async (t) => {
  const dir = await tempCacheDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const holder = spawn(
    process.execPath,
    ['--import=tsx', '-e', `import('${path.resolve('src/actors/cacheLock.ts')}').then(({ CacheLock }) => { CacheLock.acquire(${JSON.stringify(dir)}); console.log('locked'); setInterval(() => {}, 1000); })`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  const error = t.throws(() => CacheLock.acquire(dir), { instanceOf: CacheLockedError });
  t.regex(error!.message, new RegExp(`pid ${holder.pid}`));
  // SIGKILL: no cleanup runs, yet the kernel drops the flock with the process.
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  const lock = CacheLock.acquire(dir);
  lock.release();
});

/** A pid no process has: one of a child that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn('/bin/true');
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

test("a lock the dead owner's child still holds (a spawn under way when the owner was killed) is taken once the child lets go", async (t) => {
  const dir = await tempCacheDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'warden.lock');
  fs.writeFileSync(file, String(await deadPid()));
  // The child's copy of the lock: held 300 ms, then closed.
  const holder = spawn('flock', ['--exclusive', file, 'sh', '-c', 'echo held; sleep 0.3'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  const lock = CacheLock.acquire(dir);
  t.is(fs.readFileSync(file, 'utf8'), String(process.pid));
  lock.release();
});

test('a lock held while its recorded owner lives is refused at once', async (t) => {
  const dir = await tempCacheDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'warden.lock');
  const holder = spawn('flock', ['--exclusive', file, 'sh', '-c', 'echo held; sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  fs.writeFileSync(file, String(holder.pid));
  const error = t.throws(() => CacheLock.acquire(dir), { instanceOf: CacheLockedError });
  t.regex(error!.message, new RegExp(`pid ${holder.pid}`));
});
