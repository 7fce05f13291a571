/**
 * Escape corpus, idle CPU burn (issue 11, item 5): in reuse mode a job that got code execution
 * in its worker leaves a thread spinning after its reply. The host listed the worker as idle
 * while it used a core, taken from every other tenant.
 * Layer: the pool's idle CPU check (src/actors/idleCpu.ts): the sandboxed process's CPU time,
 * read by the host from /proc/<pid>/stat while the worker is idle; past 500 ms at once, then 2 %
 * of a core, the worker is killed (`worker:exited` reason `idle-cpu`).
 */
import test from 'ava';
import { ATTACK_MARKER, startAttackerPool } from '../helpers/attacker.js';
import { hello, record, text } from '../helpers/scheduler.js';

/** A thread that spins for ever, started as the job is served: it outlives the reply. */
const SPIN = `
  const { Worker } = await import('node:worker_threads');
  globalThis.spinner = new Worker('for (;;) {}', { eval: true });
  await new Promise((resolve) => globalThis.spinner.once('online', resolve));
`;

test.serial('a thread left spinning after the reply gets the idle worker killed (idle-cpu); the next job runs on a fresh one', async (t) => {
  // Before: nothing watched an idle worker; it burned CPU until its next job, or for ever.
  t.timeout(120_000);
  const { host } = await startAttackerPool(t, { executeWorkers: 1, isolation: 'worker' });
  const events = record(host);
  const artifact = await host.prepare(hello.wasm);
  const attack = await host.execute(artifact, Buffer.from(ATTACK_MARKER + SPIN));
  t.true(text(attack.output).startsWith('Hello, ATTACK'), 'the attacking job itself was served');
  const repliedAt = performance.now();
  const killed = () => events.of('worker:exited').find((e) => e.id === attack.workerId);
  for (let i = 0; i < 600 && !killed(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  const exit = killed();
  t.log(`time to kill after the reply: ${(performance.now() - repliedAt).toFixed(0)} ms; ${exit?.message}`);
  t.truthy(exit, 'the spinning worker was killed within 60 s');
  t.is(exit?.reason, 'idle-cpu');
  t.regex(exit?.message ?? '', /used \d+ ms of CPU in \d+ ms while idle/);
  t.deepEqual(events.of('pool:degraded'), []);
  const next = await host.execute(artifact, Buffer.from('next'));
  t.is(text(next.output), 'Hello, next!');
  t.not(next.workerId, attack.workerId);
});

test.serial('an idle worker that ran honest jobs is not killed for idle CPU', async (t) => {
  t.timeout(60_000);
  const { host } = await startAttackerPool(t, { executeWorkers: 1, isolation: 'worker' });
  const events = record(host);
  const artifact = await host.prepare(hello.wasm);
  const first = await host.execute(artifact, Buffer.from('a'));
  for (let i = 0; i < 20; i++) await host.execute(artifact, Buffer.from(`job ${i}`));
  // Several checks pass while it is idle.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const last = await host.execute(artifact, Buffer.from('z'));
  t.is(last.workerId, first.workerId, 'the same worker served throughout');
  // A prepare runs in a one-job process, retired after it: a planned exit, not a kill.
  const exits = events.of('worker:exited') as { kind: string; reason: string }[];
  t.deepEqual(
    exits.filter((e) => !(e.kind === 'prepare' && e.reason === 'retired')),
    [],
  );
});
