/**
 * Isolation between jobs: with `isolation: 'job'` every job runs in a process that never ran
 * another and is killed after it; the pool's workers are warm spares, refilled as they are used.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import zlib from 'node:zlib';
import test from 'ava';
import { createHost, type Host } from '../../src/index.js';
import { residentBytes } from '../../src/actors/spareBudget.js';
import { availableExamples } from '../helpers/examples.js';
import { fixtures } from '../helpers/wat.js';
import { delay, example, gzipBomb, hello, idleWorkers, nextEvent, rejection, startScheduler, text } from '../helpers/scheduler.js';
import { startHost, tempCacheDir, waitFor, workerDirsIn } from '../helpers/host.js';

test.serial("'job' isolation: every job gets a process of its own, retired after it, with the same results", async (t) => {
  const { host, cacheDir } = await startScheduler(t, { executeWorkers: 2, isolation: 'job' });
  const artifact = await host.prepare(hello.wasm);
  const retired: string[] = [];
  host.on('worker:exited', (e) => {
    if (e.kind === 'execute') retired.push(e.id);
  });
  const workers: string[] = [];
  for (let i = 0; i < 6; i++) {
    const result = await host.execute(artifact, Buffer.from(`w${i}`));
    t.is(text(result.output), `Hello, w${i}!`);
    workers.push(result.workerId);
  }
  t.is(new Set(workers).size, 6, 'six jobs, six processes');
  await idleWorkers(host, 'execute', 2);
  t.true(workers.every((id) => retired.includes(id)), 'each process was retired after its job');
  t.false(host.workers().some((w) => workers.includes(w.id)), 'no retired worker is still in the pool');
  // Their dirs went with them: only the current spares' dirs remain.
  t.is(workerDirsIn(cacheDir).filter((name) => name.startsWith('worker-dir-execute-')).length, 2);
});

/** The error suite: code that fails, each in its own way (prepare or execute), with the options it needs. */
const ERROR_SUITE: Record<string, { code: () => Uint8Array | Promise<Uint8Array>; options?: { timeoutMs: number } }> = {
  trap: { code: () => fixtures.trap },
  stackOverflow: { code: () => fixtures.stackOverflow },
  infiniteLoop: { code: () => fixtures.infiniteLoop, options: { timeoutMs: 300 } },
  memoryBomb: { code: () => fixtures.memoryBomb },
  hugeOutput: { code: () => fixtures.hugeOutput },
  outOfBoundsOutput: { code: () => fixtures.outOfBoundsOutput },
  invalidWasm: { code: () => Buffer.from('not wasm at all') },
  forbiddenImport: { code: () => fixtures.forbiddenImport },
  tooMuchMemory: { code: () => fixtures.tooMuchMemory },
  twoTables: { code: () => fixtures.twoTables },
  corruptGzip: { code: () => Buffer.concat([zlib.gzipSync(hello.wasm).subarray(0, 20), Buffer.alloc(40, 0xaa)]) },
  gzipBomb: { code: gzipBomb },
};

/** Every example of examples/examples.json and every case of the error suite, run on one host: what each gave. */
async function suiteOutcomes(host: Host): Promise<Record<string, string>> {
  const outcomes: Record<string, string> = {};
  // The C examples only where they were built (all of them in CI).
  for (const { name } of availableExamples()) {
    const ex = example(name as Parameters<typeof example>[0]);
    const result = await host.execute(ex.wasm, ex.input);
    outcomes[name] = text(result.output) + (ex.expectedStderr ? `\nstderr: ${text(result.log)}` : '');
  }
  for (const [name, { code, options }] of Object.entries(ERROR_SUITE)) {
    const error = await rejection(host.execute(await code(), Buffer.alloc(0), options));
    outcomes[name] = `${error.code} (deterministic: ${String(error.deterministic)})`;
  }
  return outcomes;
}

test.serial("'job' isolation gives the same results and error codes as reuse, on the whole example and error suite", async (t) => {
  const outcomes: Record<string, Record<string, string>> = {};
  for (const isolation of ['worker', 'job'] as const) {
    const { host } = await startScheduler(t, { executeWorkers: 2, isolation, limits: { maxOutputBytes: 1000 } });
    outcomes[isolation] = await suiteOutcomes(host);
    // And the pool keeps serving after all those failures.
    t.is(text((await host.execute(hello.wasm, Buffer.from('again'))).output), 'Hello, again!');
    await host.close();
  }
  t.deepEqual(outcomes.job, outcomes.worker);
  for (const { name } of availableExamples()) {
    const ex = example(name as Parameters<typeof example>[0]);
    t.true(outcomes.worker![name]!.startsWith(text(ex.expected)), `${name} gives its expected output`);
    if (ex.expectedStderr) t.true(outcomes.worker![name]!.endsWith(`stderr: ${text(ex.expectedStderr)}`), `${name} gives its expected stderr`);
  }
  t.like(outcomes.worker, {
    trap: 'E_TRAP (deterministic: true)',
    infiniteLoop: 'E_TIMEOUT (deterministic: false)',
    memoryBomb: 'E_OUT_OF_MEMORY (deterministic: true)',
    hugeOutput: 'E_OUTPUT_TOO_LARGE (deterministic: true)',
    forbiddenImport: 'E_PREVALIDATION (deterministic: true)',
    gzipBomb: 'E_DECOMPRESS (deterministic: true)',
  });
});

test.serial("a 'job'-isolated call on a reuse pool never runs on a worker that ran another job", async (t) => {
  const { host } = await startScheduler(t, { executeWorkers: 1 });
  const artifact = await host.prepare(hello.wasm);
  const first = await host.execute(artifact, Buffer.from('a'));
  const second = await host.execute(artifact, Buffer.from('b'));
  t.is(second.workerId, first.workerId, 'reuse: the same worker runs job after job');
  const exited = nextEvent(host, 'worker:exited', (e) => e.id === first.workerId);
  const isolated = await host.execute(artifact, Buffer.from('c'), { isolation: 'job' });
  t.is(text(isolated.output), 'Hello, c!');
  t.not(isolated.workerId, first.workerId, 'a fresh process, not the used one');
  t.is((await exited).reason, 'killed', 'the used worker was recycled into a fresh spare');
  const after = await host.execute(artifact, Buffer.from('d'));
  t.not(after.workerId, isolated.workerId, 'the isolated process was retired after its job');
});

test.serial("killing spares at random never loses a 'job'-isolated job", async (t) => {
  const { host } = await startScheduler(t, { executeWorkers: 2, isolation: 'job' });
  const artifact = await host.prepare(hello.wasm);
  // At most three kills: more young deaths in ten seconds would (rightly) read as a crash loop.
  let kills = 0;
  const killer = setInterval(() => {
    const spare = host.workers().find((w) => w.kind === 'execute' && w.state === 'idle' && w.pid);
    if (spare?.pid && kills < 3) {
      try {
        process.kill(spare.pid, 'SIGKILL');
        kills++;
      } catch {
        // already gone
      }
    }
  }, 25);
  const jobs: Promise<{ output: Uint8Array }>[] = [];
  try {
    for (let i = 0; i < 12; i++) {
      jobs.push(host.execute(artifact, Buffer.from(`k${i}`)));
      await delay(60);
    }
    const results = await Promise.all(jobs);
    results.forEach((result, i) => t.is(text(result.output), `Hello, k${i}!`));
  } finally {
    clearInterval(killer);
  }
  t.true(kills > 0, 'spares were killed while jobs came in');
});

test.serial("an invalid isolation option is refused, naming it", async (t) => {
  const { host } = await startScheduler(t);
  const error = await rejection(host.execute(hello.wasm, Buffer.from('x'), { isolation: 'thread' as 'job' }));
  t.is(error.code, 'E_INVALID_OPTION');
  t.is(error.details.option, 'isolation');
});

/**
 * The most execute workers serving at once from now on, counted from the host's events: a
 * retiring one-job process, being killed, is already replaced and serves no more.
 */
function peakExecuteWorkers(host: Host): () => number {
  const serving = new Set(host.workers().filter((w) => w.kind === 'execute').map((w) => w.id));
  let peak = serving.size;
  host.on('worker:spawned', (e) => {
    if (e.kind !== 'execute') return;
    serving.add(e.id);
    peak = Math.max(peak, serving.size);
  });
  host.on('worker:state', (e) => {
    if (e.state === 'retiring') serving.delete(e.id);
  });
  host.on('worker:exited', (e) => serving.delete(e.id));
  return () => peak;
}

test.serial('a spares budget below one worker keeps one worker, and jobs still run', async (t) => {
  const { host } = await startHost(t, { executeWorkers: 3, isolation: 'job', spareMemoryMb: 10 });
  await idleWorkers(host, 'execute', 1);
  const peak = peakExecuteWorkers(host);
  const artifact = await host.prepare(hello.wasm);
  for (let i = 0; i < 4; i++) t.is(text((await host.execute(artifact, Buffer.from(`b${i}`))).output), `Hello, b${i}!`);
  t.is(peak(), 1, 'never more than one execute worker');
});

test.serial('spares never exceed their memory budget: at most floor(budget / measured RSS) workers', async (t) => {
  const budgetMb = 150;
  const { host } = await startHost(t, { executeWorkers: 6, isolation: 'job', spareMemoryMb: budgetMb });
  const artifact = await host.prepare(hello.wasm);
  // The spares are measured as they take their first job: run a few, then let the pool settle.
  for (let i = 0; i < 6; i++) t.is(text((await host.execute(artifact, Buffer.from(`m${i}`))).output), `Hello, m${i}!`);
  const idle = await waitFor(
    () => host.workers().filter((w) => w.kind === 'execute' && w.state === 'idle' && w.pid !== undefined),
    (w) => w.length > 0 && host.workers().filter((x) => x.kind === 'execute').length === w.length,
  );
  const rss = (await Promise.all(idle.map((w) => residentBytes(w.pid!)))).filter((bytes) => bytes !== undefined);
  const total = rss.reduce((sum, bytes) => sum + bytes, 0);
  const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
  t.log(`${idle.length} spares of ${rss.map(mb).join(', ')} MiB: ${mb(total)} MiB for a budget of ${budgetMb} MiB`);
  t.true(idle.length < 6, 'fewer spares than executeWorkers');
  // The pool divides by its running estimate; a spare measured now may have grown a little since.
  t.true(total <= budgetMb * 2 ** 20 * 1.2, `${mb(total)} MiB of spares within the ${budgetMb} MiB budget`);
});

test.serial('an invalid spareMemoryMb is refused, naming it', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fsp.rm(cacheDir, { recursive: true, force: true }));
  for (const spareMemoryMb of [0, -1, 1.5, 'a lot']) {
    const error = await rejection(createHost({ cacheDir, spareMemoryMb: spareMemoryMb as number }));
    t.is(error.code, 'E_INVALID_OPTION');
    t.is(error.details.option, 'spareMemoryMb');
  }
});
