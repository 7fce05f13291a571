/**
 * The worker channel (src/actors/workerProcess.ts): the addon's socketpair, read straight into
 * frame bodies on both sides, and the pipe libuv makes where the addon is missing; a request's
 * write is reported ended even when its worker dies in the middle of it; a big input whose worker
 * dies while it is being written is sent again whole.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import test from 'ava';
import { WorkerProcess } from '../../src/actors/workerProcess.js';
import { executeLimitsOf } from '../../src/options.js';
import { MessageType, type ExecuteReply, type ExecuteRequest } from '../../src/protocol/messages.js';
import { copyArtifact, createWorkerDir } from '../../src/sandbox/workerDir.js';
import type { Host } from '../../src/host.js';
import type { Artifact } from '../../src/artifactHandle.js';
import { waitFor } from '../helpers/host.js';
import { pidOf, startScheduler } from '../helpers/scheduler.js';
import { CAT } from '../helpers/wasiCat.js';

const MiB = 1024 * 1024;

/** A worker of `host` with `artifact` in its dir, outside the pools. */
async function workerWith(t: import('ava').ExecutionContext, host: Host, cacheDir: string, artifact: Artifact, channel?: 'pipe'): Promise<WorkerProcess> {
  const hostDir = await createWorkerDir(cacheDir, 'execute');
  const worker = await WorkerProcess.spawn({ info: host.workerInfo('execute', `channel-${channel ?? 'socketpair'}`, hostDir), hostDir, cwd: path.dirname(hostDir), ...(channel ? { channel } : {}) });
  t.teardown(() => worker.kill());
  await copyArtifact(hostDir, host.cache.pathOf(artifact.key));
  return worker;
}

function catRequest(host: Host, input: Uint8Array): [ExecuteRequest, number] {
  const limits = host.options.limits;
  const header: ExecuteRequest = { abi: 'wasi', limits: executeLimitsOf(limits), cpuTimeLimitMs: limits.executeTimeoutMs, fuel: limits.maxFuel };
  return [header, header.limits.maxOutputBytes + header.limits.maxLogBytes + input.byteLength];
}

for (const channel of [undefined, 'pipe'] as const) {
  test.serial(`over ${channel ? "the pipe libuv makes (no addon)" : "the addon's socketpair"}, a 5 MiB input and its echo cross whole, and small frames around them`, async (t) => {
    t.timeout(60_000);
    const { host, cacheDir } = await startScheduler(t);
    const cat = await host.prepare(CAT);
    const worker = await workerWith(t, host, cacheDir, cat, channel);
    for (const input of [crypto.randomBytes(5 * MiB + 3), Buffer.from('small'), crypto.randomBytes(70_000)]) {
      const [header, maxBody] = catRequest(host, input);
      const reply = await worker.request(MessageType.Execute, header, input, { timeoutMs: 30_000, expect: MessageType.ExecuteResult, maxBody });
      const result = reply.header as ExecuteReply;
      t.true(result.ok, JSON.stringify(result));
      if (!result.ok) return;
      t.true(Buffer.from(reply.body.subarray(0, result.outputBytes)).equals(input), `${input.length} bytes back`);
    }
    t.true((await worker.ping()) >= 0);
  });
}

test.serial("a request's write is reported ended once written, and also when its worker dies with the write stuck", async (t) => {
  t.timeout(60_000);
  const { host, cacheDir } = await startScheduler(t);
  const cat = await host.prepare(CAT);
  const worker = await workerWith(t, host, cacheDir, cat);
  const small = Buffer.from('hello');
  let written = 0;
  const [header, maxBody] = catRequest(host, small);
  await worker.request(MessageType.Execute, header, small, { timeoutMs: 30_000, expect: MessageType.ExecuteResult, maxBody, onWritten: () => written++ });
  t.is(written, 1);

  // A stopped worker reads nothing: 24 MiB cannot all be queued in the socket.
  process.kill(worker.sandboxPid!, 'SIGSTOP');
  const big = crypto.randomBytes(24 * MiB);
  let bigWritten = 0;
  const [bigHeader, bigMax] = catRequest(host, big);
  const reply = worker.request(MessageType.Execute, bigHeader, big, { expect: MessageType.ExecuteResult, maxBody: bigMax, onWritten: () => bigWritten++ });
  reply.catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(bigWritten, 0, 'still being written: the input must not change');
  await worker.kill();
  await waitFor(() => bigWritten, (n) => n > 0, 5000);
  t.is(bigWritten, 1, 'the write ended with the worker');
  await t.throwsAsync(reply);
  let late = 0;
  await t.throwsAsync(worker.request(MessageType.Execute, header, small, { expect: MessageType.ExecuteResult, maxBody, onWritten: () => late++ }));
  t.is(late, 1, 'a request to an exited worker is written by no one, and says so');
});

test.serial('a big input whose worker dies while it is being written runs again whole, and the inputs queued behind it are their own', async (t) => {
  t.timeout(120_000);
  const { host } = await startScheduler(t, { executeWorkers: 1 });
  const cat = await host.prepare(CAT);
  await host.execute(cat, Buffer.from('warm'), { abi: 'wasi' });
  const first = crypto.randomBytes(12 * MiB);
  const behind = [crypto.randomBytes(12 * MiB), crypto.randomBytes(12 * MiB - 5)];
  let stopped: string | undefined;
  host.on('job:started', (e) => {
    if (e.kind !== 'execute' || stopped !== undefined) return;
    stopped = e.workerId;
    const pid = pidOf(host, e.workerId);
    process.kill(pid, 'SIGSTOP');
    setTimeout(() => process.kill(pid, 'SIGKILL'), 300);
  });
  const results = await Promise.all([first, ...behind].map((input) => host.execute(cat, input, { abi: 'wasi' })));
  t.truthy(stopped);
  t.is(results[0]!.attempts, 2, 'the job the worker died under ran again');
  t.not(results[0]!.workerId, stopped);
  [first, ...behind].forEach((input, i) => {
    const output = results[i]!.output;
    t.true(Buffer.from(output.buffer, output.byteOffset, output.byteLength).equals(input), `job ${i}: its own bytes back`);
  });
});
