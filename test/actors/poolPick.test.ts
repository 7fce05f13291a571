// Which idle worker takes a job (Pool.#pick), on a simulated clock with worker handles that keep
// the real contract (test/helpers/fakeWorkerHandle.ts): the one whose dir already holds what the
// job needs, else the one idle the shortest time (its caches, module and memory the warmest), and
// a spare only when no worker that ran jobs is idle.
import test, { type ExecutionContext } from 'ava';
import type { Pool } from '../../src/actors/pool.js';
import { FakeJob, FakeWorkerHandle, fakePool } from '../helpers/fakeWorkerHandle.js';

async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function twoUsedWorkers(t: ExecutionContext) {
  const { pool, handles } = fakePool(t, { size: 2 });
  await settle();
  // Both run a job; the second handle answers first, so the first is the one idle the shortest time.
  const first = [new FakeJob('warm-0'), new FakeJob('warm-1')];
  for (const job of first) pool.submit(job);
  await settle();
  const [a, b] = first.map((job) => handles.find((handle) => handle.id === job.workers[0])!);
  b!.answer();
  await settle();
  a!.answer();
  await settle();
  for (const job of first) t.true((await job.done).ok);
  return { pool, a: a!, b: b! };
}

async function runOn(pool: Pool, job: FakeJob, handles: FakeWorkerHandle[]): Promise<string> {
  pool.submit(job);
  await settle();
  const worker = job.workers[0]!;
  handles.find((handle) => handle.id === worker)!.answer();
  await settle();
  await job.done;
  return worker;
}

test('one job at a time goes to the worker idle the shortest time, not in turns', async (t) => {
  const { pool, a, b } = await twoUsedWorkers(t);
  const took: string[] = [];
  for (let i = 0; i < 4; i++) took.push(await runOn(pool, new FakeJob(`serial-${i}`), [a, b]));
  t.deepEqual(took, [a.id, a.id, a.id, a.id]);
});

test('a worker whose dir holds what the job needs is taken before one idle for less time', async (t) => {
  const { pool, a, b } = await twoUsedWorkers(t);
  const job = new FakeJob('affine');
  job.ready = (worker) => worker.id === b.id;
  t.is(await runOn(pool, job, [a, b]), b.id);
  // With no dir holding what it needs, the next goes to the worker idle the shortest time: b again.
  t.is(await runOn(pool, new FakeJob('any'), [a, b]), b.id);
});
