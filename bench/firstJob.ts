/**
 * A fresh worker's first jobs (row 3, I1): the worker process's entry started as the host starts
 * it (its node flags, the channel on fd 3, an empty environment) but unsandboxed, its handshake,
 * then three hello jobs in a row, sent `delay` ms after Ready (0: at once, as a cold host does).
 * Prints Ready's time and each job's round trip with the worker's own wall time of the job: the
 * difference is what the worker does around its first job (its warm-up, first-use loading).
 * Run with node's `--cpu-prof` in NODE_FLAGS' place to see it in a profile.
 *
 * `npx tsx bench/firstJob.ts [delayMs] [rounds]`
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type net from 'node:net';
import { spawn } from 'node:child_process';
import { createHost } from './warden.js';
import { DEFAULT_LIMITS, workerLimits } from '../src/options.js';
import { FrameDecoder, encodeFrame, type Frame } from '../src/protocol/frame.js';
import { MessageType, PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { NODE_FLAGS } from '../src/sandbox/launcher.js';
import { DEFAULT_EXECUTE_LIMITS } from '../src/shared/limits.js';
import { HELLO_INPUT, HELLO_WASM } from './context.js';

const delay = Number(process.argv[2] ?? 0);
const rounds = Number(process.argv[3] ?? 4);
const entry = path.join(import.meta.dirname, '..', 'dist', 'worker', 'main.cjs');

// hello's artifact, as a host prepares it.
const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-firstjob-'));
const host = await createHost({ cacheDir });
const prepared = await host.prepare(new Uint8Array(fs.readFileSync(HELLO_WASM)));
const artifact = fs.readFileSync(host.cache.pathOf(prepared.key));
await host.close();
await fsp.rm(cacheDir, { recursive: true, force: true });

for (let round = 0; round < rounds; round++) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-firstjob-dir-'));
  fs.writeFileSync(path.join(dir, 'artifact'), artifact);
  const t0 = performance.now();
  const child = spawn(process.execPath, [...NODE_FLAGS, entry], { env: {}, stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  const channel = child.stdio[3] as net.Socket;
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let wake = (): void => {};
  channel.on('data', (chunk: Buffer) => {
    frames.push(...decoder.push(chunk));
    wake();
  });
  const reply = async (): Promise<Frame> => {
    while (frames.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return frames.shift()!;
  };
  const layers = { userns: false, pivotRoot: false, netns: false, landlock: false, seccomp: false, cgroup: false };
  channel.write(encodeFrame(MessageType.Hello, 1, { protocol: PROTOCOL_VERSION, info: { kind: 'execute', id: 'first-job', dir, limits: workerLimits(DEFAULT_LIMITS), layers } }));
  await reply();
  const ready = performance.now() - t0;
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  const jobs: string[] = [];
  for (let job = 0; job < 3; job++) {
    const start = performance.now();
    const request = { abi: 'run', limits: DEFAULT_EXECUTE_LIMITS, cpuTimeLimitMs: 10_000, fuel: DEFAULT_LIMITS.maxFuel, isolation: 'worker' };
    channel.write(encodeFrame(MessageType.Execute, 2 + job, request, HELLO_INPUT));
    const { header } = (await reply()) as { header: { ok: boolean; wallTimeMs: number } };
    if (!header.ok) throw new Error(`the job failed: ${JSON.stringify(header)}`);
    jobs.push(`${(performance.now() - start).toFixed(2)} ms (in the worker ${header.wallTimeMs.toFixed(2)})`);
  }
  console.log(`delay ${delay} ms: Ready after ${ready.toFixed(1)} ms; jobs ${jobs.join(', ')}`);
  child.kill('SIGKILL');
  await fsp.rm(dir, { recursive: true, force: true });
}
