/**
 * Invalid options fail with E_INVALID_OPTION naming the option: those of createHost (before
 * anything is created on disk) and those of each call (before anything is queued).
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import util from 'node:util';
import { DEFAULT_LIMITS, createHost, type ExecuteOptions, type HostOptions } from '../../src/index.js';
import { maxStackHeightFor } from '../../src/shared/meter/stackCapacity.js';
import { hello, rejection, startScheduler } from '../helpers/scheduler.js';

const invalidHostOption = test.macro({
  async exec(t, options: Record<string, unknown>, option: string) {
    const cacheDir = path.join(os.tmpdir(), `warden-never-${crypto.randomBytes(6).toString('hex')}`);
    const started = createHost({ cacheDir, ...options } as HostOptions);
    // A host that starts anyway must not outlive the test.
    void started.then(async (host) => {
      await host.close();
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }, () => {});
    const error = await rejection(started);
    t.is(error.code, 'E_INVALID_OPTION', error.message);
    t.true(error.deterministic);
    t.is(error.details.option, option);
    t.true(error.message.includes(`\`${option}\``), error.message);
    t.false(fs.existsSync(cacheDir), 'nothing is created for a host that does not start');
  },
  title: (_given, options: Record<string, unknown>, option: string) =>
    `createHost(${util.inspect(options, { breakLength: Infinity })}) → E_INVALID_OPTION (${option})`,
});

test('createHost: non-object options → E_INVALID_OPTION', async (t) => {
  for (const options of [null, 'fast', 42]) {
    const error = await rejection(createHost(options as unknown as HostOptions));
    t.is(error.code, 'E_INVALID_OPTION');
  }
});

test(invalidHostOption, { cacheDir: '' }, 'cacheDir');
test(invalidHostOption, { cacheDir: 42 }, 'cacheDir');
test(invalidHostOption, { allowInsecure: 'yes' }, 'allowInsecure');
test(invalidHostOption, { prepareWorkers: 0 }, 'prepareWorkers');
test(invalidHostOption, { executeWorkers: 1.5 }, 'executeWorkers');
test(invalidHostOption, { executeWorkers: -1 }, 'executeWorkers');
test(invalidHostOption, { executeWorkers: NaN }, 'executeWorkers');
test(invalidHostOption, { executeWorkers: '2' }, 'executeWorkers');
test(invalidHostOption, { maxQueue: 0 }, 'maxQueue');
test(invalidHostOption, { cacheMaxBytes: 0 }, 'cacheMaxBytes');
test(invalidHostOption, { handshakeTimeoutMs: -5 }, 'handshakeTimeoutMs');
test(invalidHostOption, { limits: 'tight' }, 'limits');
test(invalidHostOption, { limits: { maxOutputByte: 10 } }, 'limits.maxOutputByte');
test(invalidHostOption, { limits: { executeTimeoutMs: 0 } }, 'limits.executeTimeoutMs');
test(invalidHostOption, { limits: { maxOutputBytes: 0.5 } }, 'limits.maxOutputBytes');
test(invalidHostOption, { limits: { hardTimeoutFactor: 0.5 } }, 'limits.hardTimeoutFactor');
test(invalidHostOption, { limits: { hardTimeoutFactor: Infinity } }, 'limits.hardTimeoutFactor');
// A typo must not silently fall back to a default (limits already refuse unknown keys).
test(invalidHostOption, { executeWorker: 1 }, 'executeWorker');
test(invalidHostOption, { limits: { maxFuel: 0 } }, 'limits.maxFuel');
test(invalidHostOption, { limits: { maxFuel: 2 ** 60 } }, 'limits.maxFuel');
// The logical stack must run out before the job thread's: 4 MiB holds at most 382,293 units,
// 1 MiB 32,768, less than the default 262,144.
test(invalidHostOption, { limits: { maxStackHeight: 382_294 } }, 'limits.maxStackHeight');
test(invalidHostOption, { limits: { jobStackMb: 1 } }, 'limits.maxStackHeight');

test('limits.maxStackHeight is bounded by limits.jobStackMb, and may grow with it', async (t) => {
  const error = await rejection(createHost({ cacheDir: '/nonexistent/never-created', limits: { maxStackHeight: 382_294 } }));
  t.regex(error.message, /at most 382293 with limits.jobStackMb 4 \(raise jobStackMb for more\)/);
  t.is(maxStackHeightFor(4), 382_293);
  t.is(maxStackHeightFor(1), 32_768);
  t.true(maxStackHeightFor(8) > 2 * maxStackHeightFor(4));
});

interface CallCase {
  name: string;
  option: string | undefined;
  call: (host: Awaited<ReturnType<typeof startScheduler>>['host'], artifact: Awaited<ReturnType<Awaited<ReturnType<typeof startScheduler>>['host']['prepare']>>) => Promise<unknown>;
}

const input = Buffer.from('x');
const bad = (options: Record<string, unknown>) => options as ExecuteOptions;

const callCases: CallCase[] = [
  { name: 'prepare: code not bytes', option: 'code', call: (host) => host.prepare('(module)' as unknown as Uint8Array) },
  { name: 'prepare: unknown priority', option: 'priority', call: (host) => host.prepare(hello.wasm, bad({ priority: 'urgent' })) },
  { name: 'prepare: zero timeoutMs', option: 'timeoutMs', call: (host) => host.prepare(hello.wasm, bad({ timeoutMs: 0 })) },
  { name: 'prepare: options not an object', option: undefined, call: (host) => host.prepare(hello.wasm, null as unknown as ExecuteOptions) },
  { name: 'execute: artifactOrCode not bytes', option: 'artifactOrCode', call: (host) => host.execute('hello' as unknown as Uint8Array, input) },
  { name: 'execute: input not bytes', option: 'input', call: (host, artifact) => host.execute(artifact, 'x' as unknown as Uint8Array) },
  { name: 'execute: unknown priority', option: 'priority', call: (host, artifact) => host.execute(artifact, input, bad({ priority: 'urgent' })) },
  { name: 'execute: fractional timeoutMs', option: 'timeoutMs', call: (host, artifact) => host.execute(artifact, input, bad({ timeoutMs: 1.5 })) },
  { name: 'execute: string timeoutMs', option: 'timeoutMs', call: (host, artifact) => host.execute(artifact, input, bad({ timeoutMs: '100' })) },
  { name: 'execute: negative timeoutMs', option: 'timeoutMs', call: (host, artifact) => host.execute(artifact, input, bad({ timeoutMs: -1 })) },
  { name: 'execute: signal not an AbortSignal', option: 'signal', call: (host, artifact) => host.execute(artifact, input, bad({ signal: { aborted: false } })) },
  { name: 'execute: deadline not a number', option: 'deadline', call: (host, artifact) => host.execute(artifact, input, bad({ deadline: 'soon' })) },
  { name: 'execute: NaN deadline', option: 'deadline', call: (host, artifact) => host.execute(artifact, input, bad({ deadline: NaN })) },
  { name: 'execute: unknown abi', option: 'abi', call: (host, artifact) => host.execute(artifact, input, bad({ abi: 'native' })) },
  { name: 'execute with code: unknown abi', option: 'abi', call: (host) => host.execute(hello.wasm, input, bad({ abi: 'native' })) },
  // hello is a run-ABI module: no `_start`, so not a trap in a worker but the caller's mistake.
  { name: 'execute: an abi the module lacks the exports for', option: 'abi', call: (host, artifact) => host.execute(artifact, input, { abi: 'wasi' }) },
  { name: 'execute with code: an abi the module lacks the exports for', option: 'abi', call: (host) => host.execute(hello.wasm, input, { abi: 'wasi' }) },
  { name: 'execute: zero fuel', option: 'fuel', call: (host, artifact) => host.execute(artifact, input, bad({ fuel: 0 })) },
  { name: 'execute: fractional fuel', option: 'fuel', call: (host, artifact) => host.execute(artifact, input, bad({ fuel: 1.5 })) },
  { name: 'execute: fuel as a bigint', option: 'fuel', call: (host, artifact) => host.execute(artifact, input, bad({ fuel: 10n })) },
  { name: 'execute: fuel above limits.maxFuel', option: 'fuel', call: (host, artifact) => host.execute(artifact, input, bad({ fuel: DEFAULT_LIMITS.maxFuel + 1 })) },
];

test.serial('per-call invalid options → E_INVALID_OPTION naming the option, nothing queued', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const queuedBefore = events.of('job:queued').length;
  for (const c of callCases) {
    const error = await rejection(c.call(host, artifact));
    t.is(error.code, 'E_INVALID_OPTION', `${c.name}: ${error.message}`);
    t.is(error.details.option, c.option, c.name);
    if (c.option) t.true(error.message.includes(`\`${c.option}\``), `${c.name}: ${error.message}`);
  }
  t.is(events.of('job:queued').length, queuedBefore, 'no invalid call queued a job');
  // The host is unaffected.
  t.truthy(await host.execute(artifact, input));
});

test.serial('empty code is E_PREVALIDATION said plainly, before any worker', async (t) => {
  const { host, events } = await startScheduler(t);
  for (const call of [() => host.prepare(new Uint8Array(0)), () => host.execute(new Uint8Array(0), input)]) {
    const error = await rejection(call());
    t.is(error.code, 'E_PREVALIDATION');
    t.is(error.message, 'the code is empty (0 bytes)');
    t.true(error.deterministic);
  }
  t.is(events.of('job:queued').length, 0);
});
