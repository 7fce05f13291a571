/**
 * Producers cancel running jobs through Redis pub/sub: BullMQ removes a waiting job, but only
 * the node holding a running one can stop it. Each node subscribes to its queue's channel and
 * cancels the job if it runs it (BullMQ's `worker.cancelJob`, which fires the job's signal).
 */
export function cancelChannel(prefix: string, queueName: string): string {
  return `${prefix}:${queueName}:warden:cancel`;
}
