import type { EventsOptions, HostEventRecord } from '../events.js';
import type { PoolSummary, QueueSizes, WorkerSummary } from '../host/types.js';
import type { SecurityStatus } from '../sandbox/security.js';

/**
 * What the inspector reads from a host: its live picture, metrics and events. An interface,
 * not the `Host` class, which starts the inspector: no import cycle through the facade.
 */
export interface InspectedHost {
  readonly closed: boolean;
  readonly securityStatus: SecurityStatus;
  workers(): WorkerSummary[];
  pools(): PoolSummary[];
  queueSizes(): QueueSizes;
  metrics(): Promise<string>;
  readonly metricsContentType: string;
  events(options?: EventsOptions): AsyncIterableIterator<HostEventRecord>;
}
