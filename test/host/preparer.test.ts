/**
 * The preparer on its own, without pools or a host: jobs run one by one on real sandboxed
 * workers of a `WorkerSpawner` (a minimal stand-in for a pool: spawn, populate, request,
 * collect, kill), so what is checked is the preparer's own part: one job per key however
 * many callers, the cache before any job, each caller's own signal, and the repair of an
 * artifact gone from under an execute.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { ArtifactCache } from '../../src/actors/artifactCache.js';
import { ExecuteJob, type JobCommon, type JobHooks } from '../../src/actors/hostJobs.js';
import type { Priority } from '../../src/actors/jobQueue.js';
import type { JobWorker, PoolJob } from '../../src/actors/poolJob.js';
import { CorruptedArtifactError, type WardenError } from '../../src/errors.js';
import { Preparer, type PreparerLinks } from '../../src/host/preparer.js';
import { WorkerSpawner } from '../../src/host/spawner.js';
import { hardTimeoutMs, type JobTiming } from '../../src/jobOptions.js';
import { executeLimitsOf, resolveHostOptions, type ResolvedHostOptions } from '../../src/options.js';
import type { WorkerKind } from '../../src/protocol/messages.js';
import { checkSecurity } from '../../src/sandbox/security.js';
import { tempCacheDir } from '../helpers/host.js';
import { hello, text } from '../helpers/scheduler.js';
import { InputBuffers } from '../../src/host/inputBuffers.js';

/** Runs one job on a fresh worker, then kills it: the steps a pool's worker machine takes. */
async function runOnce(spawner: WorkerSpawner, job: PoolJob): Promise<void> {
  const process = await spawner.spawn(job.kind);
  const worker: JobWorker = { id: process.info.id, hostDir: process.hostDir, linked: undefined };
  try {
    job.started(worker);
    try {
      await job.populate(worker);
    } catch (error) {
      return job.failed('populate-failed', error as WardenError, worker);
    }
    const { type, header, body, replyType, maxReplyBody } = job.request;
    const reply = await process.request(type, header, body, { expect: replyType, maxBody: maxReplyBody ?? 0 });
    try {
      await job.collect(worker, reply);
    } catch (error) {
      job.failed('collect-failed', error as WardenError, worker);
    }
  } finally {
    await process.kill();
  }
}

function timing(priority: Priority = 'normal', signal?: AbortSignal): JobTiming {
  return { priority, isolation: 'worker', timeoutMs: 10_000, signal, deadline: undefined };
}

async function startPreparer(t: ExecutionContext, tweak: (options: ResolvedHostOptions) => ResolvedHostOptions = (o) => o) {
  const cacheDir = await tempCacheDir('warden-preparer-');
  const options = tweak(resolveHostOptions({ cacheDir }));
  const status = await checkSecurity(cacheDir, { cgroups: false });
  const cache = await ArtifactCache.open(cacheDir, { maxBytes: options.cacheMaxBytes, maxArtifactBytes: options.limits.maxArtifactBytes });
  const spawner = new WorkerSpawner(options, status);
  const submitted: PoolJob[] = [];
  const raised: { job: PoolJob; priority: Priority }[] = [];
  const prepared: { key: string; size: number }[] = [];
  const runs = new Set<Promise<void>>();
  let counter = 0;
  const hooks: JobHooks = { started() {}, succeeded() {}, failed() {}, resubmit: (job) => links.submit(job) };
  const common = (kind: WorkerKind, job: JobTiming): JobCommon => ({
    id: `${kind}-job-${++counter}`,
    priority: job.priority,
    isolation: job.isolation,
    signal: job.signal,
    deadline: job.deadline,
    cpuTimeLimitMs: job.timeoutMs,
    compileTimeoutMs: options.limits.compileTimeoutMs,
    hardTimeoutMs: hardTimeoutMs(kind, job.timeoutMs, options.limits),
    hooks,
  });
  const links: PreparerLinks = {
    common,
    submit: (job) => {
      submitted.push(job);
      const run = runOnce(spawner, job).catch((error: WardenError) => job.failed('lost', error, undefined));
      runs.add(run);
    },
    raisePriority: (job, priority) => raised.push({ job, priority }),
    prepared: (key, size) => prepared.push({ key, size }),
  };
  const preparer = new Preparer(options, cache, links);
  t.teardown(async () => {
    await Promise.all(runs);
    await preparer.close();
    await spawner.close();
    await cache.flush();
    await fsp.rm(cacheDir, { recursive: true, force: true });
  });
  return { preparer, cache, options, submitted, raised, prepared, common, submit: links.submit };
}

/** The bytes as `checkBytes` hands them to the preparer: a copy in a SharedArrayBuffer. */
function shared(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  copy.set(bytes);
  return copy;
}

test('concurrent callers of one key share one prepare job, raised to the highest priority; then the cache answers', async (t) => {
  const { preparer, submitted, raised, prepared } = await startPreparer(t);
  const priorities: Priority[] = ['background', 'normal', 'high', 'critical', 'normal'];
  const artifacts = await Promise.all(priorities.map((priority) => preparer.prepare(shared(hello.wasm), timing(priority))));
  t.is(submitted.length, 1);
  t.is(submitted[0]!.kind, 'prepare');
  t.is(submitted[0]!.priority, 'background', "the first caller's priority");
  t.deepEqual(
    raised.map(({ job, priority }) => [job, priority]),
    priorities.slice(1).map((priority) => [submitted[0], priority]),
  );
  t.is(new Set(artifacts.map((a) => a.key)).size, 1);
  t.true(artifacts.every((a) => !a.cached));
  t.deepEqual(prepared, [{ key: artifacts[0]!.key, size: artifacts[0]!.size }]);

  const again = await preparer.prepare(shared(hello.wasm), timing());
  t.true(again.cached);
  t.is(again.key, artifacts[0]!.key);
  t.deepEqual(again.exports, artifacts[0]!.exports);
  t.is(submitted.length, 1, 'a cache hit runs no job');
});

test('a caller giving up does not cancel the shared job for the others', async (t) => {
  const { preparer, submitted } = await startPreparer(t);
  const controller = new AbortController();
  const first = preparer.prepare(shared(hello.wasm), timing('normal', controller.signal));
  const second = preparer.prepare(shared(hello.wasm), timing());
  controller.abort();
  const error = await t.throwsAsync(first);
  t.is((error as WardenError).code, 'E_ABORTED');
  t.false((await second).cached);
  t.is(submitted.length, 1);
});

test('code too large or empty is refused without a job', async (t) => {
  const { preparer, submitted } = await startPreparer(t, (o) => ({ ...o, limits: { ...o.limits, maxCodeBytes: 16 } }));
  for (const code of [hello.wasm, new Uint8Array(0)]) {
    const error = await t.throwsAsync(preparer.prepare(shared(code), timing()));
    t.is((error as WardenError).code, 'E_PREVALIDATION');
  }
  t.is(submitted.length, 0);
});

test('an artifact gone from under an execute is prepared again once, and the execute runs again', async (t) => {
  const { preparer, cache, options, submitted, prepared, common, submit } = await startPreparer(t);
  const artifact = await preparer.prepare(shared(hello.wasm), timing());
  fs.unlinkSync(cache.pathOf(artifact.key));
  const job = new ExecuteJob(
    common('execute', { ...timing(), timeoutMs: options.limits.executeTimeoutMs }),
    artifact.key,
    'run',
    new InputBuffers().copy(Buffer.from('world')),
    undefined,
    executeLimitsOf(options.limits),
    options.limits.maxFuel,
    cache,
    preparer.generations,
    (j, error) => preparer.recover(j, artifact, error),
  );
  submitted.length = 0;
  // As the host queues it: the first run fails to populate (the file is gone), which calls the recovery.
  submit(job);
  const outcome = await job.promise;
  t.is(text(outcome.output), 'Hello, world!');
  t.deepEqual(
    submitted.map((j) => j.kind),
    ['execute', 'prepare', 'execute'],
    'one prepare job repaired the artifact, then the execute was queued again',
  );
  t.is(prepared.length, 2);
  t.is(prepared[1]!.key, artifact.key);
  t.is(preparer.recovering.size, 0);
  // A second loss of the same job is not recovered again: it fails.
  t.false(preparer.recover(job, artifact, new CorruptedArtifactError('again')));
});
