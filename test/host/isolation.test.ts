/**
 * Isolation between jobs: with `isolation: 'job'` every job runs in a process that never ran
 * another and is killed after it; the pool's workers are warm spares, refilled as they are used.
 */
import test from 'ava';
import { fixtures } from '../helpers/wat.js';
import { delay, example, hello, idleWorkers, nextEvent, rejection, startScheduler, text } from '../helpers/scheduler.js';
import { workerDirsIn } from '../helpers/host.js';

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

test.serial("'job' isolation gives the same results and error codes as reuse", async (t) => {
  const { host } = await startScheduler(t, { executeWorkers: 2, isolation: 'job' });
  for (const name of ['hello', 'sha256', 'wordcount'] as const) {
    const ex = example(name);
    const result = await host.execute(ex.wasm, ex.input);
    t.is(text(result.output), text(ex.expected), name);
  }
  t.is((await rejection(host.execute(fixtures.trap, Buffer.alloc(0)))).code, 'E_TRAP');
  t.is((await rejection(host.execute(fixtures.infiniteLoop, Buffer.alloc(0), { timeoutMs: 300 }))).code, 'E_TIMEOUT');
  t.is((await rejection(host.execute(fixtures.memoryBomb, Buffer.alloc(0)))).code, 'E_OUT_OF_MEMORY');
  t.is((await rejection(host.execute(fixtures.forbiddenImport, Buffer.alloc(0)))).code, 'E_PREVALIDATION');
  // And the pool keeps serving after failures.
  t.is(text((await host.execute(hello.wasm, Buffer.from('again'))).output), 'Hello, again!');
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
