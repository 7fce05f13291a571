/**
 * An execute worker's dir keeps the artifact's hard link between jobs of the same artifact (no
 * link, unlink or stat per job), and never offers a job a link that is not the file the cache
 * holds now: another artifact, or the same key deleted and prepared again (a recovery, a prune),
 * gets a fresh link. Whether a link was replaced shows in its inode.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import type { Host } from '../../src/index.js';
import { workerDirsIn } from '../helpers/host.js';
import { example, flipByte, hello, idleWorkers, startScheduler, text } from '../helpers/scheduler.js';

/** The entries of the (only) execute worker's dir once it is idle again, and the inode of its `artifact`. */
async function idleDir(host: Host, cacheDir: string): Promise<{ names: string[]; ino: number | undefined }> {
  await idleWorkers(host, 'execute');
  const dir = path.join(cacheDir, workerDirsIn(cacheDir).find((name) => name.startsWith('worker-dir-execute-'))!);
  const names = fs.readdirSync(dir);
  return { names, ino: names.includes('artifact') ? fs.lstatSync(path.join(dir, 'artifact')).ino : undefined };
}

const inodeOf = (file: string): number => fs.statSync(file).ino;

test.serial('jobs of the same artifact on one worker run from the link the first one made', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const cached = inodeOf(host.cache.pathOf(artifact.key));
  for (const input of ['one', 'two', 'three']) {
    t.is(text((await host.execute(artifact, Buffer.from(input))).output), `Hello, ${input}!`);
    t.deepEqual(await idleDir(host, cacheDir), { names: ['artifact'], ino: cached }, 'nothing but the link to the cached file');
  }
});

test.serial('another artifact replaces the kept link, and back', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const first = await host.prepare(hello.wasm);
  const upper = example('upper');
  const second = await host.prepare(upper.wasm);
  t.is(text((await host.execute(first, Buffer.from('a'))).output), 'Hello, a!');
  t.is((await idleDir(host, cacheDir)).ino, inodeOf(host.cache.pathOf(first.key)));
  t.is(text((await host.execute(second, Buffer.from('abc'))).output), 'ABC');
  t.is((await idleDir(host, cacheDir)).ino, inodeOf(host.cache.pathOf(second.key)));
  t.is(text((await host.execute(first, Buffer.from('b'))).output), 'Hello, b!');
  t.deepEqual(await idleDir(host, cacheDir), { names: ['artifact'], ino: inodeOf(host.cache.pathOf(first.key)) });
});

test.serial('a kept link whose file went bad: the artifact is recovered and the next jobs run from the new file', async (t) => {
  const { host, cacheDir, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  await host.execute(artifact, Buffer.from('before'));
  const old = (await idleDir(host, cacheDir)).ino;
  // In place: the kept link is the same inode, so it went bad too.
  flipByte(host.cache.pathOf(artifact.key), -1);
  t.is(text((await host.execute(artifact, Buffer.from('after'))).output), 'Hello, after!');
  t.deepEqual(events.of('artifact:deleted'), [{ key: artifact.key, reason: 'corrupted' }]);
  const renewed = inodeOf(host.cache.pathOf(artifact.key));
  t.not(renewed, old, 'prepared again: a new file');
  t.deepEqual(await idleDir(host, cacheDir), { names: ['artifact'], ino: renewed });
  t.is(text((await host.execute(artifact, Buffer.from('again'))).output), 'Hello, again!');
  t.is(events.of('artifact:deleted').length, 1, 'no second recovery: the stale link was not used');
  t.deepEqual(events.of('job:failed'), []);
});

test.serial('an artifact deleted from the cache and prepared again is linked anew, not run from the kept link', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  await host.execute(artifact, Buffer.from('x'));
  const old = (await idleDir(host, cacheDir)).ino;
  t.true(await host.cache.delete(artifact.key, 'cleared'));
  await host.prepare(hello.wasm);
  const renewed = inodeOf(host.cache.pathOf(artifact.key));
  t.not(renewed, old);
  t.is(text((await host.execute(artifact, Buffer.from('y'))).output), 'Hello, y!');
  t.deepEqual(await idleDir(host, cacheDir), { names: ['artifact'], ino: renewed });
});

test.serial('a kept link does not hold its artifact in the cache: pruned, it is prepared again when executed', async (t) => {
  // Room for one artifact: each install prunes the others.
  const { host, cacheDir, events } = await startScheduler(t, { cacheMaxBytes: 1 });
  const first = await host.prepare(hello.wasm);
  await host.execute(first, Buffer.from('kept'));
  const old = (await idleDir(host, cacheDir)).ino;
  await host.prepare(example('upper').wasm);
  t.true(events.of('artifact:pruned').some((e) => e.key === first.key), 'the idle worker\'s link did not pin it');
  t.is(text((await host.execute(first, Buffer.from('pruned'))).output), 'Hello, pruned!');
  const renewed = inodeOf(host.cache.pathOf(first.key));
  t.not(renewed, old);
  t.deepEqual(await idleDir(host, cacheDir), { names: ['artifact'], ino: renewed });
});
