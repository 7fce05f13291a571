/**
 * The host's events around real jobs, and listeners that misbehave.
 */
import test from 'ava';
import { createHost } from '../../src/index.js';
import { hello, startScheduler, text } from '../helpers/scheduler.js';
import { fixtures } from '../helpers/wat.js';

test.serial('a job emits queued → started → succeeded, with matching ids and worker', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const from = events.all.length;
  const result = await host.execute(artifact, Buffer.from('events'));
  const jobEvents = events.all.slice(from).filter((e) => e.name.startsWith('job:'));
  t.deepEqual(
    jobEvents.map((e) => e.name),
    ['job:queued', 'job:started', 'job:succeeded'],
  );
  t.like(jobEvents[0]!.payload, { jobId: result.jobId, kind: 'execute', priority: 'normal' });
  t.like(jobEvents[1]!.payload, { jobId: result.jobId, kind: 'execute', workerId: result.workerId, attempt: 1 });
  t.like(jobEvents[2]!.payload, { jobId: result.jobId, kind: 'execute', workerId: result.workerId });
});

test.serial('a failing job emits job:failed with its code and deterministic flag', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(fixtures.trap);
  await t.throwsAsync(host.execute(artifact, Buffer.from('x')), { any: true, message: /trap|unreachable/ });
  t.like(events.of('job:failed')[0], { kind: 'execute', code: 'E_TRAP', deterministic: true });
  t.is(events.of('job:succeeded').filter((e) => e.kind === 'execute').length, 0);
});

test.serial('a listener that throws does not break the host', async (t) => {
  const { host } = await startScheduler(t);
  for (const name of ['job:queued', 'job:started', 'job:succeeded', 'worker:state', 'artifact:prepared'] as const) {
    host.on(name, () => {
      throw new Error(`listener of ${name} throws`);
    });
  }
  const result = await host.execute(hello.wasm, Buffer.from('robust'));
  t.is(text(result.output), 'Hello, robust!');
});

test.serial('a closed host releases its cache dir: a new host opens it and finds the artifacts', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  await host.close();
  const again = await createHost({ cacheDir, executeWorkers: 1 });
  t.teardown(() => again.close());
  const cached = await again.prepare(hello.wasm);
  t.true(cached.cached);
  t.is(cached.key, artifact.key);
  t.is(text((await again.execute(cached, Buffer.from('reopened'))).output), 'Hello, reopened!');
});
