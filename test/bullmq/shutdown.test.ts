/**
 * `warden serve` stopped by a signal in the middle of a run loses nothing: with time to spare
 * its running jobs finish there; with a short grace (or a second signal) they go back to the
 * queue, no attempt counted, and the other node runs them. It exits 0 either way.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { QueueEvents } from 'bullmq';
import { producer, sleepEchoSource, spawnNode, type NodeProcess } from '../helpers/bullmq.js';
import { startRedis } from '../helpers/redis.js';
import { wat } from '../helpers/wat.js';

/** The jobs node-a runs at this moment, once it runs some. */
async function runningOn(queue: ReturnType<typeof producer>, node: string): Promise<string[]> {
  for (;;) {
    const ids = (await queue.queue.getActive()).filter((job) => job.processedBy === node).map((job) => job.id!);
    if (ids.length > 0) return ids;
    await sleep(20);
  }
}

for (const [title, jobMs, extra, signals] of [
  ['SIGTERM: its running jobs finish there, the waiting ones run on the other node', 300, [], 1],
  ['SIGTERM with a short grace: its running jobs go back to the queue and run on the other node', 3000, ['--shutdown-grace', '200ms'], 1],
  ['SIGINT twice: the second hands running jobs back at once', 3000, [], 2],
] as const) {
  test.serial(`${title}; nothing lost, nothing run twice`, async (t) => {
    const redis = await startRedis(t);
    const queueName = `stop-${signals}-${jobMs}`;
    const args = ['--execute-workers', '2', '--concurrency', '2'];
    const [a, b] = (await Promise.all([
      spawnNode(t, redis, queueName, 'node-a', [...args, ...extra]),
      spawnNode(t, redis, queueName, 'node-b', args),
    ])) as [NodeProcess, NodeProcess];
    const events = new QueueEvents(queueName, { connection: { url: redis.url }, lastEventId: '0-0' });
    t.teardown(() => events.close());
    const completed = new Map<string, number>();
    let failed = 0;
    events.on('completed', ({ jobId }) => completed.set(jobId, (completed.get(jobId) ?? 0) + 1));
    events.on('failed', () => failed++);
    const queue = producer(t, redis, queueName);
    const code = wat(sleepEchoSource(jobMs));
    const count = jobMs > 1000 ? 8 : 40;
    const jobs = await Promise.all(Array.from({ length: count }, (_, i) => queue.submit(code, Buffer.from(`job ${i}`))));
    const results = Promise.all(jobs.map((job) => queue.result(job)));
    results.catch(() => {});

    const heldByA = await runningOn(queue, 'node-a');
    const signal = signals === 2 ? 'SIGINT' : 'SIGTERM';
    a.child.kill(signal);
    if (signals === 2) {
      await sleep(200);
      a.child.kill(signal);
    }
    t.deepEqual(await a.exited, [0, null], a.stderr());
    t.regex(a.stderr(), /node stopped/);

    const all = await results;
    t.deepEqual(
      all.flatMap((r, i) => (r.output.toString() === `job ${i}` ? [] : [i])),
      [],
    );
    await sleep(500);
    t.is(failed, 0);
    t.deepEqual(
      jobs.filter((job) => completed.get(job.id!) !== 1).map((job) => job.id),
      [],
      'each completed once',
    );
    const held = all.filter((r) => heldByA.includes(r.jobId));
    if (jobMs < 1000) {
      // The grace (30 s) outlasts the jobs: node-a finished what it held.
      t.true(held.every((r) => r.node === 'node-a'), JSON.stringify(held.map((r) => [r.jobId, r.node])));
    } else {
      // They went back to the queue and node-b ran them: the one attempt BullMQ counts is node-b's.
      t.true(held.every((r) => r.node === 'node-b'), JSON.stringify(held.map((r) => [r.jobId, r.node])));
      for (const id of heldByA) t.is((await queue.queue.getJob(id))!.attemptsMade, 1);
    }
    b.child.kill('SIGTERM');
    t.deepEqual(await b.exited, [0, null]);
  });
}
