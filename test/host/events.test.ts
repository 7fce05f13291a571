/**
 * The host's events around real jobs, listeners that misbehave, and `host.events()`: nothing
 * lost for a consumer that keeps up, every drop reported for one that does not.
 */
import test from 'ava';
import { EventEmitter } from 'eventemitter3';
import { eventStream } from '../../src/events.js';
import { HOST_EVENT_TYPES, InvalidOptionError, createHost, type Artifact, type Host, type HostEvents } from '../../src/index.js';
import { waitFor } from '../helpers/host.js';
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

test.serial('security:status comes once, after createHost, with the host’s status', async (t) => {
  const { host, events } = await startScheduler(t);
  const statuses = await waitFor(() => events.of('security:status'), (s) => s.length > 0);
  t.is(statuses.length, 1);
  t.deepEqual(statuses[0], host.securityStatus);
});

test.serial('a listener that throws does not keep later listeners or an event iterator from the event', async (t) => {
  const { host } = await startScheduler(t);
  host.on('job:succeeded', () => {
    throw new Error('first listener throws');
  });
  const seen: string[] = [];
  host.on('job:succeeded', ({ jobId }) => seen.push(jobId));
  let onceCalls = 0;
  host.once('job:succeeded', () => {
    onceCalls++;
    throw new Error('a once listener throws too');
  });
  const stream = host.events({ types: ['job:succeeded'] });
  const first = await host.execute(hello.wasm, Buffer.from('a'));
  const second = await host.execute(hello.wasm, Buffer.from('b'));
  const execute = seen.filter((id) => id.startsWith('execute'));
  t.deepEqual(execute, [first.jobId, second.jobId]);
  t.is(onceCalls, 1);
  const received: string[] = [];
  for await (const event of stream) {
    if (event.type === 'job:succeeded' && event.data.kind === 'execute') received.push(event.data.jobId);
    if (received.length === 2) break;
  }
  t.deepEqual(received, [first.jobId, second.jobId]);
});

/** Runs `count` executions of `artifact`, `lanes` at a time (the queue stays far below maxQueue). */
async function runJobs(host: Host, artifact: Artifact, count: number, lanes = 32): Promise<void> {
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < count) {
      started++;
      await host.execute(artifact, Buffer.from('x'));
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

/** Counts every event `host` emits from now on, by a plain listener. */
function countEmitted(host: Host): { total: number } {
  const counter = { total: 0 };
  for (const type of HOST_EVENT_TYPES) host.on(type, () => counter.total++);
  return counter;
}

test.serial('events(): a consumer that keeps up loses nothing over 10,000 jobs', async (t) => {
  t.timeout(180_000);
  const { host } = await startScheduler(t, { executeWorkers: 2 });
  const artifact = await host.prepare(fixtures.echoHeapBase);
  const emitted = countEmitted(host);
  const stream = host.events();
  const consumed = (async () => {
    const counts = new Map<string, number>();
    let total = 0;
    for await (const event of stream) {
      total++;
      const key = event.type === 'job:succeeded' ? `${event.type}:${event.data.kind}` : event.type;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return { counts, total };
  })();
  await runJobs(host, artifact, 10_000);
  await host.close();
  const { counts, total } = await consumed;
  t.is(counts.get('job:succeeded:execute'), 10_000);
  t.is(counts.get('events:overflow'), undefined);
  t.is(total, emitted.total);
});

test.serial('events(): a slow consumer with a small buffer gets overflow records that account for every event', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(fixtures.echoHeapBase);
  const emitted = countEmitted(host);
  const stream = host.events({ bufferSize: 16 });
  const jobs = runJobs(host, artifact, 100, 4);
  // Reads one event, then nothing until every job is done and the host closed: the buffer fills.
  const first = await stream.next();
  t.false(first.done);
  await jobs;
  await host.close();
  let received = 1;
  let dropped = 0;
  let overflows = 0;
  for await (const event of stream) {
    if (event.type === 'events:overflow') {
      overflows++;
      dropped += event.data.dropped;
    } else {
      received++;
    }
  }
  t.true(overflows >= 1);
  t.true(dropped > 0);
  t.is(received + dropped, emitted.total);
});

test.serial('events(): a type filter, break unsubscribes, and an iterator of a closed host ends', async (t) => {
  const { host } = await startScheduler(t);
  const listenersBefore = host.listenerCount('job:failed');
  const failures = host.events({ types: ['job:failed'] });
  t.is(host.listenerCount('job:failed'), listenersBefore + 1);
  await t.throwsAsync(host.execute(fixtures.trap, Buffer.from('x')), { any: true });
  for await (const event of failures) {
    t.is(event.type, 'job:failed');
    t.like(event.data, { kind: 'execute', code: 'E_TRAP' });
    t.is(typeof event.time, 'number');
    break;
  }
  t.is(host.listenerCount('job:failed'), listenersBefore);
  await host.close();
  const afterClose = host.events();
  t.deepEqual(await afterClose.next(), { value: undefined, done: true });
});

test.serial('events(): bad options are E_INVALID_OPTION', async (t) => {
  const { host } = await startScheduler(t);
  for (const options of [{ bufferSize: 0 }, { bufferSize: 1.5 }, { types: [] }, { types: ['job:nope'] }, { types: 'job:failed' }, null]) {
    const error = t.throws(() => host.events(options as never), { instanceOf: InvalidOptionError });
    t.is(error?.code, 'E_INVALID_OPTION');
  }
});

test('eventStream: a full buffer drops events and reports how many, in order, before the next event', async (t) => {
  const emitter = new EventEmitter<HostEvents>();
  const ended = new AbortController();
  const stream = eventStream(emitter, { bufferSize: 3, types: ['pool:recovered'] }, ended.signal);
  const emit = (n: number): void => {
    for (let i = 0; i < n; i++) emitter.emit('pool:recovered', { kind: 'execute' });
  };
  const types = async (n: number): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const { value } = await stream.next();
      out.push(value!.type === 'events:overflow' ? `overflow:${value!.data.dropped}` : value!.type);
    }
    return out;
  };
  emit(10);
  t.deepEqual(await types(1), ['pool:recovered']);
  // One slot free, but the overflow record needs one of its own before the event: dropped too.
  emit(1);
  // The buffer drained, the count comes next.
  t.deepEqual(await types(3), ['pool:recovered', 'pool:recovered', 'overflow:8']);
  emit(4);
  t.deepEqual(await types(2), ['pool:recovered', 'pool:recovered']);
  // Two slots free: the overflow record goes in just before the event.
  emit(1);
  t.deepEqual(await types(3), ['pool:recovered', 'overflow:1', 'pool:recovered']);
  const pending = stream.next();
  emit(1);
  t.is((await pending).value?.type, 'pool:recovered');
  emit(1);
  ended.abort();
  t.deepEqual(await types(1), ['pool:recovered']);
  t.deepEqual(await stream.next(), { value: undefined, done: true });
  t.is(emitter.listenerCount('pool:recovered'), 0);
});

test('eventStream: many iterators at once end with the host and raise no listener-leak warning', async (t) => {
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const emitter = new EventEmitter<HostEvents>();
  const ended = new AbortController();
  const streams = Array.from({ length: 20 }, () => eventStream(emitter, { types: ['pool:recovered'] }, ended.signal));
  const pending = streams.map((stream) => stream.next());
  ended.abort();
  t.true((await Promise.all(pending)).every((result) => result.done));
  t.is(emitter.listenerCount('pool:recovered'), 0);
  // Warnings are emitted on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(warnings, []);
});
