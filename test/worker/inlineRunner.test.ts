/**
 * An execute worker's jobs on its own main thread (src/worker/inlineRunner.ts): the addon's
 * watchdog stops what does not cooperate, and the same thread takes the next job. These run in
 * the test's own process, on its main thread, as they do in a worker.
 */
import test, { type ExecutionContext } from 'ava';
import { InlineRunner } from '../../src/worker/inlineRunner.js';
import type { RunResult } from '../../src/worker/jobRunner.js';
import { loadAddon } from '../../src/shared/addon.js';
import { DEFAULT_EXECUTE_LIMITS } from '../../src/shared/limits.js';
import type { Abi } from '../../src/shared/prevalidate.js';
import { bigArtifact, fixtures } from '../helpers/wat.js';
import { assertStillWorks, executeContract, executeTask } from '../helpers/executeContract.js';

const runner = new InlineRunner();
const CPU_LIMIT_MS = 2000;

executeContract(test, (task, options) => runner.run(task, options));

function runJob(code: Uint8Array, input: Uint8Array | string, abi: Abi = 'run', cpuTimeLimitMs = CPU_LIMIT_MS, signal?: AbortSignal): Promise<RunResult> {
  return runner.run(executeTask(code, input, abi), { cpuTimeLimitMs, ...(signal ? { signal } : {}) });
}

const assertWorks = (t: ExecutionContext) => assertStillWorks(t, (task, options) => runner.run(task, options));

test.serial('runs a job on this thread, with its times', async (t) => {
  const result = await runJob(fixtures.upper, 'job');
  if (!result.ok || result.kind !== 'execute') return t.fail(JSON.stringify(result));
  t.is(Buffer.from(result.output).toString(), 'JOB');
  t.true(result.cpuTimeMs >= 0 && result.cpuTimeMs < CPU_LIMIT_MS);
  t.true(result.wallTimeMs >= 0);
});

test.serial('deep recursion is E_STACK_OVERFLOW, and the next job runs', async (t) => {
  const result = await runJob(fixtures.stackOverflow, '');
  t.false(result.ok);
  if (!result.ok) t.is(result.failure.code, 'E_STACK_OVERFLOW');
  await assertWorks(t);
});

test.serial('a job aborted before it starts does not run', async (t) => {
  const controller = new AbortController();
  controller.abort();
  const result = await runJob(fixtures.infiniteLoop, '', 'run', 10_000, controller.signal);
  t.false(result.ok);
  if (!result.ok) t.is(result.failure.code, 'E_ABORTED');
  t.is(result.cpuTimeMs, 0);
});

test.serial('an abort while the module compiles is E_ABORTED, and the module never runs', async (t) => {
  const controller = new AbortController();
  const task = { kind: 'execute', artifact: bigArtifact(3), input: new Uint8Array(0), abi: 'wasi', limits: DEFAULT_EXECUTE_LIMITS } as const;
  setTimeout(() => controller.abort(), 20);
  const result = await runner.run(task, { cpuTimeLimitMs: 60_000, compileTimeLimitMs: 60_000, signal: controller.signal });
  t.false(result.ok);
  if (!result.ok) t.like(result.failure, { code: 'E_ABORTED', message: 'the job was aborted' });
  await assertWorks(t);
});

test.serial('jobs submitted together each get their own budget', async (t) => {
  const results = await Promise.all([runJob(fixtures.upper, 'a'), runJob(fixtures.infiniteLoop, '', 'run', 200), runJob(fixtures.upper, 'c')]);
  t.deepEqual(
    results.map((r) => (r.ok && r.kind === 'execute' ? Buffer.from(r.output).toString() : !r.ok && r.failure.code)),
    ['A', 'E_TIMEOUT', 'C'],
  );
});

test('runGuarded: returns 0 for a call that returns, rethrows what it throws, refuses a nested call', (t) => {
  const addon = loadAddon();
  let ran = false;
  t.is(addon.runGuarded(() => void (ran = true), 1e9, 4e9, 2e9), 0);
  t.true(ran);
  t.throws(() => addon.runGuarded(() => { throw new RangeError('from the job'); }, 1e9, 4e9, 2e9), { instanceOf: RangeError, message: 'from the job' });
  let nested: unknown;
  addon.runGuarded(() => {
    try {
      addon.runGuarded(() => {}, 1e9, 4e9, 2e9);
    } catch (error) {
      nested = error;
    }
  }, 1e9, 4e9, 2e9);
  t.regex(String(nested), /already running/);
  t.throws(() => addon.runGuarded(() => {}, -1, 4e9, 2e9), { instanceOf: TypeError });
});

test('runGuarded: a JS loop is stopped too, with the reason, and this thread carries on', (t) => {
  const addon = loadAddon();
  const started = performance.now();
  const reason = addon.runGuarded(() => { for (;;); }, 50e6, 2000e6, 2e9);
  t.true(reason === 1 || reason === 2, `reason ${reason}`);
  t.true(performance.now() - started >= 50);
  // Nothing is left terminating: JS runs on.
  t.is([1, 2, 3].map((n) => n * 2).join(), '2,4,6');
});
