/**
 * An execute worker's dir keeps its private copy of the artifact between jobs of the same
 * artifact (no copy, unlink or stat per job), and never offers a job a copy of a file that is
 * not the one the cache holds now: another artifact, or the same key deleted and prepared again
 * (a recovery, a prune), gets a fresh copy. Whether a copy was replaced shows in its identity
 * (inode and birth time: a freed inode number is soon reused); a copy is never the cache file
 * itself (a hard link would share its inode, link count and times with the worker:
 * docs/security.md).
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import type { Host } from '../../src/index.js';
import { workerDirsIn } from '../helpers/host.js';
import { example, flipByte, hello, idleWorkers, startScheduler, text } from '../helpers/scheduler.js';

/** A file's identity: its inode number alone is not one, the filesystem reuses freed numbers at once. */
function identity(file: string): string {
  const st = fs.statSync(file, { bigint: true });
  return `${st.ino}:${st.birthtimeNs || st.ctimeNs}`;
}

/** The entries of the (only) execute worker's dir once it is idle again, and its `artifact`: identity and bytes. */
async function idleDir(host: Host, cacheDir: string): Promise<{ names: string[]; ino: string | undefined; bytes: Buffer | undefined }> {
  await idleWorkers(host, 'execute');
  const dir = path.join(cacheDir, workerDirsIn(cacheDir).find((name) => name.startsWith('worker-dir-execute-'))!);
  const names = fs.readdirSync(dir);
  const file = path.join(dir, 'artifact');
  const kept = names.includes('artifact');
  return { names, ino: kept ? identity(file) : undefined, bytes: kept ? fs.readFileSync(file) : undefined };
}

/** The dir holds a copy of the cache's current file for `key`, and nothing else. */
async function holdsCopyOf(t: ExecutionContext, host: Host, cacheDir: string, key: string): Promise<string> {
  const dir = await idleDir(host, cacheDir);
  const cached = host.cache.pathOf(key);
  t.deepEqual(dir.names, ['artifact'], 'nothing but the copy');
  t.not(dir.ino, identity(cached), 'a file of its own, not the cache file');
  t.true(dir.bytes!.equals(fs.readFileSync(cached)), "the cache file's bytes");
  return dir.ino!;
}

test.serial('jobs of the same artifact on one worker run from the copy the first one made', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const inodes = new Set<string>();
  for (const input of ['one', 'two', 'three']) {
    t.is(text((await host.execute(artifact, Buffer.from(input))).output), `Hello, ${input}!`);
    inodes.add(await holdsCopyOf(t, host, cacheDir, artifact.key));
  }
  t.is(inodes.size, 1, 'the same copy for every job');
  t.is(fs.statSync(host.cache.pathOf(artifact.key)).nlink, 1, 'the cache file is linked from the cache alone');
});

test.serial('another artifact replaces the kept copy, and back', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const first = await host.prepare(hello.wasm);
  const upper = example('upper');
  const second = await host.prepare(upper.wasm);
  t.is(text((await host.execute(first, Buffer.from('a'))).output), 'Hello, a!');
  const a = await holdsCopyOf(t, host, cacheDir, first.key);
  t.is(text((await host.execute(second, Buffer.from('abc'))).output), 'ABC');
  const b = await holdsCopyOf(t, host, cacheDir, second.key);
  t.is(text((await host.execute(first, Buffer.from('b'))).output), 'Hello, b!');
  const c = await holdsCopyOf(t, host, cacheDir, first.key);
  t.not(b, a);
  t.not(c, b);
});

test.serial('a kept copy that went bad: the cache file is checked and kept, and the job and the next ones run from a new copy of it', async (t) => {
  const { host, cacheDir, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  await host.execute(artifact, Buffer.from('before'));
  const dir = path.join(cacheDir, workerDirsIn(cacheDir).find((name) => name.startsWith('worker-dir-execute-'))!);
  const cached = host.cache.pathOf(artifact.key);
  const old = identity(cached);
  const oldBytes = fs.readFileSync(cached);
  const before = await holdsCopyOf(t, host, cacheDir, artifact.key);
  // The worker's own copy, in place: the worker finds it corrupted.
  flipByte(path.join(dir, 'artifact'), -1);
  t.is(text((await host.execute(artifact, Buffer.from('after'))).output), 'Hello, after!');
  // The cache's file reads back sound: it is not deleted, and the code is not prepared again
  // (before, any corruption a worker reported deleted the shared file and prepared it anew).
  t.deepEqual(events.of('artifact:deleted'), []);
  t.is(events.of('job:succeeded').filter((e) => e.kind === 'prepare').length, 1, 'prepared once, at first');
  t.is(identity(cached), old, 'the same cache file');
  t.true(fs.readFileSync(cached).equals(oldBytes));
  const renewed = await holdsCopyOf(t, host, cacheDir, artifact.key);
  t.not(renewed, before, 'a new copy of it');
  t.is(text((await host.execute(artifact, Buffer.from('again'))).output), 'Hello, again!');
  t.is(await holdsCopyOf(t, host, cacheDir, artifact.key), renewed, 'the next job ran from the new copy');
  t.deepEqual(events.of('artifact:deleted'), []);
  t.deepEqual(events.of('job:failed'), []);
});

test.serial('a cache file that went bad after a worker copied it: that worker runs on from its good copy, the next copy is recovered', async (t) => {
  const { host, cacheDir, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  await host.execute(artifact, Buffer.from('before'));
  flipByte(host.cache.pathOf(artifact.key), -1);
  t.is(text((await host.execute(artifact, Buffer.from('kept'))).output), 'Hello, kept!', 'the copy is not the cache file');
  t.deepEqual(events.of('artifact:deleted'), []);
  // Another artifact in between: the worker's next job of the first copies the bad file.
  await host.execute(await host.prepare(example('upper').wasm), Buffer.from('x'));
  t.is(text((await host.execute(artifact, Buffer.from('after'))).output), 'Hello, after!');
  t.deepEqual(events.of('artifact:deleted'), [{ key: artifact.key, reason: 'corrupted' }]);
  await holdsCopyOf(t, host, cacheDir, artifact.key);
  t.deepEqual(events.of('job:failed'), []);
});

test.serial('an artifact deleted from the cache and prepared again is copied anew, not run from the kept copy', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  await host.execute(artifact, Buffer.from('x'));
  const old = await holdsCopyOf(t, host, cacheDir, artifact.key);
  t.true(await host.cache.delete(artifact.key, 'cleared'));
  await host.prepare(hello.wasm);
  t.is(text((await host.execute(artifact, Buffer.from('y'))).output), 'Hello, y!');
  t.not(await holdsCopyOf(t, host, cacheDir, artifact.key), old);
});

test.serial('a kept copy does not hold its artifact in the cache: pruned, it is prepared again when executed', async (t) => {
  // Room for one artifact: each install prunes the others.
  const { host, cacheDir, events } = await startScheduler(t, { cacheMaxBytes: 1 });
  const first = await host.prepare(hello.wasm);
  await host.execute(first, Buffer.from('kept'));
  const old = await holdsCopyOf(t, host, cacheDir, first.key);
  await host.prepare(example('upper').wasm);
  t.true(events.of('artifact:pruned').some((e) => e.key === first.key), "the idle worker's copy did not pin it");
  t.is(text((await host.execute(first, Buffer.from('pruned'))).output), 'Hello, pruned!');
  t.not(await holdsCopyOf(t, host, cacheDir, first.key), old);
});
