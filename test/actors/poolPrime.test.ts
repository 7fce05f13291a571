// Priming (Pool, PoolWorker.prime) on a simulated clock with worker handles that keep the real
// contract (test/helpers/fakeWorkerHandle.ts): a spare no job took is readied with the latest
// job's primer and sent a Prime; a job of that artifact takes a spare that holds it; a job given
// to a spare whose priming is in flight populates after it, and no Prime follows; a worker that
// ran a job, or a spare that holds an artifact already, is never primed; jobs submitted
// together take the spares before any is primed.
import test from 'ava';
import { MessageType, type PrimeRequest } from '../../src/protocol/messages.js';
import type { JobWorker, Primer } from '../../src/actors/poolJob.js';
import { FakeJob, fakePool, type FakeWorkerHandle } from '../helpers/fakeWorkerHandle.js';

async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A primer whose copies the test can hold back; it records the workers it primed, and primes none in `skip`. */
class TestPrimer implements Primer {
  readonly primed: string[] = [];
  readonly skip = new Set<string>();
  hold: Promise<void> | undefined;
  #copies = 0;

  constructor(readonly key: string) {}

  async prime(worker: JobWorker): Promise<PrimeRequest | undefined> {
    if (this.skip.has(worker.id)) return undefined;
    this.primed.push(worker.id);
    await this.hold;
    worker.linked = { key: this.key, ino: 1, cacheIno: 2, generation: 1, copy: ++this.#copies };
    return { artifactCopy: worker.linked.copy, maxMemoryPages: 16 };
  }
}

/** A job of `primer`'s artifact: a worker's dir is ready for it where it holds that key. */
function jobOf(id: string, primer: TestPrimer, isolation: 'worker' | 'job'): FakeJob {
  const job = new FakeJob(id, { isolation, primer });
  job.ready = (worker) => worker.linked?.key === primer.key;
  return job;
}

function handleOf(handles: FakeWorkerHandle[], id: string | undefined): FakeWorkerHandle {
  return handles.find((handle) => handle.id === id)!;
}

test("the idle spares and each refill are primed with the latest job's artifact, the worker running the job is not", async (t) => {
  const { pool, handles } = fakePool(t, { size: 3 });
  await settle();
  const primer = new TestPrimer('k');
  const first = jobOf('first', primer, 'job');
  pool.submit(first);
  await settle();
  const ran = first.workers[0]!;
  const spares = handles.filter((handle) => handle.id !== ran).map((handle) => handle.id);
  t.deepEqual([...primer.primed].sort(), [...spares].sort());
  for (const id of spares) {
    const { sent } = handleOf(handles, id);
    t.is(sent.length, 1, 'one Prime');
    t.is(sent[0]!.type, MessageType.Prime);
    t.is((sent[0]!.header as PrimeRequest).maxMemoryPages, 16);
  }
  t.deepEqual(handleOf(handles, ran).sent, []);
  handleOf(handles, ran).answer();
  await settle();
  t.true((await first.done).ok);
  // One job per process: the worker is retired, and its refill primed once it is idle.
  const refill = handles.at(-1)!;
  t.false([ran, ...spares].includes(refill.id), 'a refill was spawned');
  t.true(primer.primed.includes(refill.id));
  t.is(refill.sent.length, 1);
});

test('a job of the primed artifact takes a spare that holds it before one idle longer that does not', async (t) => {
  const { pool, handles } = fakePool(t, { size: 3 });
  await settle();
  const primer = new TestPrimer('k');
  // The spare idle longest is left unprimed.
  primer.skip.add(handles[1]!.id);
  const first = jobOf('first', primer, 'worker');
  pool.submit(first);
  await settle();
  t.is(first.workers[0], handles[0]!.id);
  t.deepEqual(primer.primed, [handles[2]!.id]);
  handles[0]!.answer();
  await settle();
  // `job` isolation: a spare, and the one that holds the artifact.
  const second = jobOf('second', primer, 'job');
  pool.submit(second);
  await settle();
  t.is(second.workers[0], handles[2]!.id);
  handles[2]!.answer();
  t.true((await second.done).ok);
});

test('a job given to a spare whose priming is in flight populates once it is done, and no Prime is sent', async (t) => {
  const { pool, handles } = fakePool(t, { size: 2 });
  await settle();
  const primer = new TestPrimer('k');
  let release!: () => void;
  primer.hold = new Promise((resolve) => (release = resolve));
  const first = jobOf('first', primer, 'worker');
  pool.submit(first);
  await settle();
  const spare = handles.find((handle) => handle.id !== first.workers[0])!;
  t.deepEqual(primer.primed, [spare.id], 'priming started');
  handleOf(handles, first.workers[0]).answer();
  await settle();
  const second = jobOf('second', primer, 'job');
  pool.submit(second);
  await settle();
  t.deepEqual(second.workers, [spare.id]);
  t.deepEqual(second.populated, [], 'its populate waits for the priming');
  t.is(spare.pending.length, 0, 'nothing sent yet');
  release();
  await settle();
  t.deepEqual(second.populated, [spare.id]);
  t.is(spare.pending.length, 1, 'the request went out');
  t.deepEqual(spare.sent, [], 'no Prime: a job took the spare first');
  spare.answer();
  t.true((await second.done).ok);
});

test('a worker that ran a job, or a spare that holds an artifact, is never primed', async (t) => {
  const { pool, handles } = fakePool(t, { size: 2 });
  await settle();
  const one = new TestPrimer('one');
  const a = jobOf('a', one, 'worker');
  pool.submit(a);
  await settle();
  const used = handleOf(handles, a.workers[0]);
  const spare = handles.find((handle) => handle !== used)!;
  used.answer();
  await settle();
  t.deepEqual(one.primed, [spare.id]);
  // Another artifact: reuse takes the used worker; the spare keeps the copy it has.
  const two = new TestPrimer('two');
  const b = jobOf('b', two, 'worker');
  pool.submit(b);
  await settle();
  t.deepEqual(b.workers, [used.id]);
  used.answer();
  await settle();
  t.true((await b.done).ok);
  t.deepEqual(two.primed, [], 'neither the used worker nor the spare holding "one"');
  t.deepEqual(used.sent, []);
  t.is(spare.sent.length, 1, 'the spare was primed once, with "one"');
});

test('spares that jobs are waiting for take them, and are not primed first', async (t) => {
  const { pool, handles } = fakePool(t, { size: 3 });
  await settle();
  const primer = new TestPrimer('k');
  const jobs = ['one', 'two', 'three'].map((id) => jobOf(id, primer, 'job'));
  for (const job of jobs) pool.submit(job);
  await settle();
  t.deepEqual(jobs.map((job) => job.workers.length), [1, 1, 1], 'each job on a spare');
  t.deepEqual(primer.primed, [], 'no priming while jobs waited');
  t.deepEqual(handles.map((handle) => handle.sent.length), [0, 0, 0]);
  for (const handle of handles) handle.answer();
  for (const job of jobs) t.true((await job.done).ok);
});

test('with more artifacts in turn than workers priming stops (a spare that holds nothing is taken first), and resumes once jobs come back to one artifact', async (t) => {
  const { pool, handles } = fakePool(t, { size: 2 });
  await settle();
  const primers = ['a', 'b', 'c', 'd'].map((key) => new TestPrimer(key));
  const primes = (): number => primers.reduce((sum, primer) => sum + primer.primed.length, 0);
  let n = 0;
  const run = async (primer: TestPrimer): Promise<string> => {
    const job = jobOf(`job-${n++}`, primer, 'job');
    pool.submit(job);
    await settle();
    const worker = job.workers[0]!;
    handleOf(handles, worker).answer();
    await settle();
    t.true((await job.done).ok);
    return worker;
  };
  // Four artifacts in turn on two workers: no job's artifact is one a spare would hold.
  for (let i = 0; i < 8; i++) await run(primers[i % 4]!);
  t.true(primes() > 0, 'primed while the pool did not know yet');
  const before = primes();
  const spawnedBefore = handles.length;
  const ranOn: [TestPrimer, string][] = [];
  for (let i = 8; i < 14; i++) ranOn.push([primers[i % 4]!, await run(primers[i % 4]!)]);
  t.true(handles.length > spawnedBefore, 'refills were spawned');
  t.is(primes(), before, 'no refill was primed');
  // Each job ran on a spare that held its artifact or nothing (the refills), never on one primed
  // with another artifact while such a spare was idle.
  for (const [primer, worker] of ranOn) {
    t.false(primers.some((other) => other !== primer && other.primed.includes(worker)), `${worker} held another artifact`);
  }

  // One artifact from now on: most jobs would find it in a spare, and priming resumes.
  const a = primers[0]!;
  const primedA = a.primed.length;
  for (let i = 0; i < 8; i++) await run(a);
  t.true(a.primed.length > primedA, 'refills are primed with "a" again');
});
