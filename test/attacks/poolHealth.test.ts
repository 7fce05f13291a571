/**
 * Escape corpus, one tenant against the pool (issue 11, item 4): a job answers normally, then
 * makes its worker exit while idle. Its death came early in the worker's life, which used to
 * count toward a crash loop: a handful of such jobs degraded the pool, and every other caller
 * got E_POOL_DEGRADED, again after each cooldown.
 * Layer: the supervisor (src/machines/supervisorMachine.ts): a worker that took a job has
 * started (`WORKER_SERVED`), so its death never counts; crash-loop detection is for workers
 * that cannot start.
 */
import test from 'ava';
import { ATTACK_MARKER, ON_REPLY, startAttackerPool } from '../helpers/attacker.js';
import { hello, record, text } from '../helpers/scheduler.js';

/** Answers as usual, then ends the worker process while it is idle. */
const EXIT_AFTER_REPLY = `${ON_REPLY}
  onReply((header, body, n) => {
    if (n === 0) setTimeout(() => process.exit(3), 50);
  });
`;

test.serial('jobs that end their worker after answering never degrade the pool: other callers keep being served', async (t) => {
  t.timeout(120_000);
  const { host } = await startAttackerPool(t, { executeWorkers: 2 });
  const events = record(host);
  const artifact = await host.prepare(hello.wasm);
  // Eight attacks one after the other, each on a young worker (a second one is ready while the
  // last one's replacement starts): more than the crash-loop bound (5 in 10 s). Each waits for its
  // worker to be gone, so that no attack lands on a worker about to exit.
  const exited = (id: string) => events.of('worker:exited').find((e) => e.id === id);
  const outputs: string[] = [];
  const attacked: string[] = [];
  for (let i = 0; i < 8; i++) {
    const result = await host.execute(artifact, Buffer.from(ATTACK_MARKER + EXIT_AFTER_REPLY)).catch((error: { code: string }) => error);
    if (!('output' in result)) {
      outputs.push(result.code);
      break;
    }
    outputs.push(text(result.output));
    attacked.push(result.workerId);
    for (let wait = 0; wait < 2400 && !exited(result.workerId); wait++) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  t.true(outputs.every((output) => output.startsWith('Hello, ATTACK')), `the attacking jobs were served as usual: ${outputs.filter((o) => !o.startsWith('Hello')).join(', ')}`);
  t.is(new Set(attacked).size, 8, 'each attack ran on a worker of its own');
  t.deepEqual(attacked.map((id) => exited(id)?.reason), Array(8).fill('exited'), 'each attacked worker exited on its own');
  t.deepEqual(events.of('pool:degraded'), [], 'the pool was never degraded');
  t.false(host.pools().find((p) => p.kind === 'execute')!.degraded);
  // Another tenant is served.
  const victim = await host.execute(artifact, Buffer.from('bystander'));
  t.is(text(victim.output), 'Hello, bystander!');
});
