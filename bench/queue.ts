/**
 * Row 6: a flood of jobs queued at once (100,000 trivial hello jobs by default) on the warm pool:
 * the cost of each `host.execute` call, batch by batch as the queue grows (it should stay flat),
 * the memory each queued job holds, and the host's event-loop delay while the queue drains
 * (`perf_hooks.monitorEventLoopDelay`).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { HELLO_INPUT, expectHello, poolsIdle, type BenchContext } from './context.js';
import { since, sleep } from './stats.js';

export interface QueueResult {
  jobs: number;
  batchSize: number;
  /** Per batch of `batchSize` calls: µs per call. */
  enqueueUsPerJob: number[];
  /** Heap and RSS growth with every job queued, per job, bytes. */
  heapPerJob: number;
  rssPerJob: number;
  /** Event-loop delay while the queue drained, ms. */
  loopDelay: { p50: number; p99: number; max: number };
  drainJobsPerSecond: number;
}

/** The histogram's sampling timer; what it records is the time between its ticks, this included. */
const RESOLUTION_MS = 1;
const delayMs = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);

/** A full garbage collection, so that heap figures count live objects only. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

export async function measureQueue(ctx: BenchContext, options: { jobs: number; batchSize: number }): Promise<QueueResult> {
  const { host, artifact } = ctx;
  if (host.options.maxQueue < options.jobs) throw new Error(`the bench host's maxQueue (${host.options.maxQueue}) is below ${options.jobs}`);
  await poolsIdle(host);
  collectGarbage();
  const before = process.memoryUsage();
  const all: Promise<{ output: Uint8Array }>[] = [];
  const enqueueUsPerJob: number[] = [];
  // Every call queues synchronously (an Artifact needs no prepare); the workers start on the first
  // jobs as they go, but finish none before the loop yields.
  for (let queued = 0; queued < options.jobs; queued += options.batchSize) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < options.batchSize; i++) all.push(host.execute(artifact, HELLO_INPUT));
    enqueueUsPerJob.push((since(t0) * 1000) / options.batchSize);
  }
  collectGarbage();
  const after = process.memoryUsage();
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  const t0 = process.hrtime.bigint();
  const results = await Promise.all(all);
  const drainMs = since(t0);
  histogram.disable();
  expectHello(Buffer.from(results[results.length - 1]!.output).toString(), 'warden (last queued job)');
  if (results.some((r) => r.output.byteLength !== 13)) throw new Error('a queued job returned a wrong output');
  await sleep(200);
  return {
    jobs: options.jobs,
    batchSize: options.batchSize,
    enqueueUsPerJob,
    heapPerJob: (after.heapUsed - before.heapUsed) / options.jobs,
    rssPerJob: (after.rss - before.rss) / options.jobs,
    loopDelay: { p50: delayMs(histogram.percentile(50)), p99: delayMs(histogram.percentile(99)), max: delayMs(histogram.max) },
    drainJobsPerSecond: (options.jobs * 1000) / drainMs,
  };
}
