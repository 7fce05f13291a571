/**
 * Prometheus metrics of one host (prom-client), fed by the host's own events. Each host has a
 * registry of its own, never prom-client's global one: two hosts in a process must not clash,
 * and an application's registry is left alone (merge ours with `Registry.merge` if wanted).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AnyStateNode } from 'xstate';
import { PRIORITIES } from './actors/jobQueue.js';
import type { HostEvents, QueueSizes, WorkerSummary } from './host/types.js';
import { machineDefinitions } from './machines/index.js';
import type { WorkerFailureReason } from './machines/workerTypes.js';
import { JOB_ERROR_CODES } from './shared/jobError.js';

/** What the metrics read from the host: its events, queues and workers (not the `Host` class, which builds the metrics). */
export interface MetricsSource {
  on<K extends keyof HostEvents>(event: K, listener: (...args: HostEvents[K]) => void): unknown;
  queueSizes(): QueueSizes;
  workers(): WorkerSummary[];
}

/** Job times from 1 ms to a minute, in seconds (Prometheus' unit). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const MIB = 1024 * 1024;
/** Fuel from a thousand to a trillion units, a bucket per power of ten. */
const FUEL_BUCKETS = [1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12];

/** Resident memory from 16 MiB to 4 GiB. */
const MEMORY_BUCKETS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096].map((mib) => mib * MIB);

const KINDS = ['prepare', 'execute'] as const;

/** Why a worker's machine reaches `dead`: the reasons `worker:exited` carries. */
const DEATH_REASONS = ['spawn-failed', 'clear-failed', 'exited', 'killed', 'hard-timeout', 'retired'] as const satisfies readonly WorkerFailureReason[];

/**
 * The outcomes known in advance: success, what a job itself can end with, and what the host
 * ends a job with. Any other code still gets its series when it first occurs.
 */
const OUTCOMES = ['success', ...Object.keys(JOB_ERROR_CODES), 'E_WORKER_DIED', 'E_DEADLINE', 'E_HOST_CLOSED', 'E_POOL_DEGRADED'];

/** The worker machine's states as `host.workers()` names them: `idle`, `running.awaiting`. */
function workerStates(): string[] {
  const paths = (node: AnyStateNode, prefix: string): string[] =>
    Object.values(node.states as Record<string, AnyStateNode>).flatMap((child) => {
      const path = `${prefix}${child.key}`;
      return Object.keys(child.states).length > 0 ? paths(child, `${path}.`) : [path];
    });
  return paths(machineDefinitions().worker.root as AnyStateNode, '');
}

/**
 * Every label set known in advance, each at 0 from the start, as Prometheus' client
 * guidelines ask: a series that appears at its first increment loses that increment to
 * `rate()`, and a state no worker is in reads 0 instead of vanishing.
 */
function knownLabelSets() {
  const states = workerStates();
  return {
    kinds: KINDS.map((kind) => ({ kind })),
    workers: KINDS.flatMap((kind) => states.map((state) => ({ kind, state }))),
    deaths: KINDS.flatMap((kind) => DEATH_REASONS.map((reason) => ({ kind, reason }))),
    enqueued: KINDS.flatMap((kind) => PRIORITIES.map((priority) => ({ kind, priority }))),
    finished: KINDS.flatMap((kind) => OUTCOMES.map((outcome) => ({ kind, outcome }))),
  };
}

export class HostMetrics {
  readonly registry = new Registry();

  /** Creates the metrics and subscribes to `host`'s events; call before the host emits any. */
  constructor(host: MetricsSource) {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter({ name, help, labelNames, registers });
    const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]) =>
      new Histogram({ name, help, labelNames, buckets, registers });
    const workersSpawned = counter('warden_workers_spawned_total', 'Workers that completed their handshake, by pool', ['kind']);
    const workersDied = counter('warden_workers_died_total', 'Workers whose machine reached dead (failed spawns included), by pool and reason', ['kind', 'reason']);
    const jobsEnqueued = counter(
      'warden_jobs_enqueued_total',
      'Jobs that entered a queue (a retried or recovered job enters again), by pool and priority',
      ['kind', 'priority'],
    );
    const jobsFinished = counter('warden_jobs_finished_total', 'Jobs that finished for good, by pool and outcome (success or the error code)', ['kind', 'outcome']);
    const wallTime = histogram(
      'warden_job_duration_seconds',
      'Wall-clock time of successful jobs in their worker, by pool (prepare: preparation, execute: execution)',
      ['kind'],
      DURATION_BUCKETS,
    );
    const cpuTime = histogram('warden_job_cpu_seconds', 'CPU time of successful jobs in their worker, by pool', ['kind'], DURATION_BUCKETS);
    const peakMemory = histogram(
      'warden_job_peak_rss_bytes',
      'Peak resident memory of the worker process that ran a successful job, as it reported with its reply (getrusage maxrss): the job\'s own peak with isolation "job", the worker\'s peak so far otherwise',
      ['kind'],
      MEMORY_BUCKETS,
    );
    const fuelUsed = histogram(
      'warden_job_fuel_used',
      'Fuel used by execute jobs whose module ran, by outcome (success or the error code): the same for the same module, input and limits on any machine',
      ['outcome'],
      FUEL_BUCKETS,
    );
    const known = knownLabelSets();
    for (const labels of known.kinds) {
      workersSpawned.inc(labels, 0);
      for (const histogram of [wallTime, cpuTime, peakMemory]) histogram.zero(labels);
    }
    fuelUsed.zero({ outcome: 'success' });
    for (const labels of known.deaths) workersDied.inc(labels, 0);
    for (const labels of known.enqueued) jobsEnqueued.inc(labels, 0);
    for (const labels of known.finished) jobsFinished.inc(labels, 0);
    new Gauge({
      name: 'warden_queue_depth',
      help: 'Jobs waiting, by pool and priority',
      labelNames: ['kind', 'priority'] as const,
      registers,
      collect() {
        for (const [kind, sizes] of Object.entries(host.queueSizes())) {
          for (const [priority, size] of Object.entries(sizes)) this.set({ kind, priority }, size);
        }
      },
    });
    new Gauge({
      name: 'warden_workers',
      help: 'Workers of the pools, by pool and machine state',
      labelNames: ['kind', 'state'] as const,
      registers,
      collect() {
        // States no worker is in read 0, not their last count, and never vanish.
        this.reset();
        for (const labels of known.workers) this.set(labels, 0);
        for (const worker of host.workers()) this.inc({ kind: worker.kind, state: worker.state });
      },
    });

    host.on('worker:spawned', ({ kind }) => workersSpawned.inc({ kind }));
    host.on('worker:exited', ({ kind, reason }) => workersDied.inc({ kind, reason }));
    host.on('job:queued', ({ kind, priority }) => jobsEnqueued.inc({ kind, priority }));
    host.on('job:succeeded', ({ kind, wallTimeMs, cpuTimeMs, peakRssBytes, fuelUsed: fuel }) => {
      jobsFinished.inc({ kind, outcome: 'success' });
      wallTime.observe({ kind }, wallTimeMs / 1000);
      cpuTime.observe({ kind }, cpuTimeMs / 1000);
      peakMemory.observe({ kind }, peakRssBytes);
      if (fuel !== undefined) fuelUsed.observe({ outcome: 'success' }, fuel);
    });
    host.on('job:failed', ({ kind, code, fuelUsed: fuel }) => {
      jobsFinished.inc({ kind, outcome: code });
      if (fuel !== undefined) fuelUsed.observe({ outcome: code }, fuel);
    });
  }

  /** The metrics in Prometheus' text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
