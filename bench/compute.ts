/**
 * Row 5: a compute-heavy module, SHA-256 (AssemblyScript, examples/sha256) over 1 MiB, run by
 * warden on a warm pool against the same module run in this process with raw `WebAssembly`
 * (compiled once, a fresh instance per job, as warden does), one job at a time, interleaved.
 * Row 8 from the same rounds: the module as warden meters it (src/shared/meter), run raw in
 * this process, against the module as built: what fuel metering and the stack limit cost.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/sandbox/paths.js';
import { instrument } from '../src/shared/meter/instrument.js';
import { Meter } from '../src/worker/jobs/meter.js';
import { runMetered } from './meteredRun.js';
import type { BenchContext } from './context.js';
import { serial, serialRounds } from './latency.js';
import runTask from './piscinaTask.js';

export const SHA256_WASM = path.join(PACKAGE_ROOT, 'examples', 'build', 'sha256.wasm');
export const INPUT_BYTES = 1024 * 1024;

export const COMPUTE = {
  warden: 'warden pool (metered)',
  rawMetered: 'raw WebAssembly, metered, this process',
  child: 'raw WebAssembly, metered, a plain node child fed over a socket',
  raw: 'raw WebAssembly, unmetered, this process',
} as const;

export interface ComputeResult {
  /** Per case: every job's latency, ms. */
  latencies: Record<string, number[]>;
  /** Per case: the p50 of each round, ms. */
  roundP50: Record<string, number[]>;
  /** The job as warden's worker times it (its run on the main thread), ms. */
  inWorkerWallMs: number[];
  /** Fuel one job uses (the same every time). */
  fuelUsed: number;
  /** CPU time of each metered run in this process, ms: fuel per CPU ms holds on a loaded machine, fuel per wall ms does not. */
  meteredCpuMs: number[];
}

export async function measureCompute(ctx: BenchContext, options: { rounds: number; jobs: number }): Promise<ComputeResult> {
  const wasm = new Uint8Array(fs.readFileSync(SHA256_WASM));
  const input = crypto.randomBytes(INPUT_BYTES);
  const expected = crypto.createHash('sha256').update(input).digest('hex');
  const artifact = await ctx.host.prepare(wasm);
  const metered = new WebAssembly.Module(instrument(wasm));
  let fuelUsed = 0;
  const meteredCpuMs: number[] = [];
  const inWorkerWallMs: number[] = [];
  const check = (output: Uint8Array, who: string) => {
    const digest = Buffer.from(output).toString();
    if (digest !== expected) throw new Error(`${who} computed sha256 ${digest}, expected ${expected}`);
  };
  const child = await computeChild();
  const cases: Record<string, () => Promise<void>> = {
    [COMPUTE.warden]: async () => {
      const result = await ctx.host.execute(artifact, input);
      inWorkerWallMs.push(result.wallTimeMs);
      check(result.output, 'warden');
    },
    [COMPUTE.rawMetered]: async () => {
      const cpu = process.cpuUsage();
      const result = runMetered(metered, input);
      const used = process.cpuUsage(cpu);
      meteredCpuMs.push((used.user + used.system) / 1000);
      fuelUsed = result.fuelUsed;
      check(result.output, 'raw WebAssembly, metered');
    },
    [COMPUTE.raw]: async () => check(await runTask({ wasm, input, cached: true }), 'raw WebAssembly'),
    [COMPUTE.child]: async () => check(await child.run(input), 'the plain node child'),
  };
  try {
    for (const job of Object.values(cases)) await serial(5, job);
    inWorkerWallMs.length = 0;
    meteredCpuMs.length = 0;
    const { latencies, roundP50 } = await serialRounds(cases, { ...options, progress: 'row 5 compute' });
    return { latencies, roundP50, inWorkerWallMs, fuelUsed, meteredCpuMs };
  } finally {
    child.close();
  }
}

/**
 * The process floor (bench/computeChild.ts): a plain node child, started once, that runs the
 * metered module on each input sent to it. The input is written as is (no copy here).
 */
async function computeChild(): Promise<{ run(input: Uint8Array): Promise<Uint8Array>; close(): void }> {
  const script = path.join(PACKAGE_ROOT, 'bench', 'computeChild.ts');
  const child = spawn(process.execPath, [...process.execArgv, script, SHA256_WASM], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  const socket = child.stdio[3] as import('node:net').Socket;
  let waiting: ((output: Uint8Array) => void) | undefined;
  let got: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
    if (got.length < 4 || got.length < 4 + got.readUInt32LE(0)) return;
    const output = got.subarray(4, 4 + got.readUInt32LE(0));
    got = Buffer.alloc(0);
    waiting?.(output);
  });
  const run = (input: Uint8Array) =>
    new Promise<Uint8Array>((resolve) => {
      waiting = resolve;
      const head = Buffer.alloc(4);
      head.writeUInt32LE(input.byteLength);
      socket.cork();
      socket.write(head);
      socket.write(input);
      socket.uncork();
    });
  return { run, close: () => child.kill() };
}

/**
 * Fuel per CPU ms of the tightest loops (a branch, or a call to an empty function, per
 * iteration), where the metering check is most of the work: the slowest rate fuel is burnt at,
 * the one to size a fuel budget for a time bound by. The lower of the two, median of 3 runs.
 */
export function measureSpinFuel(): number {
  // (func $g) (func (export "f") <body>): one type, two functions.
  const loop = (body: number[]): Uint8Array => {
    const code = [2, 2, 0, 0x0b, body.length + 2, 0, ...body, 0x0b];
    return Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 3, 2, 0, 0, 7, 5, 1, 1, 0x66, 0, 1, 10, code.length, ...code]);
  };
  const rates: number[] = [];
  for (const body of [[0x03, 0x40, 0x0c, 0x00, 0x0b], [0x03, 0x40, 0x10, 0x00, 0x0c, 0x00, 0x0b]]) {
    const module = new WebAssembly.Module(instrument(loop(body)));
    const runs: number[] = [];
    for (let n = 0; n < 3; n++) {
      const instance = new WebAssembly.Instance(module, {});
      const fuel = 300_000_000;
      const meter = new Meter(fuel, 1000);
      meter.attach(instance.exports);
      const cpu = process.cpuUsage();
      try {
        (instance.exports.f as () => void)();
      } catch {
        // out of fuel: the point
      }
      const used = process.cpuUsage(cpu);
      if (!meter.outOfFuel) throw new Error('the spin loop did not run out of fuel');
      runs.push(fuel / ((used.user + used.system) / 1000));
    }
    rates.push(runs.sort((a, b) => a - b)[1]!);
  }
  return Math.min(...rates);
}
