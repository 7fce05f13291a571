/**
 * What a user of warden/bullmq relies on, with a node in this process on a real Redis: results
 * and failures carry warden's facts, deterministic failures are final, the others are retried,
 * bad jobs fail clearly while the node serves on, priorities, cancellation and deadlines.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  BULLMQ_PRIORITY,
  CodeNotFoundError,
  JobDataError,
  codeHashOf,
  createWardenWorker,
  parseFailedReason,
  type WardenJob,
  type WardenQueue,
} from '../../src/bullmq/index.js';
import { AbortedError, DeadlineError, InvalidOptionError, TrapError } from '../../src/errors.js';
import { exampleModules, producer, startNode } from '../helpers/bullmq.js';
import { waitFor } from '../helpers/host.js';
import { startRedis } from '../helpers/redis.js';
import { sources, wasiSleepSource, wat } from '../helpers/wat.js';

const [hello] = exampleModules(['hello']);
const sleeper = wat(wasiSleepSource(2_000_000_000n));

/** A job as BullMQ holds it now. */
async function reload(queue: WardenQueue, job: WardenJob | string): Promise<WardenJob> {
  const id = typeof job === 'string' ? job : job.id!;
  return (await Job.fromId(queue.queue as never, id)) as WardenJob;
}

/** The job, or undefined once removed. */
async function find(queue: WardenQueue, job: WardenJob): Promise<WardenJob | undefined> {
  return (await Job.fromId(queue.queue as never, job.id!)) as WardenJob | undefined;
}

/** Polls the job's state until it is one of `states` (or a minute passed); returns the last. */
async function untilState(queue: WardenQueue, job: WardenJob, states: string[], timeoutMs = 60_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const state = await queue.queue.getJobState(job.id!);
    if (states.includes(state) || Date.now() > until) return state;
    await sleep(50);
  }
}

test.serial('a job runs on a node: its result carries the output, log, usage and node; the second sight is cached', async (t) => {
  const redis = await startRedis(t);
  await startNode(t, redis, 'basic', { node: 'node-a' });
  const queue = producer(t, redis, 'basic');
  const cat = wat(sources.wasiCat);
  const first = await queue.result(await queue.submit(cat, Buffer.from('some input')));
  t.is(first.output.toString(), 'some input');
  t.is(first.log.toString(), 'some input');
  t.is(first.node, 'node-a');
  t.false(first.cached);
  t.true(first.cpuTimeMs >= 0 && first.wallTimeMs >= 0 && first.peakRssBytes > 0);
  const second = await queue.result(await queue.submit(cat, Buffer.from('again')));
  t.is(second.output.toString(), 'again');
  t.true(second.cached);
});

test.serial('code above inlineCodeBytes is stored once in Redis under its sha256, with an expiry', async (t) => {
  const redis = await startRedis(t);
  await startNode(t, redis, 'stored');
  const queue = producer(t, redis, 'stored', { inlineCodeBytes: 0, codeTtlSeconds: 600 });
  const client = new Redis(redis.url);
  t.teardown(() => client.quit());
  const jobs = await Promise.all([1, 2, 3].map((n) => queue.submit(hello!.code, Buffer.from(`w${n}`))));
  for (const job of jobs) {
    t.is(job.data.code, undefined);
    t.is(job.data.codeHash, codeHashOf(hello!.code));
  }
  const keys = await client.keys('bull:warden:code:*');
  t.deepEqual(keys, [`bull:warden:code:${codeHashOf(hello!.code)}`]);
  const ttl = await client.ttl(keys[0]!);
  t.true(ttl > 500 && ttl <= 600, `ttl ${ttl}`);
  t.deepEqual(await client.getBuffer(keys[0]!), hello!.code);
  const results = await Promise.all(jobs.map((job) => queue.result(job)));
  t.deepEqual(
    results.map((r) => r.output.toString()),
    ['Hello, w1!', 'Hello, w2!', 'Hello, w3!'],
  );
  // Small code travels inline by default, and nothing is stored for it.
  const inlineQueue = producer(t, redis, 'stored');
  const upper = wat(sources.upper);
  const inline = await inlineQueue.submit(upper, Buffer.from('abc'));
  t.is(typeof inline.data.code, 'string');
  t.is((await inlineQueue.result(inline)).output.toString(), 'ABC');
  t.is(await client.exists(`bull:warden:code:${codeHashOf(upper)}`), 0);
});

test.serial('a deterministic failure fails the job at once, without retry, with its code, node and usage', async (t) => {
  const redis = await startRedis(t);
  await startNode(t, redis, 'trap', { node: 'node-t' });
  const queue = producer(t, redis, 'trap');
  const job = await queue.submit(wat(sources.trap), Buffer.alloc(0), { attempts: 5, backoff: 10 });
  const error = await t.throwsAsync(queue.result(job));
  t.true(error instanceof TrapError, String(error));
  t.is((error as TrapError).details.node, 'node-t');
  t.is(typeof (error as TrapError).details.cpuTimeMs, 'number');
  const failed = await reload(queue, job);
  t.is(await failed.getState(), 'failed');
  t.is(failed.attemptsMade, 1);
  const failure = parseFailedReason(failed.failedReason);
  t.like(failure, { code: 'E_TRAP', deterministic: true, node: 'node-t' });
});

test.serial('a timeout is not deterministic: BullMQ retries it with its attempts and backoff', async (t) => {
  const redis = await startRedis(t);
  await startNode(t, redis, 'timeout');
  const queue = producer(t, redis, 'timeout');
  const job = await queue.submit(wat(sources.infiniteLoop), Buffer.alloc(0), { timeoutMs: 100, attempts: 2, backoff: { type: 'fixed', delay: 50 } });
  const error = await t.throwsAsync(queue.result(job));
  t.is((error as { code?: string }).code, 'E_TIMEOUT');
  const failed = await reload(queue, job);
  t.is(failed.attemptsMade, 2);
  t.like(parseFailedReason(failed.failedReason), { code: 'E_TIMEOUT', deterministic: false });
});

test.serial("a job whose worker is killed runs again: the host's own retry, then BullMQ's", async (t) => {
  const redis = await startRedis(t);
  const { node } = await startNode(t, redis, 'killed');
  const queue = producer(t, redis, 'killed');
  const job = await queue.submit(sleeper, Buffer.alloc(0), { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
  const done = queue.result(job);
  done.catch(() => {});
  // Kill the worker running it until BullMQ has counted a failed attempt (the host retries a
  // death once by itself, so that takes two kills).
  let kills = 0;
  while ((await reload(queue, job)).attemptsMade === 0) {
    const running = node.host.workers().find((w) => w.kind === 'execute' && w.jobId !== undefined && w.pid !== undefined);
    if (running) {
      // Let it start its sleep, then kill it.
      await sleep(300);
      try {
        process.kill(running.pid!, 'SIGKILL');
        kills++;
      } catch {
        // gone meanwhile
      }
      await waitFor(() => node.host.workers().some((w) => w.id === running.id), (alive) => !alive, 10_000);
    }
    await sleep(50);
    if (kills > 10) break;
  }
  const result = await done;
  t.is(result.output.byteLength, 40);
  const finished = await reload(queue, job);
  t.true(finished.attemptsMade >= 1, `attemptsMade ${finished.attemptsMade}`);
  t.true(kills >= 2, `kills ${kills}`);
  t.like(parseFailedReason(finished.failedReason), { code: 'E_WORKER_DIED', deterministic: false });
});

test.serial('bad jobs from the queue fail with a clear error, not retried, and the node keeps serving', async (t) => {
  const redis = await startRedis(t);
  await startNode(t, redis, 'bad', { host: { limits: { maxInputBytes: 1024 } } });
  const queue = producer(t, redis, 'bad');
  const add = (data: unknown): Promise<WardenJob> => queue.queue.add('bad', data, { attempts: 3, backoff: 10 }) as Promise<WardenJob>;
  const hash = codeHashOf(hello!.code);
  const cases: [string, WardenJob, new (...args: never[]) => Error, RegExp][] = [
    ['not an object', await add('just a string'), JobDataError, /job data must be an object/],
    ['not a warden job', await add({ hello: 'world' }), JobDataError, /not a warden job/],
    ['a bad hash', await add({ warden: 1, codeHash: 'abc', input: '' }), JobDataError, /codeHash/],
    ['an unknown field', await add({ warden: 1, codeHash: hash, input: '', extra: 1 }), JobDataError, /unknown field `extra`/],
    ['bad base64', await add({ warden: 1, codeHash: hash, input: '!!!!' }), JobDataError, /`input` must be base64/],
    [
      'inline code that does not match its hash',
      await add({ warden: 1, codeHash: '0'.repeat(64), code: hello!.code.toString('base64'), input: '' }),
      JobDataError,
      /does not match|not the job's codeHash/,
    ],
    ['an unknown code hash', await add({ warden: 1, codeHash: 'f'.repeat(64), input: '' }), CodeNotFoundError, /no code with sha256 f{64}/],
    [
      'an input above the node limit',
      await add({ warden: 1, codeHash: hash, code: hello!.code.toString('base64'), input: Buffer.alloc(4096).toString('base64') }),
      InvalidOptionError,
      /input of 4096 bytes exceeds maxInputBytes \(1024\)/,
    ],
    ['a bad timeout', await add({ warden: 1, codeHash: hash, code: hello!.code.toString('base64'), input: '', timeoutMs: -1 }), JobDataError, /timeoutMs/],
  ];
  for (const [what, job, ErrorClass, message] of cases) {
    const error = await t.throwsAsync(queue.result(job), undefined, what);
    t.true(error instanceof ErrorClass, `${what}: ${String(error)}`);
    t.regex(error!.message, message, what);
    const failed = await reload(queue, job);
    t.is(failed.attemptsMade, 1, `${what}: not retried`);
  }
  // Oversized input through the producer: refused before it reaches Redis.
  await t.throwsAsync(producer(t, redis, 'bad', { maxInputBytes: 10 }).submit(hello!.code, Buffer.alloc(11)), { code: 'E_INVALID_OPTION' });
  // And the node still serves.
  t.is((await queue.result(await queue.submit(hello!.code, Buffer.from('still here')))).output.toString(), 'Hello, still here!');
});

test.serial('warden priorities map to BullMQ priorities: critical first, background last', async (t) => {
  const redis = await startRedis(t);
  const queue = producer(t, redis, 'prio');
  const order = ['background', 'normal', 'high', 'critical'] as const;
  // Submitted before any node runs, in the reverse of the order they should run in.
  const jobs = [];
  for (const priority of order) jobs.push(await queue.submit(hello!.code, Buffer.from(priority), { priority }));
  for (const [i, job] of jobs.entries()) t.is(job.opts.priority, BULLMQ_PRIORITY[order[i]!]);
  await startNode(t, redis, 'prio', { concurrency: 1 });
  const results = await Promise.all(jobs.map((job) => queue.result(job)));
  const finished = await Promise.all(jobs.map((job) => reload(queue, job)));
  const ranOrder = finished
    .map((job, i) => ({ priority: order[i], at: job.processedOn! }))
    .sort((a, b) => a.at - b.at)
    .map((j) => j.priority);
  t.deepEqual(ranOrder, ['critical', 'high', 'normal', 'background']);
  t.is(results[0]!.output.toString(), 'Hello, background!');
});

test.serial("a producer's signal cancels its job: removed while waiting, stopped on its node while running, never retried", async (t) => {
  const redis = await startRedis(t);
  const queue = producer(t, redis, 'cancel');
  const waiting = new AbortController();
  const queued = await queue.submit(hello!.code, Buffer.from('x'), { signal: waiting.signal });
  const queuedResult = queue.result(queued);
  waiting.abort();
  t.true((await t.throwsAsync(queuedResult)) instanceof AbortedError);
  t.is(await find(queue, queued), undefined, 'removed from the queue');

  await startNode(t, redis, 'cancel');
  const running = new AbortController();
  const job = await queue.submit(sleeper, Buffer.alloc(0), { signal: running.signal, attempts: 3 });
  t.is(await untilState(queue, job, ['active']), 'active');
  await sleep(300);
  running.abort();
  t.true((await t.throwsAsync(queue.result(job))) instanceof AbortedError);
  t.is(await untilState(queue, job, ['failed']), 'failed');
  const failed = await reload(queue, job);
  t.is(failed.attemptsMade, 1);
  t.like(parseFailedReason(failed.failedReason), { code: 'E_ABORTED' });
  // The node serves on.
  t.is((await queue.result(await queue.submit(hello!.code, Buffer.from('on')))).output.toString(), 'Hello, on!');
});

test.serial('a deadline: result() gives up at it and removes a waiting job; a node stops a running job at it, without retry', async (t) => {
  const redis = await startRedis(t);
  const queue = producer(t, redis, 'deadline');
  const expiring = await queue.submit(hello!.code, Buffer.from('late'), { deadline: Date.now() + 300 });
  t.true((await t.throwsAsync(queue.result(expiring))) instanceof DeadlineError);
  await sleep(100);
  t.is(await find(queue, expiring), undefined, 'removed at its deadline');

  const { node } = await startNode(t, redis, 'deadline');
  // Prepared before, so that the job starts at once: on a loaded machine a prepare could take
  // longer than the deadline, and a job still waiting at it is removed (the first case) instead.
  await node.host.prepare(sleeper);
  // A job the node had not taken by its deadline is removed (the first case): under heavy load
  // that can happen again, so the case is tried again until the job ran at it. The deadline stays
  // below the sleeper's 2 s, so a job that runs is always still running at it.
  let state = 'unknown';
  let job!: WardenJob;
  for (let tries = 0; state === 'unknown' && tries < 5; tries++) {
    job = await queue.submit(sleeper, Buffer.alloc(0), { deadline: Date.now() + 1500, attempts: 3 });
    t.true((await t.throwsAsync(queue.result(job))) instanceof DeadlineError);
    state = await untilState(queue, job, ['failed', 'unknown']);
  }
  t.is(state, 'failed');
  const failed = await reload(queue, job);
  t.is(failed.attemptsMade, 1);
  t.like(parseFailedReason(failed.failedReason), { code: 'E_DEADLINE' });
});

test.serial('close() hands running jobs back to the queue after its grace, no attempt counted; another node runs them', async (t) => {
  const redis = await startRedis(t);
  const { node } = await startNode(t, redis, 'handback');
  const queue = producer(t, redis, 'handback');
  const job = await queue.submit(sleeper, Buffer.alloc(0));
  t.is(await untilState(queue, job, ['active']), 'active');
  await node.close({ graceMs: 100 });
  const state = await queue.queue.getJobState(job.id!);
  t.true(['waiting', 'prioritized'].includes(state), state);
  t.is((await reload(queue, job)).attemptsMade, 0);
  await startNode(t, redis, 'handback', { node: 'second' });
  const result = await queue.result(job);
  t.is(result.node, 'second');
});

test.serial('close() ends even when Redis is gone: the node drops its connections after its grace', async (t) => {
  const redis = await startRedis(t);
  const { node } = await startNode(t, redis, 'gone');
  const queue = producer(t, redis, 'gone');
  const job = await queue.submit(sleeper, Buffer.alloc(0));
  t.is(await untilState(queue, job, ['active']), 'active');
  await redis.stop();
  const started = Date.now();
  await node.close({ graceMs: 200 });
  // Liveness, not speed: it ended (the grace, the 5 s margin, the host's close), and the
  // teardown checks that no worker process is left.
  t.log(`closed in ${Date.now() - started} ms`);
  t.pass();
});

test('options are checked at the boundary, each message naming its option', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /`connection` option to be a Redis URL/],
    [{ connection: 'http://x' }, /redis:\/\/ or rediss:\/\/ URL/],
    [{ connection: 'redis://x', concurrency: 0 }, /`concurrency`/],
    [{ connection: 'redis://x', lockDurationMs: -5 }, /`lockDurationMs`/],
    [{ connection: 'redis://x', removeOnComplete: { age: 'x' } }, /`removeOnComplete`/],
    [{ connection: 'redis://x', node: '' }, /`node`/],
    [{ connection: 'redis://x', colour: 'blue' }, /Unknown option `colour`/],
  ];
  for (const [options, message] of cases) {
    const error = await t.throwsAsync(createWardenWorker('q', options as never));
    t.is((error as { code?: string }).code, 'E_INVALID_OPTION');
    t.regex(error!.message, message);
  }
  await t.throwsAsync(createWardenWorker('', { connection: 'redis://x' }), { message: /queue name/ });
});
