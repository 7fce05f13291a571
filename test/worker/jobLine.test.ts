// The worker's line of execute jobs (src/worker/jobLine.ts): jobs run one at a time in arrival
// order; one that has not started is withdrawn at once and never runs; a running one is aborted
// only when asked to; a cancel that crosses the answer is ignored.
import test from 'ava';
import { JobAbort, type JobSignal } from '../../src/worker/jobBounds.js';
import { JobLine } from '../../src/worker/jobLine.js';

/** A job the test ends by hand, recording its start and whether its signal was aborted. */
function manual(log: string[], id: string) {
  let end!: () => void;
  const done = new Promise<void>((resolve) => (end = resolve));
  let signal: JobSignal | undefined;
  const run = async (s: JobSignal): Promise<void> => {
    signal = s;
    log.push(`start ${id}`);
    await done;
    log.push(`end ${id}${s.aborted ? ' (aborted)' : ''}`);
  };
  return { run, end: () => end(), aborted: () => signal?.aborted === true };
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

test('jobs run one at a time, in the order they came', async (t) => {
  const line = new JobLine();
  const log: string[] = [];
  const jobs = [1, 2, 3].map((id) => manual(log, `j${id}`));
  jobs.forEach((job, i) => line.submit(i + 1, job.run, () => log.push(`withdrawn j${i + 1}`), (e) => t.fail(e.message)));
  await turns();
  t.deepEqual(log, ['start j1']);
  t.is(line.size, 3);
  jobs[0]!.end();
  await turns();
  t.deepEqual(log, ['start j1', 'end j1', 'start j2']);
  jobs[1]!.end();
  await turns();
  jobs[2]!.end();
  await turns();
  t.deepEqual(log, ['start j1', 'end j1', 'start j2', 'end j2', 'start j3', 'end j3']);
  t.is(line.size, 0);
});

test('a job that has not started is withdrawn at once and never runs, with or without abort', async (t) => {
  for (const abort of [false, true]) {
    const line = new JobLine();
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((id) => manual(log, id));
    line.submit(1, a!.run, () => log.push('withdrawn a'), (e) => t.fail(e.message));
    line.submit(2, b!.run, () => log.push('withdrawn b'), (e) => t.fail(e.message));
    line.submit(3, c!.run, () => log.push('withdrawn c'), (e) => t.fail(e.message));
    await turns();
    line.cancel(2, abort);
    t.deepEqual(log, ['start a', 'withdrawn b'], 'answered before the job ahead of it ends');
    line.cancel(2, abort);
    t.deepEqual(log, ['start a', 'withdrawn b'], 'once');
    a!.end();
    await turns();
    c!.end();
    await turns();
    t.deepEqual(log, ['start a', 'withdrawn b', 'end a', 'start c', 'end c']);
    t.false(a!.aborted());
  }
});

test('a running job is aborted only with abort; a cancel for a job already answered, or unknown, is ignored', async (t) => {
  const line = new JobLine();
  const log: string[] = [];
  const a = manual(log, 'a');
  line.submit(7, a.run, () => log.push('withdrawn a'), (e) => t.fail(e.message));
  await turns();
  line.cancel(7, false);
  t.false(a.aborted(), 'a withdrawal does not stop a running job');
  line.cancel(7, true);
  t.true(a.aborted());
  a.end();
  await turns();
  t.deepEqual(log, ['start a', 'end a (aborted)']);
  line.cancel(7, true);
  line.cancel(99, true);
  t.deepEqual(log, ['start a', 'end a (aborted)']);
});

test('a job that throws goes to onError and the line carries on', async (t) => {
  const line = new JobLine();
  const errors: string[] = [];
  const log: string[] = [];
  line.submit(1, async () => { throw new Error('boom'); }, () => {}, (e) => errors.push(e.message));
  const b = manual(log, 'b');
  line.submit(2, b.run, () => {}, (e) => errors.push(e.message));
  await turns();
  t.deepEqual(errors, ['boom']);
  t.deepEqual(log, ['start b']);
  b.end();
  await turns();
  t.is(line.size, 0);
});

test("a job's abort switch runs each listener once, at the first abort; one removed or added after it never runs", (t) => {
  const abort = new JobAbort();
  const log: string[] = [];
  const first = () => log.push('first');
  const removed = () => log.push('removed');
  abort.addEventListener('abort', first, { once: true });
  abort.addEventListener('abort', removed, { once: true });
  abort.addEventListener('abort', () => log.push('second'), { once: true });
  abort.removeEventListener('abort', removed);
  t.false(abort.aborted);
  abort.abort();
  t.true(abort.aborted);
  t.deepEqual(log, ['first', 'second']);
  abort.abort();
  abort.addEventListener('abort', () => log.push('late'));
  t.deepEqual(log, ['first', 'second'], 'a second abort and a listener added after the first run nothing');
});
