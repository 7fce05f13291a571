import { Counter, Gauge, type Registry } from 'prom-client';

/** A queue's jobs by state, as a node sees them. `waiting` includes prioritized jobs. */
export interface QueueCounts {
  waiting: number;
  delayed: number;
  active: number;
  completed: number;
  failed: number;
}

/** How a node's attempt at a job ended. */
export type NodeOutcome = 'completed' | 'failed' | 'retry' | 'returned' | 'cancelled';

/**
 * Adds a node's metrics to its host's registry, and the `node` and `queue` labels to every
 * metric of that registry (the host's own included), so that the scrapes of many nodes add up.
 */
export function registerNodeMetrics(registry: Registry, labels: { node: string; queue: string }, counts: () => Promise<QueueCounts>) {
  registry.setDefaultLabels(labels);
  const registers = [registry];
  const attempts = new Counter({
    name: 'warden_bullmq_attempts_total',
    help: 'Jobs of the queue this node ran, by how the attempt ended: completed, failed (for good), retry (BullMQ tries again), returned (to the queue at shutdown), cancelled (by its producer)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const recorded = new Counter({
    name: 'warden_bullmq_recorded_total',
    help: 'Results and failures BullMQ accepted from this node (an attempt whose lock was lost meanwhile is not recorded), by kind',
    labelNames: ['kind'] as const,
    registers,
  });
  new Gauge({
    name: 'warden_bullmq_queue_jobs',
    help: "Jobs of the node's queue in Redis, by state (waiting includes prioritized)",
    labelNames: ['state'] as const,
    registers,
    async collect() {
      for (const [state, count] of Object.entries(await counts())) this.set({ state }, count);
    },
  });
  return {
    attempt: (outcome: NodeOutcome) => attempts.inc({ outcome }),
    recorded: (kind: 'completed' | 'failed') => recorded.inc({ kind }),
  };
}
