/**
 * Idle memory of a sandboxed worker: VmRSS of its node process plus the launcher's monitor,
 * right after the handshake, once idle (an execute worker runs its jobs on its main thread: no
 * job thread starts), after one execute job, and after 200 more. PSS and USS are shown too: RSS
 * counts node's shared text in full for every worker, PSS shares it out.
 */
import { spawn } from 'node:child_process';
import type { BenchContext } from './context.js';
import { executeOn, expectHello } from './context.js';
import { add, procMemory, threadsSettled, type ProcMemory } from './procfs.js';
import { sleep } from './stats.js';

export const STATES = {
  handshake: 'right after the handshake',
  idle: 'idle (no job yet)',
  oneJob: 'after 1 execute job',
  manyJobs: 'after 200 more execute jobs',
} as const;

export const PEERS = {
  node: 'peer: idle `node` (no script work)',
  nodeThread: 'peer: idle `node` + 1 worker thread',
} as const;

export interface MemoryResult {
  /** Per state: the node process, the monitor, their sum — one sample per worker. */
  worker: Record<string, { node: ProcMemory[]; monitor: ProcMemory[]; total: ProcMemory[] }>;
  peers: Record<string, ProcMemory[]>;
}

async function idlePeer(ctx: BenchContext, script: string): Promise<ProcMemory> {
  const child = spawn(ctx.plan.node, [...ctx.plan.nodeFlags, '-e', script], { env: {}, stdio: 'ignore' });
  await sleep(300);
  await threadsSettled(child.pid);
  const memory = procMemory(child.pid);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  return memory;
}

export async function measureMemory(ctx: BenchContext, workers: number): Promise<MemoryResult> {
  const result: MemoryResult = {
    worker: Object.fromEntries(Object.values(STATES).map((s) => [s, { node: [], monitor: [], total: [] }])),
    peers: { [PEERS.node]: [], [PEERS.nodeThread]: [] },
  };
  const record = (state: string, nodePid: number | undefined, monitorPid: number | undefined) => {
    const node = procMemory(nodePid);
    const monitor = procMemory(monitorPid);
    const entry = result.worker[state]!;
    entry.node.push(node);
    entry.monitor.push(monitor);
    entry.total.push(add(node, monitor));
  };
  for (let i = 0; i < workers; i++) {
    const worker = await ctx.host.spawnWorker('execute');
    const nodePid = worker.sandboxPid;
    record(STATES.handshake, nodePid, worker.pid);
    await threadsSettled(nodePid);
    record(STATES.idle, nodePid, worker.pid);
    expectHello(await executeOn(ctx, worker), 'sandboxed worker');
    await sleep(300);
    record(STATES.oneJob, nodePid, worker.pid);
    for (let j = 0; j < 200; j++) await executeOn(ctx, worker);
    await sleep(300);
    record(STATES.manyJobs, nodePid, worker.pid);
    await worker.kill();

    result.peers[PEERS.node]!.push(await idlePeer(ctx, 'setInterval(() => {}, 1 << 30)'));
    result.peers[PEERS.nodeThread]!.push(
      await idlePeer(ctx, "new (require('node:worker_threads').Worker)('setInterval(() => {}, 1 << 30)', { eval: true }); setInterval(() => {}, 1 << 30)"),
    );
  }
  return result;
}
