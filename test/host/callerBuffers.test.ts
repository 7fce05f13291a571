/**
 * The host takes code and input at call time: a caller that reuses its buffers once the call
 * returned (pooled buffers, a read loop) must not change what runs, nor what the cache holds
 * under the code's content hash.
 */
import test from 'ava';
import { hello, nextEvent, sleepCode, startScheduler, text } from '../helpers/scheduler.js';

/** hello.wasm with its greeting's first letter changed: same size, other behaviour. */
function jello(code: Uint8Array): { at: number; byte: number } {
  const at = Buffer.from(code).indexOf(Buffer.from('Hello'));
  if (at < 0) throw new Error('no greeting in hello.wasm');
  return { at, byte: 'J'.charCodeAt(0) };
}

test.serial('code reused by the caller after prepare() returned does not poison the cache', async (t) => {
  const { host } = await startScheduler(t);
  const buffer = Buffer.from(hello.wasm);
  const preparing = host.prepare(buffer);
  const { at, byte } = jello(buffer);
  buffer[at] = byte; // the caller reuses its buffer
  const artifact = await preparing;
  // Another caller submits the original code: it must run the original code.
  const result = await host.execute(Buffer.from(hello.wasm), Buffer.from('world'));
  t.is(result.artifactKey, artifact.key);
  t.is(text(result.output), 'Hello, world!');
});

test.serial('code reused by the caller after execute() returned runs as submitted', async (t) => {
  const { host } = await startScheduler(t);
  const buffer = Buffer.from(hello.wasm);
  const running = host.execute(buffer, Buffer.from('world'));
  const { at, byte } = jello(buffer);
  buffer[at] = byte;
  t.is(text((await running).output), 'Hello, world!');
  t.is(text((await host.execute(Buffer.from(hello.wasm), Buffer.from('again'))).output), 'Hello, again!');
});

test.serial('input reused by the caller while the job waits runs as submitted', async (t) => {
  const { host } = await startScheduler(t);
  const [sleep, artifact] = await Promise.all([host.prepare(sleepCode(500)), host.prepare(hello.wasm)]);
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const busy = host.execute(sleep, new Uint8Array(0), { timeoutMs: 2000 });
  await started;
  const input = Buffer.from('world');
  const waiting = host.execute(artifact, input);
  input.write('WORLD');
  t.is(text((await waiting).output), 'Hello, world!');
  await busy;
});

test.serial('the caller\'s buffers are left intact and usable', async (t) => {
  const { host } = await startScheduler(t);
  const code = Buffer.from(hello.wasm);
  const input = Buffer.from('world');
  await host.execute(code, input);
  t.deepEqual(code, Buffer.from(hello.wasm));
  t.is(input.toString(), 'world');
});
