/**
 * What every part of the benchmark shares: one real host (sandbox checked, pools up), the
 * hello example prepared once, a worker dir for workers started by hand, and helpers to run
 * one execute job on one specific worker (as the pool does, without the pool).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host } from './warden.js';
import type { Artifact } from '../src/artifactHandle.js';
import type { WorkerProcess } from './warden.js';
import { MessageType, type ExecuteReply, type ExecuteRequest, type WorkerInfo } from '../src/protocol/messages.js';
import { executeLimitsOf } from '../src/options.js';
import { PACKAGE_ROOT } from '../src/sandbox/paths.js';
import { clearWorkerDir, createWorkerDir, copyArtifact } from '../src/sandbox/workerDir.js';
import { launchPlan, type LaunchPlan } from './sandbox.js';
import { sleep } from './stats.js';

/** Generated files (bundles, snapshots): gitignored, never committed. */
export const OUTPUT_DIR = path.join(PACKAGE_ROOT, '.bench-output');
export const HELLO_WASM = path.join(PACKAGE_ROOT, 'examples', 'build', 'hello.wasm');
export const HELLO_INPUT = Buffer.from('world');
export const HELLO_OUTPUT = 'Hello, world!';

export interface BenchContext {
  host: Host;
  cacheDir: string;
  helloWasm: Uint8Array;
  artifact: Artifact;
  /** A worker dir for execute workers started by hand, and their command line. */
  plan: LaunchPlan;
  /** The same worker, as it would run without the launcher (its dir at the host path). */
  unsandboxedInfo: WorkerInfo;
  /** One hello job for workers started by hand (the artifact stays linked in their dir). */
  manualJob: { header: ExecuteRequest; input: Uint8Array };
}

/** Waits until every pool worker has finished its handshake and is idle. */
export async function poolsIdle(host: Host, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const workers = host.workers();
    const expected = host.options.executeWorkers + host.options.prepareWorkers;
    if (workers.length === expected && workers.every((w) => w.state === 'idle')) return;
    await sleep(20);
  }
  throw new Error(`pool workers not idle after ${timeoutMs} ms: ${JSON.stringify(host.workers())}`);
}

export async function createContext(executeWorkers: number, options: { maxQueue?: number } = {}): Promise<BenchContext> {
  if (!fs.existsSync(HELLO_WASM)) throw new Error(`${HELLO_WASM} is missing: run \`npm run build\` first`);
  const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-'));
  const host = await createHost({ cacheDir, executeWorkers, prepareWorkers: 1, ...options });
  await poolsIdle(host);
  const helloWasm = new Uint8Array(fs.readFileSync(HELLO_WASM));
  const artifact = await host.prepare(helloWasm);
  const hostDir = await createWorkerDir(cacheDir, 'execute');
  // Workers started by hand only ever run the hello job: its artifact stays linked in their dir.
  await copyArtifact(hostDir, host.cache.pathOf(artifact.key));
  const limits = host.options.limits;
  const info = host.workerInfo('execute', 'bench-manual', hostDir);
  return {
    host,
    cacheDir,
    helloWasm,
    artifact,
    plan: launchPlan(info, hostDir, cacheDir),
    unsandboxedInfo: { ...info, dir: hostDir },
    manualJob: { header: { abi: 'run', limits: executeLimitsOf(limits), cpuTimeLimitMs: limits.executeTimeoutMs, fuel: limits.maxFuel }, input: HELLO_INPUT },
  };
}

export async function destroyContext(ctx: BenchContext): Promise<void> {
  await ctx.host.close({ force: true });
  await fsp.rm(ctx.cacheDir, { recursive: true, force: true });
}

/**
 * One execute job on a worker whose dir already holds the artifact, as the pool runs a job of
 * the artifact its worker ran last: the request and the reply, no dir work. Returns the output.
 */
export async function requestOn(ctx: BenchContext, worker: WorkerProcess, input: Uint8Array = HELLO_INPUT): Promise<string> {
  const limits = ctx.host.options.limits;
  const header: ExecuteRequest = { abi: 'run', limits: executeLimitsOf(limits), cpuTimeLimitMs: limits.executeTimeoutMs, fuel: limits.maxFuel };
  const maxBody = header.limits.maxOutputBytes + header.limits.maxLogBytes;
  const reply = await worker.request(MessageType.Execute, header, input, { timeoutMs: 10_000, expect: MessageType.ExecuteResult, maxBody });
  const result = reply.header as ExecuteReply;
  if (!result.ok) throw new Error(`execute failed on ${worker.info.id}: ${result.failure.code}: ${result.failure.message}`);
  return Buffer.from(reply.body.subarray(0, result.outputBytes)).toString('utf8');
}

/**
 * One execute job on one worker, as the pool runs it after an artifact change: copy the
 * artifact into the worker dir, send the request, check the reply, clear the dir. Returns the output.
 */
export async function executeOn(ctx: BenchContext, worker: WorkerProcess, input: Uint8Array = HELLO_INPUT): Promise<string> {
  await copyArtifact(worker.hostDir, ctx.host.cache.pathOf(ctx.artifact.key));
  try {
    return await requestOn(ctx, worker, input);
  } finally {
    await clearWorkerDir(worker.hostDir, 'execute');
  }
}

/** Fails loudly if a peer computed something else: a fast wrong answer is no result. */
export function expectHello(output: string, who: string): void {
  if (output !== HELLO_OUTPUT) throw new Error(`${who} answered ${JSON.stringify(output)}, expected ${JSON.stringify(HELLO_OUTPUT)}`);
}

