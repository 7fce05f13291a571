/**
 * Escape corpus, late and bulk attacks: a reply that arrives after the host gave up on it,
 * and a thread bomb bounded by the worker's memory limit.
 */
import test from 'ava';
import { startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';

test.serial('ipc: a reply after the host timed out is ignored and the worker stays usable', async (t) => {
  // Request ids: the host forgets a request when it times out, so a late answer matches
  // nothing and is dropped (src/actors/workerProcess.ts).
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const late = await attacker.worker.probe('attack', 'await new Promise((r) => setTimeout(r, 600)); return "late";', 100).then(
    () => 'answered in time',
    (error: { code: string }) => error.code,
  );
  t.is(late, 'E_TIMEOUT');
  // Let the late reply arrive, then show nothing broke.
  await new Promise((resolve) => setTimeout(resolve, 800));
  t.true(attacker.worker.alive);
  t.is((await attacker.run('return 7;')).value, 7);
});

test.serial('resources: a thread bomb ends at the worker rlimits, the host is unharmed', async (t) => {
  // rlimits: threads are allowed (the job thread needs them), but each needs its own event
  // loop fds and heap, so RLIMIT_NOFILE (128; reached first here, at about 27 threads) and
  // RLIMIT_DATA (lowered to 512 MiB) bound the bomb.
  const { host } = await startHost(t, { limits: { dataBytes: 512 * 1024 * 1024 } });
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(
    `
    const { Worker } = require('node:worker_threads');
    const threads = [];
    try {
      for (let i = 0; i < 200; i++) {
        const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
        await new Promise((resolve, reject) => { w.once('online', resolve); w.once('error', reject); });
        threads.push(w);
      }
      return { started: threads.length, stopped: 'never' };
    } catch (error) {
      const started = threads.length;
      await Promise.all(threads.map((w) => w.terminate()));
      return { started, stopped: error.code ?? error.name };
    }`,
    60_000,
  ).catch((error: { code: string }) => ({ ok: false, code: error.code, value: undefined }));
  const value = r.value as { started: number; stopped: string } | undefined;
  if (value) {
    t.not(value.stopped, 'never', `${value.started} threads and no limit hit`);
    t.log(`thread bomb: ${value.started} threads, then ${value.stopped}`);
  } else {
    // The process died at its limit instead: also contained.
    t.is((await attacker.worker.exited).error.code, 'E_WORKER_DIED');
  }
  // The host still starts and runs workers.
  const fresh = await host.spawnWorker('execute');
  t.true((await fresh.ping()) >= 0);
  await fresh.kill();
});
