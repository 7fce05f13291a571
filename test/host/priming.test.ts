/**
 * Priming (protocol 7): a fresh spare is readied for the next job of its pool's latest artifact
 * before that job comes. Its empty dir gets a copy of the artifact, and its process loads it
 * (`MessageType.Prime`: the file opened, read, checked and its module compiled), so that the job
 * needs no populate and finds its module loaded. Another artifact, a copy changed after the
 * Prime, or a module too large to compile at once run as they did before; a spare that ran a job
 * is never primed.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { WorkerProcess } from '../../src/actors/workerProcess.js';
import { executeLimitsOf } from '../../src/options.js';
import { MessageType, type ExecuteReply, type ExecuteRequest, type PrimeRequest } from '../../src/protocol/messages.js';
import { SYNC_COMPILE_BYTES } from '../../src/shared/limits.js';
import { copyArtifact, createWorkerDir } from '../../src/sandbox/workerDir.js';
import type { Artifact } from '../../src/artifactHandle.js';
import type { Host } from '../../src/host.js';
import { waitFor, workerDirsIn } from '../helpers/host.js';
import { wat } from '../helpers/wat.js';
import { example, flipByte, hello, idleWorkers, startScheduler, text } from '../helpers/scheduler.js';

const upper = example('upper');

/** Whether each ASSIGN an execute worker's machine took said its dir held what the job needed (no populate). */
function assignRecorder(): { populated: boolean[]; inspect: (event: InspectionEvent) => void } {
  const populated: boolean[] = [];
  return {
    populated,
    inspect: (event) => {
      if (event.type !== '@xstate.event') return;
      const sent = event.event as { type: string; populated?: boolean };
      if (sent.type !== 'ASSIGN') return;
      const { context } = (event.actorRef as AnyActorRef).getSnapshot() as { context: { kind?: string } };
      if (context.kind === 'execute') populated.push(sent.populated === true);
    },
  };
}

/** The `artifact` of each execute worker dir (undefined: the dir holds none). */
function dirArtifacts(cacheDir: string): (Buffer | undefined)[] {
  return workerDirsIn(cacheDir)
    .filter((name) => name.startsWith('worker-dir-execute-'))
    .map((name) => {
      try {
        return fs.readFileSync(path.join(cacheDir, name, 'artifact'));
      } catch {
        return undefined;
      }
    });
}

function cached(host: Host, artifact: Artifact): Buffer {
  return fs.readFileSync(host.cache.pathOf(artifact.key));
}

/** Waits until the execute dirs hold exactly these artifacts (any order; undefined: an empty dir). */
async function dirsHold(t: ExecutionContext, cacheDir: string, expected: (Buffer | undefined)[], what: string): Promise<void> {
  const key = (bytes: Buffer | undefined) => (bytes === undefined ? 'empty' : bytes.toString('base64'));
  const want = expected.map(key).sort().join(',');
  const seen = await waitFor(() => dirArtifacts(cacheDir).map(key).sort().join(','), (now) => now === want, 10_000);
  t.is(seen, want, what);
}

/**
 * Waits until the idle execute workers hold exactly these artifacts as the host sees them
 * (`host.workers()`'s `artifactKey`, set once a copy is made and checked), then checks their
 * dirs hold copies of those files. A job submitted before the host has recorded a copy would
 * find the spare still being primed.
 */
async function sparesHold(t: ExecutionContext, host: Host, cacheDir: string, expected: (Artifact | undefined)[], what: string): Promise<void> {
  const want = expected.map((artifact) => artifact?.key ?? 'none').sort().join(',');
  const held = () =>
    host
      .workers()
      .filter((w) => w.kind === 'execute' && w.state === 'idle')
      .map((w) => w.artifactKey ?? 'none')
      .sort()
      .join(',');
  t.is(await waitFor(held, (now) => now === want, 10_000), want, `${what} (host.workers())`);
  await dirsHold(t, cacheDir, expected.map((artifact) => artifact && cached(host, artifact)), what);
}

test.serial("'job' isolation: the refilled spares hold the latest artifact before any job, and its next job needs no populate", async (t) => {
  const { populated, inspect } = assignRecorder();
  const { host, cacheDir } = await startScheduler(t, { executeWorkers: 2, isolation: 'job', inspect });
  const artifact = await host.prepare(hello.wasm);
  t.is(text((await host.execute(artifact, Buffer.from('a'))).output), 'Hello, a!');
  t.deepEqual(populated, [false], 'the first job copied its artifact in');
  // Both spares: the one that waited beside the job, and the refill of the one the job used.
  await idleWorkers(host, 'execute', 2);
  await sparesHold(t, host, cacheDir, [artifact, artifact], 'both spares hold a copy of the artifact');
  const cacheIno = fs.statSync(host.cache.pathOf(artifact.key)).ino;
  for (const name of workerDirsIn(cacheDir).filter((n) => n.startsWith('worker-dir-execute-'))) {
    t.not(fs.statSync(path.join(cacheDir, name, 'artifact')).ino, cacheIno, 'a copy of its own, not the cache file');
  }
  for (const input of ['b', 'c', 'd']) {
    t.is(text((await host.execute(artifact, Buffer.from(input))).output), `Hello, ${input}!`);
    await idleWorkers(host, 'execute', 2);
    await sparesHold(t, host, cacheDir, [artifact, artifact], 'the refill is primed too');
  }
  t.deepEqual(populated, [false, true, true, true], 'each later job found its artifact in its spare');
});

test.serial('another artifact runs on a spare primed with the last one, and becomes what the refills are primed with', async (t) => {
  const { populated, inspect } = assignRecorder();
  const { host, cacheDir } = await startScheduler(t, { executeWorkers: 2, isolation: 'job', inspect });
  const first = await host.prepare(hello.wasm);
  const second = await host.prepare(upper.wasm);
  t.is(text((await host.execute(first, Buffer.from('x'))).output), 'Hello, x!');
  await idleWorkers(host, 'execute', 2);
  await sparesHold(t, host, cacheDir, [first, first], 'primed with the first artifact');
  t.true(Buffer.from((await host.execute(second, upper.input)).output).equals(upper.expected), "the second artifact's output, on a spare primed with the first");
  await idleWorkers(host, 'execute', 2);
  // The spare left from before keeps its copy; the refill gets the latest artifact.
  await sparesHold(t, host, cacheDir, [first, second], 'the refill primed with the second artifact');
  t.true(Buffer.from((await host.execute(second, upper.input)).output).equals(upper.expected));
  t.is(text((await host.execute(first, Buffer.from('y'))).output), 'Hello, y!');
  t.deepEqual(populated, [false, false, true, true], 'each job of a primed artifact took the spare that held it');
});

test.serial('reuse: a spare no job took is primed, a worker that ran a job is not', async (t) => {
  const { populated, inspect } = assignRecorder();
  const { host, cacheDir } = await startScheduler(t, { executeWorkers: 2, inspect });
  await idleWorkers(host, 'execute', 2);
  const second = await host.prepare(upper.wasm);
  const artifact = await host.prepare(hello.wasm);
  t.is(text((await host.execute(artifact, Buffer.from('r'))).output), 'Hello, r!');
  // The used worker keeps the copy its job made; the spare gets one before any job.
  await sparesHold(t, host, cacheDir, [artifact, artifact], 'the spare is primed');
  // A job of another artifact takes the worker that ran a job (spares stay fresh): the spare keeps its copy.
  t.true(Buffer.from((await host.execute(second, upper.input)).output).equals(upper.expected));
  await idleWorkers(host, 'execute', 2);
  await sparesHold(t, host, cacheDir, [second, artifact], 'a used worker is never primed');
  t.deepEqual(populated, [false, false]);
});

/** An echo module of the run ABI whose artifact is larger than what a spare is primed with. */
function largeEcho(): Uint8Array {
  const filler = 'w'.repeat(SYNC_COMPILE_BYTES + 4096);
  return wat(`(module
    (memory (export "memory") 3)
    (global (export "__heap_base") i32 (i32.const 1024))
    (data (i32.const 4096) "${filler}")
    (func (export "run") (param $ptr i32) (param $len i32) (result i64)
      (i64.or (i64.extend_i32_u (local.get $ptr)) (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)))))`);
}

test.serial('a module too large to compile at once is not primed: its jobs populate as before', async (t) => {
  const { populated, inspect } = assignRecorder();
  const { host, cacheDir } = await startScheduler(t, { executeWorkers: 2, isolation: 'job', inspect });
  const artifact = await host.prepare(largeEcho());
  t.true(fs.statSync(host.cache.pathOf(artifact.key)).size > SYNC_COMPILE_BYTES, 'the artifact is above the bound');
  for (const input of ['one', 'two']) {
    t.is(text((await host.execute(artifact, Buffer.from(input))).output), input);
    await idleWorkers(host, 'execute', 2);
    await sparesHold(t, host, cacheDir, [undefined, undefined], 'no spare holds it');
  }
  t.deepEqual(populated, [false, false]);
});

/** One execute worker outside the pools, its dir on the host side. */
async function bareWorker(t: ExecutionContext, host: Host, cacheDir: string): Promise<{ worker: WorkerProcess; hostDir: string }> {
  const hostDir = await createWorkerDir(cacheDir, 'execute');
  const worker = await WorkerProcess.spawn({ info: host.workerInfo('execute', 'primed', hostDir), hostDir, cwd: path.dirname(hostDir) });
  t.teardown(() => worker.kill());
  return { worker, hostDir };
}

async function executeCopy(host: Host, worker: WorkerProcess, copy: number, input: Uint8Array): Promise<{ reply: ExecuteReply; output: Buffer }> {
  const limits = host.options.limits;
  const header: ExecuteRequest = { abi: 'run', limits: executeLimitsOf(limits), cpuTimeLimitMs: limits.executeTimeoutMs, fuel: limits.maxFuel, artifactCopy: copy };
  const frame = await worker.request(MessageType.Execute, header, input, {
    timeoutMs: 30_000,
    expect: MessageType.ExecuteResult,
    maxBody: header.limits.maxOutputBytes + header.limits.maxLogBytes + 1024,
  });
  const reply = frame.header as ExecuteReply;
  return { reply, output: Buffer.from(frame.body.subarray(0, reply.ok ? reply.outputBytes : 0)) };
}

/** Prime, then two round trips: the worker loads what a Prime names before it reads the second Ping. */
async function prime(host: Host, worker: WorkerProcess, copy: number): Promise<void> {
  worker.send(MessageType.Prime, 0, { artifactCopy: copy, maxMemoryPages: host.options.limits.maxMemoryPages } satisfies PrimeRequest);
  await worker.ping();
  await worker.ping();
}

test.serial('a primed worker has its copy open and loaded: the job runs from it, a copy changed after the Prime is refused', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const helloArtifact = await host.prepare(hello.wasm);
  const upperArtifact = await host.prepare(upper.wasm);
  const { worker, hostDir } = await bareWorker(t, host, cacheDir);
  const file = path.join(hostDir, 'artifact');
  // A first job: the worker's warm-up is over.
  await copyArtifact(hostDir, host.cache.pathOf(helloArtifact.key));
  t.is((await executeCopy(host, worker, 1, Buffer.from('warm'))).output.toString(), 'Hello, warm!');

  // Primed with another copy, then the file unlinked: the job reads the copy the Prime opened.
  fs.unlinkSync(file);
  await copyArtifact(hostDir, host.cache.pathOf(upperArtifact.key));
  await prime(host, worker, 2);
  fs.unlinkSync(file);
  const primed = await executeCopy(host, worker, 2, upper.input);
  t.true(primed.reply.ok, JSON.stringify(primed.reply));
  t.true(primed.output.equals(upper.expected), 'the primed copy ran');

  // Without a Prime, the same unlinked dir: the job cannot read an artifact.
  const unprimed = await executeCopy(host, worker, 3, Buffer.from('x'));
  t.false(unprimed.reply.ok);
  if (!unprimed.reply.ok) t.is(unprimed.reply.failure.code, 'E_CORRUPTED_ARTIFACT');

  // Primed, then changed in place: the job reads the file as it is now and refuses it, never
  // running the module the Prime compiled from the old bytes.
  await copyArtifact(hostDir, host.cache.pathOf(helloArtifact.key));
  await prime(host, worker, 4);
  flipByte(file, -10);
  const changed = await executeCopy(host, worker, 4, Buffer.from('y'));
  t.false(changed.reply.ok, 'a changed copy does not run');
  if (!changed.reply.ok) t.is(changed.reply.failure.code, 'E_CORRUPTED_ARTIFACT');

  // A Prime of a corrupted copy fails quietly; its job meets the corruption, the worker serves on.
  fs.unlinkSync(file);
  fs.writeFileSync(file, Buffer.from('not an artifact'));
  await prime(host, worker, 5);
  const corrupted = await executeCopy(host, worker, 5, Buffer.from('z'));
  t.false(corrupted.reply.ok);
  if (!corrupted.reply.ok) t.is(corrupted.reply.failure.code, 'E_CORRUPTED_ARTIFACT');
  fs.unlinkSync(file);
  await copyArtifact(hostDir, host.cache.pathOf(helloArtifact.key));
  t.is((await executeCopy(host, worker, 6, Buffer.from('again'))).output.toString(), 'Hello, again!');
});

test.serial('a prepare worker sent a Prime ends with E_PROTOCOL: only execute workers are primed', async (t) => {
  const { host, cacheDir } = await startScheduler(t);
  const hostDir = await createWorkerDir(cacheDir, 'prepare');
  const worker = await WorkerProcess.spawn({ info: host.workerInfo('prepare', 'primed-prepare', hostDir), hostDir, cwd: path.dirname(hostDir) });
  t.teardown(() => worker.kill());
  worker.send(MessageType.Prime, 0, { artifactCopy: 1, maxMemoryPages: 16 } satisfies PrimeRequest);
  const exit = await worker.exited;
  t.is(exit.error.code, 'E_PROTOCOL');
  t.regex(exit.error.message, /a prepare worker takes no Prime/);
});
