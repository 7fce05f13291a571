/**
 * Chaos ("Adversarial suites", item 3): 5,000 jobs from 50 concurrent submitters while random
 * workers are SIGKILLed and SIGSTOPped. Every job settles exactly once, with its own exact
 * output or a typed error the chaos can explain; the host keeps serving afterwards and leaks
 * nothing (startScheduler's teardown).
 *
 * It measures liveness, not speed, so that it holds on a loaded machine (issue 11): the chaos is
 * paced by jobs settled (one action per 20–40 jobs), not by the clock, so a slow machine meets
 * the same chaos per job as a fast one; every job has a deadline and none may settle past it;
 * and the run must keep making progress (no long gap without a job settling). There is no
 * budget for the whole run. Under a clock-paced storm on a loaded 2-core machine the jobs were
 * slow, never stuck: once the storm stopped, every job still in flight settled.
 */
import test from 'ava';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WardenError } from '../../src/index.js';
import { delay, hello, idleWorkers, record, startScheduler, text } from '../helpers/scheduler.js';
import { fixtures, wat } from '../helpers/wat.js';

const SUBMITTERS = 50;
const JOBS_PER_SUBMITTER = 100;
/** Each job's own deadline, from its submission: the host fails it with E_DEADLINE past it, waiting or running. */
const JOB_DEADLINE_MS = 120_000;
/** How late a job may settle after its deadline: the host's deadline timer runs on its event loop, itself slowed by load. */
const DEADLINE_GRACE_MS = 10_000;
/** The longest the run may go without a single job settling. */
const PROGRESS_MS = 60_000;
/** Jobs settled between two chaos actions: a random number in [CHAOS_EVERY, 2 × CHAOS_EVERY). */
const CHAOS_EVERY = 20;

type Kind = 'hello' | 'trap' | 'timeout' | 'prepare';

/** Failures any job may meet under chaos: its worker killed twice, frozen past the hard timeout, the pool degraded, its deadline passed. */
const CHAOS_CODES = ['E_WORKER_DIED', 'E_TIMEOUT', 'E_POOL_DEGRADED', 'E_DEADLINE'];
/** What each kind of job may reject with. */
const ALLOWED: Record<Kind, string[]> = {
  hello: CHAOS_CODES,
  trap: ['E_TRAP', ...CHAOS_CODES],
  timeout: CHAOS_CODES,
  prepare: CHAOS_CODES,
};

/** A small deterministic PRNG (mulberry32): the same job mix and chaos on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A run-ABI echo module made distinct by an exported constant: fresh code for the prepare pool. */
function freshCode(n: number): Uint8Array {
  return wat(`(module
    (memory (export "memory") 1)
    (global (export "__heap_base") i32 (i32.const 1024))
    (global (export "chaos_id") i32 (i32.const ${n}))
    (func (export "run") (param $ptr i32) (param $len i32) (result i64)
      (i64.or (i64.extend_i32_u (local.get $ptr)) (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)))))`);
}

test.serial('5,000 jobs from 50 submitters under a storm of SIGKILL and SIGSTOP', async (t) => {
  // No wall budget for the run (a loaded machine is slow, not wrong): liveness is asserted below.
  // This bounds only a run that hangs despite them.
  t.timeout(30 * 60_000);
  const { host } = await startScheduler(
    t,
    {
      executeWorkers: 2,
      prepareWorkers: 1,
      limits: { executeTimeoutMs: 1000, hardTimeoutFactor: 2, prepareTimeoutMs: 2000 },
    },
    { readyTimeoutMs: 120_000 },
  );
  const events = record(host);
  const helloArtifact = await host.prepare(hello.wasm);
  const trapArtifact = await host.prepare(fixtures.trap);
  const loopArtifact = await host.prepare(fixtures.infiniteLoop);

  // The plan, built before the clock starts (assembling fresh modules is synchronous work).
  const random = prng(0xc4a05);
  const plan: { id: string; kind: Kind; code?: Uint8Array }[][] = [];
  for (let s = 0; s < SUBMITTERS; s++) {
    const jobs: { id: string; kind: Kind; code?: Uint8Array }[] = [];
    for (let i = 0; i < JOBS_PER_SUBMITTER; i++) {
      const r = random();
      const id = `s${s}-j${i}`;
      const kind: Kind = r < 0.03 ? 'trap' : r < 0.05 ? 'timeout' : r < 0.08 ? 'prepare' : 'hello';
      jobs.push(kind === 'prepare' ? { id, kind, code: freshCode(s * JOBS_PER_SUBMITTER + i) } : { id, kind });
    }
    plan.push(jobs);
  }

  const settlements = new Map<string, number>();
  const counts: Record<string, number> = { ok: 0 };
  const problems: string[] = [];
  const successfulExecuteJobIds = new Set<string>();
  const preparedKeys = new Set<string>();
  /** How late each job settled after its own deadline, when it did. */
  const late: string[] = [];
  let settledCount = 0;
  let lastSettledAt = Date.now();
  let longestGapMs = 0;
  /** Resolves the chaos loop's wait for its next action. */
  let onSettled = (): void => {};
  const settle = (id: string, deadline: number): void => {
    settlements.set(id, (settlements.get(id) ?? 0) + 1);
    const now = Date.now();
    if (now > deadline + DEADLINE_GRACE_MS) late.push(`${id} settled ${now - deadline} ms after its deadline`);
    longestGapMs = Math.max(longestGapMs, now - lastSettledAt);
    lastSettledAt = now;
    settledCount++;
    onSettled();
  };

  const runJob = async (job: { id: string; kind: Kind; code?: Uint8Array }): Promise<void> => {
    const input = Buffer.from(`${job.id}:${'x'.repeat(job.id.length % 7)}`);
    const deadline = Date.now() + JOB_DEADLINE_MS;
    let promise: Promise<unknown>;
    switch (job.kind) {
      case 'hello':
        promise = host.execute(helloArtifact, input, { deadline });
        break;
      case 'trap':
        promise = host.execute(trapArtifact, input, { deadline });
        break;
      case 'timeout':
        promise = host.execute(loopArtifact, input, { timeoutMs: 50, deadline });
        break;
      case 'prepare':
        promise = host.prepare(job.code!, { deadline });
        break;
    }
    await promise.then(
      (value) => {
        settle(job.id, deadline);
        counts.ok!++;
        if (job.kind === 'hello') {
          const result = value as Awaited<ReturnType<typeof host.execute>>;
          const got = text(result.output);
          if (got !== `Hello, ${input.toString()}!`) problems.push(`${job.id}: got output ${JSON.stringify(got)}`);
          if (successfulExecuteJobIds.has(result.jobId)) problems.push(`${job.id}: host job id ${result.jobId} resolved twice`);
          successfulExecuteJobIds.add(result.jobId);
        } else if (job.kind === 'prepare') {
          const artifact = value as Awaited<ReturnType<typeof host.prepare>>;
          if (preparedKeys.has(artifact.key)) problems.push(`${job.id}: artifact key ${artifact.key} returned for two distinct codes`);
          preparedKeys.add(artifact.key);
          if (!artifact.exports.includes('chaos_id')) problems.push(`${job.id}: artifact exports ${artifact.exports.join(',')}`);
        } else {
          problems.push(`${job.id}: a ${job.kind} job succeeded`);
        }
      },
      (error: unknown) => {
        settle(job.id, deadline);
        if (!(error instanceof WardenError)) {
          problems.push(`${job.id}: rejected with a non-WardenError ${String(error)}`);
          counts['non-warden'] = (counts['non-warden'] ?? 0) + 1;
          return;
        }
        counts[error.code] = (counts[error.code] ?? 0) + 1;
        if (!ALLOWED[job.kind].includes(error.code)) problems.push(`${job.id} (${job.kind}): unexpected ${error.code}: ${error.message}`);
      },
    );
  };

  // The chaos loop: one action per 20–40 jobs settled, mostly on workers under a job.
  let chaosOn = true;
  let kills = 0;
  let stops = 0;
  let conts = 0;
  const stopped = new Map<number, NodeJS.Timeout>();
  const chaosRandom = prng(0x5eed);
  const cont = (pid: number): void => {
    stopped.delete(pid);
    // Only a pid the host still owns: a worker killed meanwhile may have had its pid reused.
    if (!host.workers().some((w) => w.pid === pid)) return;
    try {
      process.kill(pid, 'SIGCONT');
      conts++;
    } catch {
      // gone meanwhile
    }
  };
  /** Resolves once `count` jobs have settled, or the run is over. */
  const settledUpTo = (count: number): Promise<void> =>
    new Promise((resolve) => {
      onSettled = () => {
        if (settledCount >= count || !chaosOn) resolve();
      };
      onSettled();
    });
  const chaos = (async () => {
    let next = 0;
    while (chaosOn) {
      next += CHAOS_EVERY + Math.floor(chaosRandom() * CHAOS_EVERY);
      await settledUpTo(next);
      if (!chaosOn) break;
      const candidates = host.workers().filter((w) => w.pid !== undefined && !stopped.has(w.pid));
      const busy = candidates.filter((w) => w.state.startsWith('running'));
      const pool = busy.length > 0 && chaosRandom() < 0.85 ? busy : candidates;
      if (pool.length === 0) continue;
      const target = pool[Math.floor(chaosRandom() * pool.length)]!;
      const pid = target.pid!;
      try {
        if (chaosRandom() < 0.7) {
          process.kill(pid, 'SIGKILL');
          kills++;
        } else {
          process.kill(pid, 'SIGSTOP');
          stops++;
          // Thawed after 0.2–4 s: a long freeze meets the hard timeout (3 s for executes) first.
          stopped.set(pid, setTimeout(() => cont(pid), 200 + Math.floor(chaosRandom() * 3800)));
        }
      } catch {
        // the worker exited between the listing and the signal
      }
    }
  })();

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const started = Date.now();
  lastSettledAt = started;
  const submitters = Promise.all(
    plan.map(async (jobs) => {
      for (const job of jobs) await runJob(job);
    }),
  );
  // Liveness, checked as the run goes: it ends when every job has settled, or fails as soon as
  // PROGRESS_MS pass without any job settling.
  let stalled = false;
  const progress = setInterval(() => {
    if (Date.now() - lastSettledAt > PROGRESS_MS) stalled = true;
  }, 1000);
  const outcome = await Promise.race([
    submitters.then(() => 'done' as const),
    (async () => {
      while (!stalled) await delay(1000);
      return 'stalled' as const;
    })(),
  ]);
  clearInterval(progress);
  stalled = true;
  const elapsed = Date.now() - started;
  loopDelay.disable();
  chaosOn = false;
  onSettled();
  await chaos;
  for (const [pid, timer] of stopped) {
    clearTimeout(timer);
    cont(pid);
  }

  const total = SUBMITTERS * JOBS_PER_SUBMITTER;
  const never = plan.flat().filter((job) => !settlements.has(job.id)).map((job) => job.id);
  const twice = [...settlements].filter(([, n]) => n !== 1).map(([id]) => id);
  const maxMs = loopDelay.max / 1e6;
  const p99Ms = loopDelay.percentile(99) / 1e6;
  const failedEvents = events.of('job:failed');
  t.log(`${settledCount} of ${total} jobs in ${elapsed} ms; kills ${kills}, stops ${stops} (SIGCONT ${conts}); degraded ${JSON.stringify(events.of('pool:degraded').map((e) => e.kind))}`);
  t.log(`longest gap without a job settling: ${Math.max(longestGapMs, Date.now() - lastSettledAt)} ms`);
  t.log('counts', JSON.stringify(counts));
  const exits: Record<string, number> = {};
  for (const e of events.of('worker:exited')) exits[`${e.kind}:${e.reason}`] = (exits[`${e.kind}:${e.reason}`] ?? 0) + 1;
  t.log('worker exits', JSON.stringify(exits));
  t.log(`event loop delay: max ${maxMs.toFixed(1)} ms, p99 ${p99Ms.toFixed(1)} ms, mean ${(loopDelay.mean / 1e6).toFixed(1)} ms`);

  t.is(outcome, 'done', `no job settled for ${PROGRESS_MS} ms; still waiting: ${never.slice(0, 20).join(', ')} (${never.length})`);
  t.true(longestGapMs <= PROGRESS_MS, `the run went ${longestGapMs} ms without a job settling`);
  t.deepEqual(late.slice(0, 20), [], `${late.length} jobs settled past their deadline`);
  t.deepEqual(never, [], 'every job settled');
  t.deepEqual(twice, [], 'no job settled twice');
  t.is([...settlements.values()].reduce((a, b) => a + b, 0), total);
  t.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`);
  t.true(counts.ok! > 0, 'some jobs succeeded under chaos');
  // The host's own bookkeeping: a job that resolved was never also reported failed, no job failed twice.
  const failedIds = failedEvents.map((e) => e.jobId);
  t.is(new Set(failedIds).size, failedIds.length, 'no host job reported failed twice');
  t.deepEqual(failedIds.filter((id) => successfulExecuteJobIds.has(id)), [], 'no resolved job was reported failed');
  const succeededIds = events.of('job:succeeded').filter((e) => e.kind === 'execute').map((e) => e.jobId);
  t.is(new Set(succeededIds).size, succeededIds.length, 'no host job reported succeeded twice');
  // The target is no stall above 100 ms on an idle machine (measured max: 60–79 ms in most runs,
  // the host sharing the test process with 50 submitters and its own GC). On a loaded machine the
  // loop also waits for a core: what is asserted is only what no load explains, a stall of
  // seconds (synchronous work on the host's loop, such as parsing a worker's huge header).
  t.true(maxMs < 5000, `event loop stalled ${maxMs.toFixed(1)} ms`);

  // The chaos is over: the pools recover (after a degradation's cooldown) and serve again.
  await idleWorkers(host, 'execute', 2, 120_000);
  await idleWorkers(host, 'prepare', 1, 120_000);
  const after = await host.execute(helloArtifact, Buffer.from('after the storm'));
  t.is(text(after.output), 'Hello, after the storm!');
  const fresh = await host.prepare(freshCode(1_000_000));
  t.false(fresh.cached);
  t.is(text((await host.execute(fresh, Buffer.from('echo'))).output), 'echo');
});
