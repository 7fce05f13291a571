/**
 * Escape corpus, lies in a reply: a job that got code execution in its worker (the pool
 * attacker worker) forges the usage figures of its replies, which reach events, metrics and
 * results. The host checks them like every field of an untrusted reply: the job fails with
 * E_PROTOCOL, the liar is killed, and the next job runs on a fresh worker.
 */
import test from 'ava';
import { ProtocolError } from '../../src/index.js';
import { ATTACK_MARKER, ON_REPLY, startAttackerPool } from '../helpers/attacker.js';
import { hello, pidOf, text } from '../helpers/scheduler.js';

const FORGERIES: Record<string, string> = {
  'a negative peak memory': '{ peakRssBytes: -1 }',
  'a CPU time that is not a number': "{ cpuTimeMs: 'lots' }",
  'a missing wall time': '{ wallTimeMs: undefined }',
  'an infinite peak memory': '{ peakRssBytes: 1e400 }',
};

for (const [name, forged] of Object.entries(FORGERIES)) {
  test.serial(`a worker that reports ${name} fails its job with E_PROTOCOL and is replaced`, async (t) => {
    const { host } = await startAttackerPool(t, { executeWorkers: 1 });
    const artifact = await host.prepare(hello.wasm);
    const exited: string[] = [];
    host.on('worker:exited', (e) => exited.push(e.reason));
    let liar: number | undefined;
    host.once('job:started', (e) => (liar = pidOf(host, e.workerId)));
    const attack = `${ON_REPLY}\n  onReply((header, body) => ({ header: { ...header, ...${forged} }, body }));\n`;
    const error = await t.throwsAsync(host.execute(artifact, Buffer.from(ATTACK_MARKER + attack)), { instanceOf: ProtocolError });
    t.regex(error!.message, /bad usage figures/);
    const next = await host.execute(artifact, Buffer.from('next'));
    t.is(text(next.output), 'Hello, next!');
    t.not(pidOf(host, next.workerId), liar, 'the next job ran on a fresh worker');
    t.true(exited.length >= 1, 'the liar was killed');
  });
}
