/**
 * Row 8 of the benchmark: the cost of going distributed. The same trivial job (hello) run by
 * `host.execute` in this process, by one `warden serve` node through BullMQ and a local Redis,
 * and by two nodes on the same queue (each configured as if it had this machine to itself).
 * Cases alternate in a shuffled order every round. Also counts what one job costs Redis
 * (INFO commandstats and the network byte counters around a batch), for docs/scaling.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { WardenQueue } from '../src/bullmq/index.js';
import { PACKAGE_ROOT } from '../src/sandbox/paths.js';
import { launchRedis } from '../test/helpers/redis.js';
import { HELLO_INPUT, HELLO_OUTPUT, type BenchContext } from './context.js';
import { shuffle, summarize } from './stats.js';

export const DIST = {
  direct: 'host.execute, this process',
  oneNode: 'one node, BullMQ + Redis',
  twoNodes: 'two nodes, BullMQ + Redis',
} as const;

type Case = (typeof DIST)[keyof typeof DIST];

export interface DistributedResult {
  /** Per case: each job's latency (submit → result), ms, one job at a time. */
  latencies: Record<Case, number[]>;
  /** Per case: the p50 of each round. */
  roundP50: Record<Case, number[]>;
  /** Per case: jobs/s of each round's batch. */
  throughput: Record<Case, number[]>;
  /** Redis per job, from a batch on the one-node queue (producer waiting for each result included). */
  redisPerJob: {
    commands: Record<string, number>;
    totalCommands: number;
    bytesIn: number;
    bytesOut: number;
    /** Redis' own CPU time (INFO cpu, user + sys) per job, µs. */
    cpuUs: number;
    jobs: number;
  };
  executeWorkersPerNode: number;
}

interface Node {
  child: ChildProcess;
  cacheDir: string;
}

async function startNode(url: string, queue: string, name: string, workers: number): Promise<Node> {
  const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), `warden-bench-${name}-`));
  const child = spawn(
    process.execPath,
    [path.join(PACKAGE_ROOT, 'dist/cli/main.js'), 'serve', '--redis', url, '--queue', queue, '--node', name, '--cache-dir', cacheDir, '--execute-workers', String(workers)],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } },
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (stdout.includes('warden serve:')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`node ${name} exited with ${code}: ${stderr}`)));
  });
  return { child, cacheDir };
}

async function stopNode(node: Node): Promise<void> {
  if (node.child.exitCode === null) {
    const exited = once(node.child, 'exit');
    node.child.kill('SIGTERM');
    await exited;
  }
  await fsp.rm(node.cacheDir, { recursive: true, force: true });
}

const median = (xs: number[]): number => summarize(xs).median;

/** `cmdstat_evalsha:calls=12,usec=...` lines → calls per command. */
function commandCalls(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2]);
  return calls;
}

function cpuSeconds(info: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

function statField(info: string, field: string): number {
  return Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
}

export async function measureDistributed(
  ctx: BenchContext,
  options: { rounds: number; latencyJobs: number; batchJobs: number; warmUpJobs: number },
): Promise<DistributedResult> {
  const workers = ctx.host.options.executeWorkers;
  const redis = await launchRedis();
  const nodes: Node[] = [];
  const queues: WardenQueue[] = [];
  const admin = new Redis(redis.url);
  try {
    nodes.push(...(await Promise.all([startNode(redis.url, 'one', 'one-a', workers), startNode(redis.url, 'two', 'two-a', workers), startNode(redis.url, 'two', 'two-b', workers)])));
    // Results are consumed here at once: BullMQ need not keep them.
    const one = new WardenQueue('one', { connection: redis.url });
    const two = new WardenQueue('two', { connection: redis.url });
    queues.push(one, two);
    const code = ctx.helloWasm;
    const run: Record<Case, () => Promise<string>> = {
      [DIST.direct]: async () => Buffer.from((await ctx.host.execute(ctx.artifact, HELLO_INPUT)).output).toString(),
      [DIST.oneNode]: async () => (await one.result(await one.submit(code, HELLO_INPUT))).output.toString(),
      [DIST.twoNodes]: async () => (await two.result(await two.submit(code, HELLO_INPUT))).output.toString(),
    };
    const batch: Record<Case, (n: number) => Promise<string[]>> = {
      [DIST.direct]: (n) => Promise.all(Array.from({ length: n }, () => run[DIST.direct]())),
      [DIST.oneNode]: (n) => Promise.all(Array.from({ length: n }, () => run[DIST.oneNode]())),
      [DIST.twoNodes]: (n) => Promise.all(Array.from({ length: n }, () => run[DIST.twoNodes]())),
    };
    const cases = Object.values(DIST);
    for (const name of cases) {
      const outputs = await batch[name](options.warmUpJobs);
      if (outputs.some((o) => o !== HELLO_OUTPUT)) throw new Error(`${name}: wrong output ${outputs.find((o) => o !== HELLO_OUTPUT)}`);
    }
    const latencies = Object.fromEntries(cases.map((c) => [c, [] as number[]])) as Record<Case, number[]>;
    const roundP50 = Object.fromEntries(cases.map((c) => [c, [] as number[]])) as Record<Case, number[]>;
    const throughput = Object.fromEntries(cases.map((c) => [c, [] as number[]])) as Record<Case, number[]>;
    for (let round = 0; round < options.rounds; round++) {
      for (const name of shuffle([...cases])) {
        const mine: number[] = [];
        for (let i = 0; i < options.latencyJobs; i++) {
          const start = performance.now();
          await run[name]();
          mine.push(performance.now() - start);
        }
        latencies[name].push(...mine);
        roundP50[name].push(median(mine));
        const start = performance.now();
        await batch[name](options.batchJobs);
        throughput[name].push(options.batchJobs / ((performance.now() - start) / 1000));
      }
    }
    // What a job costs Redis: everything the producer and the node send it, over a batch.
    await admin.config('SET', 'save', '');
    await admin.config('RESETSTAT');
    const before = await admin.info();
    const jobs = options.batchJobs;
    await batch[DIST.oneNode](jobs);
    const after = await admin.info();
    const commands = commandCalls(await admin.info('commandstats'));
    // The two INFO stats calls themselves and CONFIG RESETSTAT are ours, not the jobs'.
    const perJob = Object.fromEntries(
      Object.entries(commands)
        .filter(([name]) => !['info', 'config'].includes(name))
        .map(([name, calls]) => [name, calls / jobs]),
    );
    const redisPerJob = {
      commands: perJob,
      totalCommands: Object.values(perJob).reduce((a, b) => a + b, 0),
      bytesIn: (statField(after, 'total_net_input_bytes') - statField(before, 'total_net_input_bytes')) / jobs,
      bytesOut: (statField(after, 'total_net_output_bytes') - statField(before, 'total_net_output_bytes')) / jobs,
      cpuUs: ((cpuSeconds(after) - cpuSeconds(before)) * 1e6) / jobs,
      jobs,
    };
    return { latencies, roundP50, throughput, redisPerJob, executeWorkersPerNode: workers };
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    await Promise.all(nodes.map(stopNode));
    admin.disconnect();
    await redis.stop();
  }
}
