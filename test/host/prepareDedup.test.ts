/**
 * Identical concurrent prepare requests share one prepare job; each caller can still give up on
 * its own.
 */
import test from 'ava';
import { example, hello, rejection, startScheduler, text } from '../helpers/scheduler.js';

test.serial('ten concurrent prepares of the same code run one prepare job', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifacts = await Promise.all(Array.from({ length: 10 }, () => host.prepare(hello.wasm)));
  t.is(new Set(artifacts.map((a) => a.key)).size, 1);
  t.true(artifacts.every((a) => a.abi === 'run'));
  t.is(events.of('job:queued').filter((e) => e.kind === 'prepare').length, 1);
  t.is(events.of('job:started').filter((e) => e.kind === 'prepare').length, 1);
  t.is(events.of('artifact:prepared').length, 1);
  // Every artifact runs.
  const result = await host.execute(artifacts[9]!, Buffer.from('dedup'));
  t.is(text(result.output), 'Hello, dedup!');
});

test.serial('ten concurrent executes of the same uncached code run one prepare job and ten execute jobs', async (t) => {
  const { host, events } = await startScheduler(t, { executeWorkers: 2 });
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => host.execute(hello.wasm, Buffer.from(`e${i}`))));
  results.forEach((r, i) => t.is(text(r.output), `Hello, e${i}!`));
  t.is(events.of('job:queued').filter((e) => e.kind === 'prepare').length, 1);
  t.is(events.of('job:queued').filter((e) => e.kind === 'execute').length, 10);
});

test.serial('different code is not deduplicated', async (t) => {
  const { host, events } = await startScheduler(t);
  const sha = example('sha256');
  const [a, b] = await Promise.all([host.prepare(hello.wasm), host.prepare(sha.wasm), host.prepare(hello.wasm), host.prepare(sha.wasm)]);
  t.not(a!.key, b!.key);
  t.is(events.of('job:queued').filter((e) => e.kind === 'prepare').length, 2);
});

test.serial('one caller aborting a shared prepare does not cancel it for the others', async (t) => {
  const { host, events } = await startScheduler(t);
  const controller = new AbortController();
  const aborted = host.prepare(hello.wasm, { signal: controller.signal });
  const others = Array.from({ length: 4 }, () => host.prepare(hello.wasm));
  controller.abort();
  t.is((await rejection(aborted)).code, 'E_ABORTED');
  const artifacts = await Promise.all(others);
  t.is(new Set(artifacts.map((a) => a.key)).size, 1);
  t.is(events.of('job:queued').filter((e) => e.kind === 'prepare').length, 1);
  t.deepEqual(events.of('job:failed'), []);
});

test.serial('a caller with too short a deadline gets E_DEADLINE, the others sharing its prepare the artifact', async (t) => {
  const { host } = await startScheduler(t);
  // The prepare worker is busy with another module first.
  const sha = example('sha256');
  const first = host.prepare(sha.wasm);
  const late = host.prepare(hello.wasm, { deadline: Date.now() + 1 });
  const onTime = host.prepare(hello.wasm);
  t.is((await rejection(late)).code, 'E_DEADLINE');
  t.is((await onTime).abi, 'run');
  await first;
});
