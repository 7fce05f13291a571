/**
 * Escape corpus, lies in a reply: a job that got code execution in its worker (the pool
 * attacker worker) forges the usage figures or the body fields of its replies, which reach
 * events, metrics and results. The host checks them like every field of an untrusted reply: the job fails with
 * E_PROTOCOL, the liar is killed, and the next job runs on a fresh worker.
 */
import test from 'ava';
import { ProtocolError } from '../../src/index.js';
import { ATTACK_MARKER, ON_REPLY, startAttackerPool } from '../helpers/attacker.js';
import { hello, pidOf, text } from '../helpers/scheduler.js';

/** What a forged field does to the reply's header, and the message its job fails with. */
const FORGERIES: Record<string, [forged: string, message: RegExp]> = {
  'a negative peak memory': ['{ peakRssBytes: -1 }', /bad usage figures/],
  'a CPU time that is not a number': ["{ cpuTimeMs: 'lots' }", /bad usage figures/],
  'a missing wall time': ['{ wallTimeMs: undefined }', /bad usage figures/],
  'an infinite peak memory': ['{ peakRssBytes: 1e400 }', /bad usage figures/],
  // The sizes still add up to the body's: only their own check catches them.
  'a negative output size': ['{ outputBytes: -1, logBytes: header.outputBytes + header.logBytes + 1 }', /bad body fields/],
  'a fractional output size': ['{ outputBytes: 0.5, logBytes: header.outputBytes + header.logBytes - 0.5 }', /bad body fields/],
  'an output size that is a string': ["{ outputBytes: '0', logBytes: 0 }", /bad body fields/],
  'a log truncation flag that is not a boolean': ["{ logTruncated: 'yes' }", /bad body fields/],
  'a failure whose message is not a string': ["{ ok: false, failure: { code: 'E_TIMEOUT', message: 42, deterministic: true } }", /without a code and message/],
  'a failure reply without its failure': ['{ ok: false, failure: null }', /without a code and message/],
  // Fuel reaches results, events and metrics, and says whether a job was deterministic.
  'more fuel used than the job had': ['{ fuelUsed: 2_000_000_001 }', /bad fuelUsed/],
  'a negative fuel used': ['{ fuelUsed: -1 }', /bad fuelUsed/],
  'a fuel used that is not a number': ["{ fuelUsed: '12' }", /bad fuelUsed/],
  'no fuel used': ['{ fuelUsed: undefined }', /bad fuelUsed/],
  'a failure with a fractional fuel used': ["{ ok: false, failure: { code: 'E_TRAP', message: 'x', deterministic: true, fuelUsed: 0.5 } }", /bad fuelUsed/],
};

for (const [name, [forged, message]] of Object.entries(FORGERIES)) {
  test.serial(`a worker that reports ${name} fails its job with E_PROTOCOL and is replaced`, async (t) => {
    const { host } = await startAttackerPool(t, { executeWorkers: 1 });
    const artifact = await host.prepare(hello.wasm);
    const exited: string[] = [];
    host.on('worker:exited', (e) => exited.push(e.reason));
    let liar: number | undefined;
    host.once('job:started', (e) => (liar = pidOf(host, e.workerId)));
    const attack = `${ON_REPLY}\n  onReply((header, body) => ({ header: { ...header, ...${forged} }, body }));\n`;
    const error = await t.throwsAsync(host.execute(artifact, Buffer.from(ATTACK_MARKER + attack)), { instanceOf: ProtocolError });
    t.regex(error!.message, message);
    const next = await host.execute(artifact, Buffer.from('next'));
    t.is(text(next.output), 'Hello, next!');
    t.not(pidOf(host, next.workerId), liar, 'the next job ran on a fresh worker');
    t.true(exited.length >= 1, 'the liar was killed');
  });
}
