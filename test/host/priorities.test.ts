/**
 * Priorities and the starvation bound, observed on a real pool of one execute worker: the
 * order in which queued jobs start ('job:started') while the worker was busy.
 */
import test from 'ava';
import type { Priority } from '../../src/index.js';
import { waitFor } from '../helpers/host.js';
import { hello, nextEvent, pidOf, sleepCode, startScheduler, text } from '../helpers/scheduler.js';

const EMPTY = new Uint8Array(0);

/** Occupies the only execute worker with a sleep; resolves once it started. */
async function occupy(host: Parameters<typeof nextEvent>[0], ms: number) {
  const artifact = await host.prepare(sleepCode(ms));
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const job = host.execute(artifact, EMPTY, { timeoutMs: Math.max(1000, ms) });
  await started;
  return job;
}

test.serial('queued jobs start by priority: critical, high, normal, background; FIFO within one', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const busy = await occupy(host, 1000);
  const labels = new Map<string, string>();
  host.on('job:queued', (e) => e.kind === 'execute' && labels.set(e.jobId, e.priority));
  const order: string[] = [];
  host.on('job:started', (e) => e.kind === 'execute' && order.push(labels.get(e.jobId)!));
  const submitted: [Priority, string][] = [
    ['background', 'b1'],
    ['normal', 'n1'],
    ['high', 'h1'],
    ['critical', 'c1'],
    ['background', 'b2'],
    ['normal', 'n2'],
    ['high', 'h2'],
    ['critical', 'c2'],
  ];
  const jobs = submitted.map(([priority, name]) => {
    const job = host.execute(artifact, Buffer.from(name), { priority });
    // 'job:queued' fired synchronously inside execute(): label it with the submission's name.
    const last = [...labels.keys()].at(-1)!;
    labels.set(last, name);
    return job;
  });
  t.deepEqual(host.queueSizes().execute, { critical: 2, high: 2, normal: 2, background: 2 });
  const results = await Promise.all(jobs);
  results.forEach((r, i) => t.is(text(r.output), `Hello, ${submitted[i]![1]}!`));
  await busy;
  t.deepEqual(order, ['c1', 'c2', 'h1', 'h2', 'n1', 'n2', 'b1', 'b2']);
});

test.serial('starvation bound: a background job is overtaken by at most 16 later high jobs', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const busy = await occupy(host, 1000);
  const labels = new Map<string, string>();
  host.on('job:queued', (e) => e.kind === 'execute' && labels.set(e.jobId, e.priority));
  const order: string[] = [];
  host.on('job:started', (e) => e.kind === 'execute' && order.push(labels.get(e.jobId) ?? '?'));
  const jobs = [host.execute(artifact, Buffer.from('bg'), { priority: 'background' })];
  for (let i = 0; i < 20; i++) jobs.push(host.execute(artifact, Buffer.from(`h${i}`), { priority: 'high' }));
  // Critical jobs go first and do not count as overtakes.
  for (let i = 0; i < 3; i++) jobs.push(host.execute(artifact, Buffer.from(`c${i}`), { priority: 'critical' }));
  await Promise.all(jobs);
  await busy;
  t.deepEqual(order, [...Array(3).fill('critical'), ...Array(16).fill('high'), 'background', ...Array(4).fill('high')]);
});

test.serial('a job submitted while the worker is idle starts at once, whatever its priority', async (t) => {
  const { host } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  for (const priority of ['background', 'normal', 'high', 'critical'] as const) {
    const result = await host.execute(artifact, Buffer.from(priority), { priority });
    t.is(text(result.output), `Hello, ${priority}!`);
  }
  t.deepEqual(host.queueSizes().execute, { critical: 0, high: 0, normal: 0, background: 0 });
});

test.serial('a critical prepare that joins a waiting background prepare of the same code is not served last', async (t) => {
  const { host } = await startScheduler(t);
  // Hold the only prepare worker (frozen, then thawed) while prepares queue up behind it.
  let frozen: number | undefined;
  host.once('job:started', (e) => {
    frozen = pidOf(host, e.workerId);
    process.kill(frozen, 'SIGSTOP');
  });
  const holder = host.prepare(sleepCode(1));
  await waitFor(() => frozen, (pid) => pid !== undefined);
  const queued: string[] = [];
  host.on('job:queued', (e) => e.kind === 'prepare' && queued.push(e.jobId));
  const labels = new Map<string, string>();
  const label = (name: string) => labels.set(queued.at(-1)!, name);
  const order: string[] = [];
  host.on('job:started', (e) => e.kind === 'prepare' && order.push(labels.get(e.jobId) ?? e.jobId));
  const x = host.prepare(sleepCode(2), { priority: 'background' });
  label('x');
  const y = host.prepare(sleepCode(3), { priority: 'normal' });
  label('y');
  // A critical caller now needs x too: it shares x's job.
  const xCritical = host.prepare(sleepCode(2), { priority: 'critical' });
  process.kill(frozen!, 'SIGCONT');
  await Promise.all([holder, x, y, xCritical]);
  t.deepEqual(order, ['x', 'y'], 'the job a critical caller waits for runs before a normal one');
});
