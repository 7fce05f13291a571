/**
 * Escape corpus, a forged error class (issue 11, item 7): a job that got code execution in its
 * worker (the pool attacker worker) rewrites its failure reply to make the caller see an error
 * only the host may raise (E_HOST_CLOSED, E_INVALID_OPTION, E_POOL_DEGRADED, ...) or to flip
 * `deterministic`, which decides whether a distributed queue retries the job.
 * Layer: the host's reply check (`failureOf` in src/actors/hostJobs.ts) against the one table of
 * job error codes (src/shared/jobError.ts `JOB_ERROR_CODES`).
 */
import fs from 'node:fs';
import test from 'ava';
import { ProtocolError } from '../../src/index.js';
import { JOB_ERROR_CODES } from '../../src/shared/jobError.js';
import { ATTACK_MARKER, ON_REPLY, startAttackerPool } from '../helpers/attacker.js';
import { hello, pidOf, text } from '../helpers/scheduler.js';

/** A failure reply with `code` and `deterministic` in place of the job's true reply. */
/** Only the usage figures of the true reply are kept: a failure of a job that never ran carries no body fields. */
const forge = (code: string, deterministic: boolean) =>
  `${ON_REPLY}\n  onReply((header, body, n) => n === 0 ? { header: { cpuTimeMs: header.cpuTimeMs, wallTimeMs: header.wallTimeMs, peakRssBytes: header.peakRssBytes, ok: false, failure: { code: ${JSON.stringify(code)}, message: 'forged', deterministic: ${deterministic}, exitCode: 1 } }, body: Buffer.alloc(0) } : undefined);\n`;

/** Codes no job may end with: the host's own, the protocol's, and names that are keys of every object. */
const FORGED_CODES = ['E_HOST_CLOSED', 'E_INVALID_OPTION', 'E_POOL_DEGRADED', 'E_QUEUE_FULL', 'E_SANDBOX_UNAVAILABLE', 'E_PROTOCOL', 'toString', '__proto__', 'E_MADE_UP'];

for (const code of FORGED_CODES) {
  test.serial(`a worker that reports ${code} fails its job with E_PROTOCOL and is replaced`, async (t) => {
    // Before: errorFromFailure rebuilt any known class from the worker's code (the caller saw
    // E_HOST_CLOSED, E_INVALID_OPTION, ...) and the worker served on.
    const { host } = await startAttackerPool(t, { executeWorkers: 1 });
    const artifact = await host.prepare(hello.wasm);
    const exited: string[] = [];
    host.on('worker:exited', (e) => exited.push(e.reason));
    let liar: number | undefined;
    host.once('job:started', (e) => (liar = pidOf(host, e.workerId)));
    const error = await t.throwsAsync(host.execute(artifact, Buffer.from(ATTACK_MARKER + forge(code, true))));
    t.true(error instanceof ProtocolError, `${error?.constructor.name}: ${error?.message}`);
    t.is((error as ProtocolError).code, 'E_PROTOCOL');
    t.false((error as ProtocolError).deterministic);
    t.regex(error!.message, /which is not a job error code/);
    const next = await host.execute(artifact, Buffer.from('next'));
    t.is(text(next.output), 'Hello, next!');
    t.not(pidOf(host, next.workerId), liar, 'the next job ran on a fresh worker');
    t.true(exited.length >= 1, 'the liar was killed');
  });
}

test.serial('a worker cannot flip deterministic: the host takes it from its own table, for every job error code', async (t) => {
  const { host } = await startAttackerPool(t, { executeWorkers: 1 });
  const artifact = await host.prepare(hello.wasm);
  // E_CORRUPTED_ARTIFACT starts a recovery (delete, prepare again, run again): the flag is checked on the others.
  for (const [code, deterministic] of Object.entries(JOB_ERROR_CODES).filter(([c]) => c !== 'E_CORRUPTED_ARTIFACT')) {
    const error = await t.throwsAsync(host.execute(artifact, Buffer.from(ATTACK_MARKER + forge(code, !deterministic))));
    t.is((error as { code?: string }).code, code);
    t.is((error as { deterministic?: boolean }).deterministic, deterministic, `${code} keeps deterministic: ${deterministic}`);
  }
});

test.serial('a worker that reports E_CORRUPTED_ARTIFACT for a sound artifact cannot make the host delete it: the cache file is checked and kept', async (t) => {
  // Before: any corruption a worker reported deleted the shared cache file and prepared the
  // code again, so a compromised worker could empty the cache of what other tenants run.
  const { host } = await startAttackerPool(t, { executeWorkers: 1 });
  const artifact = await host.prepare(hello.wasm);
  const file = host.cache.pathOf(artifact.key);
  const ino = fs.statSync(file).ino;
  const bytes = fs.readFileSync(file);
  const deleted: string[] = [];
  const prepared: string[] = [];
  host.on('artifact:deleted', (e) => deleted.push(e.key));
  host.on('artifact:prepared', (e) => prepared.push(e.key));
  // The job is run once more on a new copy (its worker lies again: the attack runs again).
  const error = await t.throwsAsync(host.execute(artifact, Buffer.from(ATTACK_MARKER + forge('E_CORRUPTED_ARTIFACT', false))));
  t.is((error as { code?: string }).code, 'E_CORRUPTED_ARTIFACT');
  t.deepEqual(deleted, [], 'the cache file was not deleted');
  t.deepEqual(prepared, [], 'nor prepared again');
  t.true(host.cache.has(artifact.key));
  t.is(fs.statSync(file).ino, ino);
  t.true(fs.readFileSync(file).equals(bytes));
  // Another tenant's job of the same artifact runs from the cache as it was.
  t.is(text((await host.execute(artifact, Buffer.from('next'))).output), 'Hello, next!');
  t.deepEqual(prepared, []);
});
