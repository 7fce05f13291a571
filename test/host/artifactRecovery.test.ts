/**
 * A cached artifact that went bad or away between prepare and execute: the host deletes it,
 * prepares the code again and runs the job, which succeeds.
 */
import test from 'ava';
import fs from 'node:fs';
import { example, flipByte, hello, startScheduler, text } from '../helpers/scheduler.js';

test.serial('a corrupted artifact file is deleted, prepared again, and the execute succeeds', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const file = host.cache.pathOf(artifact.key);
  const good = fs.readFileSync(file);
  flipByte(file, -1);
  const result = await host.execute(artifact, Buffer.from('world'));
  t.is(text(result.output), 'Hello, world!');
  t.deepEqual(events.of('artifact:deleted'), [{ key: artifact.key, reason: 'corrupted' }]);
  t.is(events.of('job:succeeded').filter((e) => e.kind === 'prepare').length, 2, 'prepared twice: first, then again after the corruption');
  t.is(events.of('job:succeeded').filter((e) => e.kind === 'execute').length, 1);
  t.deepEqual(events.of('job:failed'), [], 'a recovered job reports no failure');
  t.true(host.cache.has(artifact.key));
  t.deepEqual(fs.readFileSync(file), good, 'the cached file is a good artifact again');
  // The next execute uses the new artifact without recovering again.
  const next = await host.execute(artifact, Buffer.from('again'));
  t.is(text(next.output), 'Hello, again!');
  t.is(events.of('artifact:deleted').length, 1);
});

test.serial('a corrupted header (first byte) is recovered too', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  flipByte(host.cache.pathOf(artifact.key), 0);
  const result = await host.execute(artifact, Buffer.from('header'));
  t.is(text(result.output), 'Hello, header!');
  t.like(events.of('artifact:deleted')[0], { key: artifact.key, reason: 'corrupted' });
});

test.serial('an artifact file unlinked behind the host\'s back is prepared again', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  fs.unlinkSync(host.cache.pathOf(artifact.key));
  const result = await host.execute(artifact, Buffer.from('world'));
  t.is(text(result.output), 'Hello, world!');
  t.is(events.of('job:succeeded').filter((e) => e.kind === 'prepare').length, 2, 'prepared again');
  t.true(fs.existsSync(host.cache.pathOf(artifact.key)));
  t.true(host.cache.has(artifact.key));
});

test.serial('an artifact deleted from the cache is prepared again', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  t.true(await host.cache.delete(artifact.key, 'cleared'));
  t.false(host.cache.has(artifact.key));
  const result = await host.execute(artifact, Buffer.from('world'));
  t.is(text(result.output), 'Hello, world!');
  t.is(events.of('job:succeeded').filter((e) => e.kind === 'prepare').length, 2, 'prepared again');
  t.true(host.cache.has(artifact.key));
});

test.serial('a corrupted artifact executed through its code (the cached lookup path) is recovered', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  flipByte(host.cache.pathOf(artifact.key), -1);
  const result = await host.execute(hello.wasm, Buffer.from('code'));
  t.is(text(result.output), 'Hello, code!');
});

test.serial('several executes of one corrupted artifact all succeed', async (t) => {
  const { host, events } = await startScheduler(t, { executeWorkers: 2 });
  const artifact = await host.prepare(hello.wasm);
  flipByte(host.cache.pathOf(artifact.key), -1);
  const results = await Promise.all(Array.from({ length: 4 }, (_, i) => host.execute(artifact, Buffer.from(`c${i}`))));
  results.forEach((result, i) => t.is(text(result.output), `Hello, c${i}!`));
  t.deepEqual(events.of('job:failed'), []);
});

test.serial('an artifact pruned from a full cache is prepared again when executed', async (t) => {
  // Room for one artifact: each install prunes the others.
  const { host, events } = await startScheduler(t, { cacheMaxBytes: 1 });
  const first = await host.prepare(hello.wasm);
  const second = await host.prepare(example('upper').wasm);
  t.false(host.cache.has(first.key));
  t.true(events.of('artifact:pruned').some((e) => e.key === first.key));
  const result = await host.execute(first, Buffer.from('pruned'));
  t.is(text(result.output), 'Hello, pruned!');
  const upper = await host.execute(second, Buffer.from('abc'));
  t.is(text(upper.output), 'ABC');
});
