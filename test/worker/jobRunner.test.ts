import test from 'ava';
import { JobRunner, type RunResult } from '../../src/worker/jobRunner.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../../src/shared/limits.js';
import type { Abi } from '../../src/shared/prevalidate.js';
import { artifactOf, bigArtifact, bigModule, fixtures, PARAMS_HASH, wasiSleepSource, wat } from '../helpers/wat.js';

// One runner (one job thread) for the file: tests run serially, as jobs in a worker do.
const runner = new JobRunner();
test.after.always(() => runner.close());

const CPU_LIMIT_MS = 2000;

function runJob(code: Uint8Array, input: Uint8Array | string, abi: Abi = 'run', cpuTimeLimitMs = CPU_LIMIT_MS, signal?: AbortSignal): Promise<RunResult> {
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  const task = { kind: 'execute', artifact: artifactOf(code), input: bytes, abi, limits: DEFAULT_EXECUTE_LIMITS } as const;
  return runner.run(task, { cpuTimeLimitMs, ...(signal ? { signal } : {}) });
}

async function assertWorks(t: import('ava').ExecutionContext): Promise<void> {
  const result = await runJob(fixtures.upper, 'still works');
  t.true(result.ok);
  if (result.ok && result.kind === 'execute') t.is(Buffer.from(result.output).toString(), 'STILL WORKS');
}

test.serial('prepares and executes on the job thread, with times', async (t) => {
  const prepared = await runner.run({ kind: 'prepare', code: fixtures.upper.slice(), limits: DEFAULT_PREPARE_LIMITS, paramsHash: PARAMS_HASH }, { cpuTimeLimitMs: CPU_LIMIT_MS });
  if (!prepared.ok || prepared.kind !== 'prepare') return t.fail(JSON.stringify(prepared));
  t.deepEqual(prepared.exports, ['memory', 'alloc', 'run']);
  t.true(prepared.artifact instanceof Uint8Array);
  const executed = await runner.run({ kind: 'execute', artifact: prepared.artifact, input: Buffer.from('job'), abi: 'run', limits: DEFAULT_EXECUTE_LIMITS }, { cpuTimeLimitMs: CPU_LIMIT_MS });
  if (!executed.ok || executed.kind !== 'execute') return t.fail(JSON.stringify(executed));
  t.is(Buffer.from(executed.output).toString(), 'JOB');
  t.true(executed.cpuTimeMs >= 0 && executed.cpuTimeMs < CPU_LIMIT_MS);
  t.true(executed.wallTimeMs >= 0);
});

test.serial('a job failure comes back as data and keeps the thread', async (t) => {
  const result = await runJob(fixtures.trap, '');
  t.false(result.ok);
  if (!result.ok) t.like(result.failure, { code: 'E_TRAP', deterministic: true });
  await assertWorks(t);
});

test.serial('an infinite loop is cut at the CPU-time limit, and the next job runs', async (t) => {
  const result = await runJob(fixtures.infiniteLoop, '', 'run', 300);
  t.false(result.ok);
  if (!result.ok) t.like(result.failure, { code: 'E_TIMEOUT', deterministic: false });
  // Cut by its CPU time, or on a loaded machine by the wall-clock bound (4 × 300 ms) first.
  if (!result.ok && /CPU time/.test(result.failure.message)) t.true(result.cpuTimeMs >= 300);
  else if (!result.ok) t.regex(result.failure.message, /wall-clock/);
  // Loose: the watch samples every 10 ms, and the machine is shared.
  t.true(result.wallTimeMs < 5000, `cut after ${result.wallTimeMs} ms`);
  await assertWorks(t);
});

test.serial('a sleeping job is cut at the wall-clock bound (a multiple of the CPU limit)', async (t) => {
  const result = await runJob(wat(wasiSleepSource(60_000_000_000n)), '', 'wasi', 100);
  t.false(result.ok);
  if (!result.ok) {
    t.is(result.failure.code, 'E_TIMEOUT');
    t.regex(result.failure.message, /wall-clock/);
  }
  t.true(result.wallTimeMs >= 400 && result.wallTimeMs < 10_000);
  await assertWorks(t);
});

test.serial('a wasm memory bomb is E_OUT_OF_MEMORY', async (t) => {
  const result = await runJob(fixtures.memoryBomb, '');
  t.false(result.ok);
  if (!result.ok) t.like(result.failure, { code: 'E_OUT_OF_MEMORY', deterministic: true });
});

// A job thread dying of V8 heap exhaustion (ERR_WORKER_OUT_OF_MEMORY, mapped to E_OUT_OF_MEMORY)
// cannot be provoked safely by a real job: wasm reaches the JS heap only through tables and
// element segments, whose allocations are large and single, and V8 then aborts the whole
// process ("Reached heap limit") instead of ending the thread. warden prevents it with limits
// (tables share one element budget); the mapping itself is a single `error.code` check.
test.skip('a job thread out of V8 heap is E_OUT_OF_MEMORY (not reachable from a limited wasm job)', () => {});

test.serial('an abort signal ends a running job with E_ABORTED, and the next job runs', async (t) => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const result = await runJob(fixtures.infiniteLoop, '', 'run', 10_000, controller.signal);
  t.false(result.ok);
  if (!result.ok) t.is(result.failure.code, 'E_ABORTED');
  await assertWorks(t);
});

test.serial('jobs submitted together run one after the other', async (t) => {
  const results = await Promise.all(['a', 'b', 'c'].map((input) => runJob(fixtures.upper, input)));
  t.deepEqual(
    results.map((r) => (r.ok && r.kind === 'execute' ? Buffer.from(r.output).toString() : r)),
    ['A', 'B', 'C'],
  );
});

test.serial('a buffer spanning its ArrayBuffer is transferred, a pooled one copied', async (t) => {
  const owned = new Uint8Array(new ArrayBuffer(4));
  owned.set([0x61, 0x62, 0x63, 0x64]);
  const pooled = Buffer.from('pooled');
  const task = { kind: 'execute', artifact: artifactOf(fixtures.upper), input: owned, abi: 'run', limits: DEFAULT_EXECUTE_LIMITS } as const;
  const result = await runner.run(task, { cpuTimeLimitMs: CPU_LIMIT_MS });
  t.true(result.ok);
  t.is(owned.byteLength, 0, 'transferred: detached here');
  t.throws(() => runner.run({ ...task, input: pooled }, { cpuTimeLimitMs: CPU_LIMIT_MS }), { message: /task\.artifact was already transferred/ });
  await runner.run({ ...task, artifact: artifactOf(fixtures.upper), input: pooled }, { cpuTimeLimitMs: CPU_LIMIT_MS });
  t.is(pooled.toString(), 'pooled', 'copied: intact here');
});

test('options are validated, naming the option', (t) => {
  t.throws(() => new JobRunner({ stackSizeMb: 0 }), { message: /options\.stackSizeMb must be a positive number/ });
  t.throws(() => runner.run({ kind: 'prepare', code: fixtures.upper.slice(), limits: DEFAULT_PREPARE_LIMITS, paramsHash: PARAMS_HASH }, { cpuTimeLimitMs: -1 }), {
    message: /options\.cpuTimeLimitMs must be a positive number/,
  });
});

test('close() is idempotent and later runs are refused', async (t) => {
  const own = new JobRunner();
  await Promise.all([own.close(), own.close()]);
  await t.throwsAsync(own.run({ kind: 'prepare', code: fixtures.upper.slice(), limits: DEFAULT_PREPARE_LIMITS, paramsHash: PARAMS_HASH }, { cpuTimeLimitMs: 1000 }), { message: /closed/ });
});

test.serial("an execute job's CPU budget counts its own thread once its module is compiled", async (t) => {
  // Loading and compiling 9 MB of code takes far more than the job's 40 ms; running `_start` takes nothing.
  const task = { kind: 'execute', artifact: bigArtifact(1), input: new Uint8Array(0), abi: 'wasi', limits: DEFAULT_EXECUTE_LIMITS } as const;
  const result = await runner.run(task, { cpuTimeLimitMs: 40, compileTimeLimitMs: 60_000 });
  t.true(result.ok, JSON.stringify(!result.ok && result.failure));
  t.true(result.cpuTimeMs < 40, `${result.cpuTimeMs} ms counted`);
});

test.serial('compiling at execute has its own bound: past it, E_TIMEOUT says so', async (t) => {
  const task = { kind: 'execute', artifact: bigArtifact(2), input: new Uint8Array(0), abi: 'wasi', limits: DEFAULT_EXECUTE_LIMITS } as const;
  const result = await runner.run(task, { cpuTimeLimitMs: 60_000, compileTimeLimitMs: 1 });
  t.false(result.ok);
  if (!result.ok) {
    t.is(result.failure.code, 'E_TIMEOUT');
    // On a loaded machine the compile's wall-clock bound (4 × 1 ms) can come first: either names the compile.
    t.regex(result.failure.message, /compiling the module (used more than 1 ms of CPU time \(compileTimeoutMs\)|took more than 4 ms of wall-clock time)/);
  }
  await assertWorks(t);
});

test.serial('a spinning job is charged its own thread CPU time, never more than its wall time', async (t) => {
  const result = await runJob(fixtures.infiniteLoop, '', 'run', 400);
  t.false(result.ok);
  // The thread's own clock (not the process's, which adds the main thread and V8's background
  // threads): one thread cannot use more CPU time than wall time. A loaded machine may reach the
  // wall-clock bound (4 × 400 ms) first.
  t.true(result.cpuTimeMs <= result.wallTimeMs + 20, `${result.cpuTimeMs} ms of CPU in ${result.wallTimeMs} ms`);
  if (!result.ok && /CPU time/.test(result.failure.message)) t.true(result.cpuTimeMs >= 400 && result.cpuTimeMs < 1500, `${result.cpuTimeMs} ms`);
});

test.serial('prepare refuses a module that takes more than compileTimeoutMs to compile', async (t) => {
  const code = bigModule(10_000, 150, 3);
  const limits = { ...DEFAULT_PREPARE_LIMITS, maxCodeBytes: 64 << 20, maxDecompressedBytes: 64 << 20, maxArtifactBytes: 64 << 20 };
  const result = await runner.run({ kind: 'prepare', code, limits, paramsHash: PARAMS_HASH, compileTimeoutMs: 1 }, { cpuTimeLimitMs: 60_000 });
  t.false(result.ok);
  if (!result.ok) {
    t.is(result.failure.code, 'E_TIMEOUT');
    t.false(result.failure.deterministic);
    t.regex(result.failure.message, /compiling the module used \d+ ms of CPU time, more than 1 ms \(compileTimeoutMs\)/);
  }
});
