/**
 * The host's check of a prepared artifact, end to end: while the host reads and checks a 30 MiB
 * module's artifact (its prepare worker in `running.collecting`), other tenants' executes keep
 * completing. Liveness, not speed: the test counts jobs that finish inside the window and asserts
 * that none waited for the check, whatever the machine's load.
 */
import zlib from 'node:zlib';
import test from 'ava';
import { hello, startScheduler, text } from '../helpers/scheduler.js';
import { dataModule } from '../helpers/wasmModel.js';

const MiB = 1024 * 1024;

test.serial("executes keep completing while the host checks a 30 MiB module's artifact", async (t) => {
  const { host } = await startScheduler(t, { prepareWorkers: 1, executeWorkers: 1, limits: { maxMemoryPages: 1024 } });
  const small = await host.prepare(hello.wasm);
  t.is(text((await host.execute(small, Buffer.from('world'))).output), 'Hello, world!');
  const module = dataModule(30 * MiB);
  let checking = false;
  let checked = false;
  host.on('worker:state', (e) => {
    if (e.kind === 'prepare' && e.state === 'running.collecting') checking = true;
  });
  const big = host.prepare(zlib.gzipSync(module)).finally(() => {
    checked = true;
  });
  const duringCheck: number[] = [];
  let executed = 0;
  while (!checked) {
    const started = checking && !checked;
    const result = await host.execute(small, Buffer.from('world'));
    t.is(text(result.output), 'Hello, world!');
    executed++;
    if (started && !checked) duringCheck.push(executed);
    if (!checking) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const artifact = await big;
  t.true(artifact.size > 30 * MiB);
  t.log(`${duringCheck.length} of ${executed} executes ran inside the check`);
  t.true(duringCheck.length >= 1, `${duringCheck.length} of ${executed} executes started and finished while the check ran`);
});
