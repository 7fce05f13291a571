/**
 * The host's two pools, wired: the supervisor's policy, the host events each pool's workers
 * raise, and the `inspect` option as the machine actors get it.
 */
import createDebug from 'debug';
import type { InspectionEvent, StateValue } from 'xstate';
import { Pool, type PoolEvents } from '../actors/pool.js';
import { workerStateName } from '../actors/poolWorker.js';
import type { WorkerProcess } from '../actors/workerProcess.js';
import type { ResolvedHostOptions, XStateInspector } from '../options.js';
import type { WorkerKind } from '../protocol/messages.js';
import type { EventSink } from './emitter.js';
import type { PoolSummary, QueueSizes, WorkerSummary } from './types.js';

const debug = createDebug('warden:host');

/** How a supervisor respawns, and when a pool counts as crash-looping (a fresh object per pool). */
const supervisorPolicy = () => ({
  backoff: { initialMs: 100, maxMs: 5_000, factor: 2 },
  crashLoop: { maxFailures: 5, windowMs: 10_000 },
  cooldownMs: 10_000,
});

/** The prepare and execute pools of a host, spawning through `spawn`. */
export function createPools(
  options: ResolvedHostOptions,
  spawn: (kind: WorkerKind, id: string) => Promise<WorkerProcess>,
  sink: EventSink,
): Record<WorkerKind, Pool> {
  const inspect = guardedInspector(options.inspect);
  const pool = (kind: WorkerKind, size: number): Pool =>
    new Pool({
      kind,
      size,
      maxQueue: options.maxQueue,
      spareMemoryBytes: options.spareMemoryMb * 1024 * 1024,
      supervisor: supervisorPolicy(),
      spawn,
      events: poolEvents(kind, sink),
      inspect,
    });
  return { prepare: pool('prepare', options.prepareWorkers), execute: pool('execute', options.executeWorkers) };
}

/** Jobs waiting per pool and priority. */
export function queueSizesOf(pools: Record<WorkerKind, Pool>): QueueSizes {
  return { prepare: pools.prepare.queue.sizes(), execute: pools.execute.queue.sizes() };
}

/** The workers of both pools and the state each is in. */
export function workerSummaries(pools: Record<WorkerKind, Pool>): WorkerSummary[] {
  return Object.values(pools).flatMap((pool) =>
    [...pool.workers.values()].map((w) => ({
      id: w.id,
      kind: w.kind,
      state: w.state,
      pid: w.process?.sandboxPid,
      jobId: w.job?.id,
      jobsCompleted: w.actor.getSnapshot().context.jobsCompleted,
      artifactKey: w.heldArtifact,
    })),
  );
}

/** Each pool's supervisor state (an XState state value) and whether the pool is degraded. */
export function poolSummaries(pools: Record<WorkerKind, Pool>): PoolSummary[] {
  return Object.values(pools).map((pool) => ({ kind: pool.kind, state: pool.supervisor.getSnapshot().value, degraded: pool.degraded }));
}

/** A pool's events as host events. */
function poolEvents(kind: WorkerKind, sink: EventSink): PoolEvents {
  return {
    workerSpawned: (w) => sink.emitSafely('worker:spawned', { id: w.id, kind, pid: w.process?.sandboxPid }),
    // Two per job on the hot path (more when a dir must be populated, collected or cleared): named and emitted only when someone listens.
    workerState: (w, value: StateValue) => {
      if (sink.listenerCount('worker:state') > 0) sink.emitSafely('worker:state', { id: w.id, kind, state: workerStateName(value) });
    },
    workerExited: (w, output) =>
      sink.emitSafely('worker:exited', { id: w.id, kind, reason: output.failure.reason, message: output.failure.message, jobsCompleted: output.jobsCompleted }),
    degraded: (k, recentFailures, lastFailure) => sink.emitSafely('pool:degraded', { kind: k, recentFailures, lastFailure }),
    recovered: (k) => sink.emitSafely('pool:recovered', { kind: k }),
  };
}

/**
 * The `inspect` option as the machine actors get it: XState calls an inspector inside
 * `createActor` and `send`, so one that throws would break createHost or a worker; like a
 * throwing event listener, it is logged and ignored.
 */
function guardedInspector(inspector: XStateInspector | undefined): XStateInspector | undefined {
  if (inspector === undefined) return undefined;
  const next = typeof inspector === 'function' ? inspector : (event: InspectionEvent) => inspector.next?.(event);
  return (event) => {
    try {
      next(event);
    } catch (error) {
      debug('the inspect option threw: %o', error);
    }
  };
}
