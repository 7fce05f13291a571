/**
 * A node lost in the middle of a run. BullMQ is at-least-once: a job whose node stops renewing
 * its lock is handed to another node by the stalled-job check, and may then run twice. What
 * must hold is that each job's result is recorded exactly once: counted here from the queue's
 * own event stream (every `completed` and `failed` event, per job id), not from the waiters.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { QueueEvents } from 'bullmq';
import { WardenQueue, type WardenJob, type WardenJobResult } from '../../src/bullmq/index.js';
import { metric, producer, scrape, sleepEchoSource, spawnNode, type NodeProcess } from '../helpers/bullmq.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { wat } from '../helpers/wat.js';

const JOBS = 240;
/** Each job sleeps this long in its worker: jobs stay in flight, so a node dies with some running. */
const slowEcho = wat(sleepEchoSource(100));

interface Run {
  queue: WardenQueue;
  jobs: WardenJob[];
  results: Promise<WardenJobResult[]>;
  completed: Map<string, number>;
  failed: Map<string, number>;
  stalled: string[];
}

/** Two nodes, a listener that counts every finish event per job, and JOBS jobs submitted. */
async function startRun(t: ExecutionContext, redis: TestRedis, name: string): Promise<{ nodes: NodeProcess[]; run: Run }> {
  const args = ['--execute-workers', '2', '--concurrency', '3'];
  const nodes = await Promise.all([spawnNode(t, redis, name, 'node-a', args), spawnNode(t, redis, name, 'node-b', args)]);
  const events = new QueueEvents(name, { connection: { url: redis.url }, lastEventId: '0-0' });
  t.teardown(() => events.close());
  await events.waitUntilReady();
  const completed = new Map<string, number>();
  const failed = new Map<string, number>();
  const stalled: string[] = [];
  events.on('completed', ({ jobId }) => completed.set(jobId, (completed.get(jobId) ?? 0) + 1));
  events.on('failed', ({ jobId }) => failed.set(jobId, (failed.get(jobId) ?? 0) + 1));
  events.on('stalled', ({ jobId }) => stalled.push(jobId));
  const queue = producer(t, redis, name);
  const jobs = await Promise.all(Array.from({ length: JOBS }, (_, i) => queue.submit(slowEcho, Buffer.from(`job ${i}`))));
  const results = Promise.all(jobs.map((job) => queue.result(job)));
  results.catch(() => {});
  return { nodes, run: { queue, jobs, results, completed, failed, stalled } };
}

/** Waits until `count` results are in, and returns the ids of jobs node-a runs right then. */
async function midRun(run: Run, count: number): Promise<string[]> {
  for (;;) {
    const done = (await run.queue.queue.getJobCounts('completed')).completed ?? 0;
    const onA = (await run.queue.queue.getActive()).filter((job) => job.processedBy === 'node-a').map((job) => job.id!);
    if (done >= count && onA.length > 0) return onA;
    await sleep(20);
  }
}

/** Every job completed with its own input back, and exactly one completion recorded for each. */
async function checkExactlyOnce(t: ExecutionContext, run: Run): Promise<WardenJobResult[]> {
  const results = await run.results;
  t.deepEqual(
    results.flatMap((r, i) => (r.output.toString() === `job ${i}` ? [] : [i])),
    [],
    'every result exact',
  );
  // Let late events (a second completion, if BullMQ accepted one) arrive before counting.
  await sleep(1000);
  const ids = run.jobs.map((job) => job.id!);
  t.deepEqual(
    ids.filter((id) => run.completed.get(id) !== 1),
    [],
    'one completed event per job',
  );
  t.is(run.completed.size, JOBS, 'no completion of anything else');
  t.is(run.failed.size, 0, 'no failure');
  const counts = await run.queue.queue.getJobCounts('completed', 'failed', 'active', 'wait', 'prioritized', 'delayed');
  t.like(counts, { completed: JOBS, failed: 0, active: 0, wait: 0, prioritized: 0, delayed: 0 });
  return results;
}

test.serial('a node SIGKILLed mid-run: the stalled-job check hands its jobs to the other node; every job completes exactly once', async (t) => {
  const redis = await startRedis(t);
  const { nodes, run } = await startRun(t, redis, 'kill');
  const [a, b] = nodes as [NodeProcess, NodeProcess];
  const runningOnA = await midRun(run, JOBS / 4);
  a.child.kill('SIGKILL');
  t.deepEqual(await a.exited, [null, 'SIGKILL']);
  const results = await checkExactlyOnce(t, run);
  // What node-a held when it died was recorded by node-b (node-a may have finished a few in the
  // instant between the look and the kill).
  const recordedByB = runningOnA.filter((id) => results[run.jobs.findIndex((job) => job.id === id)]!.node === 'node-b');
  t.true(recordedByB.length > 0, `jobs running on node-a: ${runningOnA.join(', ')}`);
  t.true(run.stalled.some((id) => runningOnA.includes(id)), 'BullMQ saw them stall');
  t.true(results.some((r) => r.node === 'node-a'));
  b.child.kill('SIGTERM');
  t.deepEqual(await b.exited, [0, null]);
});

test.serial('a node frozen past its lock (SIGSTOP) and thawed: its jobs run twice, and each result is still recorded once', async (t) => {
  const redis = await startRedis(t);
  const { nodes, run } = await startRun(t, redis, 'freeze');
  const [a, b] = nodes as [NodeProcess, NodeProcess];
  const runningOnA = await midRun(run, JOBS / 4);
  a.child.kill('SIGSTOP');
  // Frozen until node-b has recorded the jobs node-a held (their locks expired, they stalled).
  let results: WardenJobResult[];
  try {
    results = await run.results;
  } finally {
    a.child.kill('SIGCONT');
  }
  await checkExactlyOnce(t, run);
  const recordedByB = runningOnA.filter((id) => results[run.jobs.findIndex((job) => job.id === id)]!.node === 'node-b');
  t.true(recordedByB.length > 0);
  // Thawed, node-a ends the attempts it had begun; BullMQ refuses their outcome (the lock is
  // gone): node-a counts more attempts than it got recorded.
  let attempts = 0;
  let recorded = 0;
  for (let i = 0; i < 200; i++) {
    const lines = await scrape(a.url);
    attempts = ['completed', 'failed', 'retry', 'returned', 'cancelled'].reduce((sum, o) => sum + metric(lines, 'warden_bullmq_attempts_total', `outcome="${o}"`), 0);
    recorded = metric(lines, 'warden_bullmq_recorded_total', 'kind="completed"') + metric(lines, 'warden_bullmq_recorded_total', 'kind="failed"');
    if (attempts >= recorded + recordedByB.length) break;
    await sleep(100);
  }
  t.true(attempts > recorded, `node-a: ${attempts} attempts, ${recorded} recorded`);
  t.is(results.filter((r) => r.node === 'node-a').length, recorded - metric(await scrape(a.url), 'warden_bullmq_recorded_total', 'kind="failed"'));
  // Neither a late completion nor a failure reached the stream after the thaw.
  await sleep(1000);
  t.is([...run.completed.values()].filter((n) => n !== 1).length, 0);
  t.is(run.failed.size, 0);
  for (const node of [a, b]) node.child.kill('SIGTERM');
  for (const node of [a, b]) t.deepEqual(await node.exited, [0, null], node.stderr());
});
