/**
 * The floor on this machine, what no design can beat: a unix socket round trip between two
 * processes (the host ↔ worker channel without the protocol), a worker_threads message round
 * trip (what piscina pays per task), a hard link + unlink (what the host does per execute job).
 * Plus warden's own ping on an idle worker: the protocol on top of the socket floor.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BenchContext } from './context.js';
import { clearWorkerDir, createWorkerDir, copyArtifact, removeWorkerDir } from '../src/sandbox/workerDir.js';
import { since } from './stats.js';

export const FLOORS = {
  unixSocket: 'unix socket round trip (1 byte, host ↔ child process)',
  workerThread: 'worker_threads message round trip',
  linkUnlink: 'hard link + unlink (fs.linkSync/unlinkSync, cache dir)',
  wardenPing: 'warden ping on an idle sandboxed worker (framed)',
  dirWork: "warden's dir work on an artifact change: await copyArtifact + clearWorkerDir",
} as const;

/** Round trips over fd 3 to a child node that echoes every byte back. */
async function unixSocketRtt(ctx: BenchContext, n: number): Promise<number[]> {
  const echo = "const s = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true }); s.on('data', (d) => s.write(d)); s.on('end', () => process.exit(0));";
  const child = spawn(ctx.plan.node, ['-e', echo], { env: {}, stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  const socket = child.stdio[3] as net.Socket;
  socket.setNoDelay?.(true);
  const samples: number[] = [];
  const one = (): Promise<number> =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      socket.once('data', () => resolve(since(t0)));
      socket.write('x');
    });
  for (let i = 0; i < n + 200; i++) {
    const rtt = await one();
    if (i >= 200) samples.push(rtt);
  }
  socket.end();
  await new Promise((resolve) => child.once('exit', resolve));
  return samples;
}

async function workerThreadRtt(n: number): Promise<number[]> {
  const worker = new Worker("require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));", {
    eval: true,
  });
  const samples: number[] = [];
  const one = (): Promise<number> =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      worker.once('message', () => resolve(since(t0)));
      worker.postMessage(1);
    });
  for (let i = 0; i < n + 200; i++) {
    const rtt = await one();
    if (i >= 200) samples.push(rtt);
  }
  await worker.terminate();
  return samples;
}

function linkUnlink(ctx: BenchContext, n: number): number[] {
  const source = ctx.host.cache.pathOf(ctx.artifact.key);
  const target = path.join(ctx.cacheDir, 'floor-link');
  const samples: number[] = [];
  for (let i = 0; i < n + 200; i++) {
    const t0 = process.hrtime.bigint();
    fs.linkSync(source, target);
    fs.unlinkSync(target);
    if (i >= 200) samples.push(since(t0));
  }
  return samples;
}

async function wardenPing(ctx: BenchContext, n: number): Promise<number[]> {
  const worker = await ctx.host.spawnWorker('execute');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const samples: number[] = [];
  for (let i = 0; i < n + 200; i++) {
    const rtt = await worker.ping();
    if (i >= 200) samples.push(rtt);
  }
  await worker.kill();
  return samples;
}

/** What the host does to a worker dir around every execute job, with its async fs calls. */
async function dirWork(ctx: BenchContext, n: number): Promise<number[]> {
  const dir = await createWorkerDir(ctx.cacheDir, 'execute');
  const artifact = ctx.host.cache.pathOf(ctx.artifact.key);
  const samples: number[] = [];
  for (let i = 0; i < n + 100; i++) {
    const t0 = process.hrtime.bigint();
    await copyArtifact(dir, artifact);
    await clearWorkerDir(dir, 'execute');
    if (i >= 100) samples.push(since(t0));
  }
  await removeWorkerDir(dir);
  return samples;
}

export async function measureFloor(ctx: BenchContext, n: number): Promise<Record<string, number[]>> {
  return {
    [FLOORS.unixSocket]: await unixSocketRtt(ctx, n),
    [FLOORS.workerThread]: await workerThreadRtt(n),
    [FLOORS.linkUnlink]: linkUnlink(ctx, n),
    [FLOORS.wardenPing]: await wardenPing(ctx, n),
    [FLOORS.dirWork]: await dirWork(ctx, Math.min(n, 2000)),
  };
}
