/**
 * A host's close, in its one order: let the jobs finish (or cancel them), stop the workers,
 * flush the cache, release the lock, end the event iterators and close the servers.
 */
import createDebug from 'debug';
import type { ArtifactCache } from '../actors/artifactCache.js';
import type { CacheLock } from '../actors/cacheLock.js';
import type { Pool } from '../actors/pool.js';
import { HostClosedError } from '../errors.js';
import type { WorkerKind } from '../protocol/messages.js';
import type { HostInspectors } from './inspectors.js';
import type { Preparer } from './preparer.js';
import type { WorkerSpawner } from './spawner.js';
import type { CloseOptions } from './types.js';

const debug = createDebug('warden:host');

/** The parts of a host its close stops. */
export interface ShutdownParts {
  pools: Record<WorkerKind, Pick<Pool, 'idle' | 'stop'>>;
  spawner: Pick<WorkerSpawner, 'stop' | 'close'>;
  preparer: Pick<Preparer, 'recovering' | 'stop' | 'close'>;
  cache: Pick<ArtifactCache, 'flush'>;
  lock: Pick<CacheLock, 'release'>;
  inspectors: Pick<HostInspectors, 'closeAll'>;
}

/** Why: graceful or forced, escalated or repeated, a host closes once and in one order; the facade only asks whether it is closing. */
export class HostShutdown {
  readonly #parts: ShutdownParts;
  #closing: Promise<void> | undefined;
  #forced = false;
  #onForced!: () => void;
  #forcedSignal = new Promise<void>((resolve) => {
    this.#onForced = resolve;
  });
  /** prepare/execute calls not settled yet: a graceful close lets them finish. */
  #calls = new Set<Promise<unknown>>();
  /** Aborted once `close` has finished: event iterators end. */
  #closed = new AbortController();

  constructor(parts: ShutdownParts) {
    this.#parts = parts;
  }

  /** Whether `close` has been called. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** Aborted once `close` has finished. */
  get closedSignal(): AbortSignal {
    return this.#closed.signal;
  }

  /** Why: a graceful close waits for the caller's prepare/execute calls still under way. */
  track<T>(call: Promise<T>): Promise<T> {
    this.#calls.add(call);
    const forget = (): void => {
      this.#calls.delete(call);
    };
    call.then(forget, forget);
    return call;
  }

  /** Why: `Host.close`, see there; idempotent, and a forced call escalates a graceful one under way. */
  close(options: CloseOptions = {}): Promise<void> {
    const { pools, spawner, preparer, cache, lock, inspectors } = this.#parts;
    // A forced close after a graceful one escalates it: waiting jobs are cancelled now.
    if (options.force && this.#closing && !this.#forced) void this.#forceStop();
    this.#closing ??= (async () => {
      if (options.force) await this.#forceStop();
      // Graceful: until nothing waits, runs or is being recovered (a recovery resubmits).
      while (!this.#forced) {
        // A later close({ force: true }) ends the wait.
        await Promise.race([Promise.all(Object.values(pools).map((pool) => pool.idle())), this.#forcedSignal]);
        if (this.#forced) break;
        const recovering = preparer.recovering;
        if (recovering.size === 0 && this.#calls.size === 0) break;
        await Promise.all([...recovering, ...[...this.#calls].map((call) => call.catch(() => {}))]);
      }
      await this.#forceStop();
      try {
        await spawner.close();
        await cache.flush();
      } finally {
        // Even when a step failed (the cache could not be flushed): the lock, the event
        // iterators and the inspector servers must not keep the process alive.
        lock.release();
        debug('host closed');
        this.#closed.abort();
        await Promise.all([preparer.close(), inspectors.closeAll()]);
      }
    })();
    return this.#closing;
  }

  #forceStop(): Promise<void> {
    const { pools, spawner, preparer } = this.#parts;
    this.#forced = true;
    this.#onForced();
    spawner.stop();
    preparer.stop();
    const error = new HostClosedError('the host was closed');
    return Promise.all(Object.values(pools).map((pool) => pool.stop(error))).then(() => {});
  }
}
