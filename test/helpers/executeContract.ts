/**
 * What every runner of execute jobs must do, whatever thread it runs them on: the job thread
 * (`JobRunner`, test/worker/jobRunner.test.ts) and an execute worker's main thread
 * (`InlineRunner`, test/worker/inlineRunner.test.ts). Each case is followed by a job that must
 * still run on the same runner.
 */
import type { ExecutionContext, TestFn } from 'ava';
import type { RunOptions, RunResult } from '../../src/worker/jobRunner.js';
import type { ExecuteTask } from '../../src/worker/jobs/task.js';
import { DEFAULT_EXECUTE_LIMITS } from '../../src/shared/limits.js';
import type { Abi } from '../../src/shared/prevalidate.js';
import { artifactOf, bigArtifact, fixtures, wasiSleepSource, wat } from './wat.js';

export type RunExecute = (task: ExecuteTask, options: RunOptions) => Promise<RunResult>;

export function executeTask(code: Uint8Array, input: Uint8Array | string, abi: Abi = 'run'): ExecuteTask {
  return { kind: 'execute', artifact: artifactOf(code), input: typeof input === 'string' ? Buffer.from(input) : input, abi, limits: DEFAULT_EXECUTE_LIMITS };
}

/** A job the runner must still run (after whatever the test did to it). */
export async function assertStillWorks(t: ExecutionContext, run: RunExecute): Promise<void> {
  const result = await run(executeTask(fixtures.upper, 'still works'), { cpuTimeLimitMs: 2000 });
  t.true(result.ok, JSON.stringify(!result.ok && result.failure));
  if (result.ok && result.kind === 'execute') t.is(Buffer.from(result.output).toString(), 'STILL WORKS');
}

/** Registers the contract's cases (serial: a runner runs one job at a time) for `run`. */
export function executeContract(test: TestFn, run: RunExecute): void {
  const runJob = (code: Uint8Array, input: string, abi: Abi = 'run', cpuTimeLimitMs = 2000) => run(executeTask(code, input, abi), { cpuTimeLimitMs });
  const assertWorks = (t: ExecutionContext) => assertStillWorks(t, run);

  // Failures of the module's own making come back as data, each deterministic.
  for (const [name, code, expected] of [
    ['a trap', fixtures.trap, 'E_TRAP'],
    ['a wasm memory bomb', fixtures.memoryBomb, 'E_OUT_OF_MEMORY'],
  ] as const) {
    test.serial(`contract: ${name} is ${expected}, and the next job runs`, async (t) => {
      const result = await runJob(code, '');
      t.false(result.ok);
      if (!result.ok) t.like(result.failure, { code: expected, deterministic: true });
      await assertWorks(t);
    });
  }

  test.serial("contract: an infinite loop is stopped at its CPU-time limit, charged its own thread's CPU time, and the next job runs", async (t) => {
    const result = await runJob(fixtures.infiniteLoop, '', 'run', 300);
    t.false(result.ok);
    if (!result.ok) {
      t.like(result.failure, { code: 'E_TIMEOUT', deterministic: false });
      // Stopped for its CPU time, or on a loaded machine by the wall-clock bound (4 × 300 ms) first.
      t.regex(result.failure.message, /used more than 300 ms of CPU time|ran for more than 1200 ms of wall-clock time/);
      if (/CPU time/.test(result.failure.message)) t.true(result.cpuTimeMs >= 300 && result.cpuTimeMs < 1500, `${result.cpuTimeMs} ms`);
    }
    // The job's own thread's clock: one thread cannot use more CPU time than wall time.
    t.true(result.cpuTimeMs <= result.wallTimeMs + 20, `${result.cpuTimeMs} ms of CPU in ${result.wallTimeMs} ms`);
    // Loose: the machine is shared.
    t.true(result.wallTimeMs < 5000, `stopped after ${result.wallTimeMs} ms`);
    await assertWorks(t);
  });

  test.serial('contract: a job sleeping in poll_oneoff is stopped at the wall-clock bound (a multiple of the CPU limit)', async (t) => {
    const result = await runJob(wat(wasiSleepSource(60_000_000_000n)), '', 'wasi', 100);
    t.false(result.ok);
    if (!result.ok) {
      t.is(result.failure.code, 'E_TIMEOUT');
      t.regex(result.failure.message, /more than 400 ms of wall-clock time/);
    }
    t.true(result.wallTimeMs >= 400 && result.wallTimeMs < 10_000, `${result.wallTimeMs} ms`);
    await assertWorks(t);
  });


  test.serial("contract: the CPU budget counts the job's run, not its module's compile", async (t) => {
    // Compiling 9 MB of code takes far more than the job's 40 ms; running `_start` takes nothing.
    const task: ExecuteTask = { kind: 'execute', artifact: bigArtifact(1), input: new Uint8Array(0), abi: 'wasi', limits: DEFAULT_EXECUTE_LIMITS };
    const result = await run(task, { cpuTimeLimitMs: 40, compileTimeLimitMs: 60_000 });
    t.true(result.ok, JSON.stringify(!result.ok && result.failure));
    t.true(result.cpuTimeMs < 40, `${result.cpuTimeMs} ms counted`);
  });

  test.serial('contract: compiling at execute has its own bound: past it, E_TIMEOUT says so, and the next job runs', async (t) => {
    const task: ExecuteTask = { kind: 'execute', artifact: bigArtifact(2), input: new Uint8Array(0), abi: 'wasi', limits: DEFAULT_EXECUTE_LIMITS };
    const result = await run(task, { cpuTimeLimitMs: 60_000, compileTimeLimitMs: 1 });
    t.false(result.ok);
    if (!result.ok) {
      t.is(result.failure.code, 'E_TIMEOUT');
      // On a loaded machine the compile's wall-clock bound (4 × 1 ms) can come first: either names the compile.
      t.regex(result.failure.message, /compiling the module (used more than 1 ms of CPU time \(compileTimeoutMs\)|took more than 4 ms of wall-clock time)/);
    }
    await assertWorks(t);
  });
}
