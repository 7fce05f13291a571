/**
 * What a host needs before its first worker: the cache dir locked, stale worker dirs purged,
 * the artifact cache open and the sandbox checked (in parallel, from inside the cache dir),
 * the sandbox enforced, the host's cgroup made.
 */
import fsp from 'node:fs/promises';
import createDebug from 'debug';
import { ArtifactCache } from '../actors/artifactCache.js';
import { CacheLock } from '../actors/cacheLock.js';
import type { ResolvedHostOptions } from '../options.js';
import type { HostCgroups } from '../sandbox/cgroup.js';
import { checkSecurity, enforceSecurity, type SecurityStatus } from '../sandbox/security.js';
import { purgeStaleWorkerDirs } from '../sandbox/workerDir.js';
import type { WorkerProcess } from '../actors/workerProcess.js';
import { EarlyWorker } from './earlyWorker.js';
import type { EventSink } from './emitter.js';
import { announceSecurity } from './securityNotice.js';
import { openHostCgroups } from './spawner.js';

const debug = createDebug('warden:host');

/** What a host is built from. */
export interface HostParts {
  status: SecurityStatus;
  lock: CacheLock;
  cache: ArtifactCache;
  cgroups: HostCgroups | undefined;
  /** The first execute worker, booted beside the check and taken because the check agrees (`EarlyWorker`). */
  early?: Promise<WorkerProcess | undefined>;
}

/**
 * Why: every check runs once and before any worker, and a host that does not start leaves
 * neither the cache dir locked nor a cgroup behind. `build` makes the host from its parts.
 */
export async function startHost<H extends EventSink>(options: ResolvedHostOptions, build: (parts: HostParts) => H): Promise<H> {
  await fsp.mkdir(options.cacheDir, { recursive: true, mode: 0o700 });
  const lock = CacheLock.acquire(options.cacheDir);
  const purging = purgeStaleWorkerDirs(options.cacheDir);
  // The first execute worker boots beside the check; the host takes it if the check agrees.
  const starting = EarlyWorker.start(options, purging);
  try {
    const [status, purged, cache] = await Promise.all([
      checkSecurity(options.cacheDir, { cgroups: options.cgroups }),
      purging,
      ArtifactCache.open(options.cacheDir, { maxBytes: options.cacheMaxBytes, maxArtifactBytes: options.limits.maxArtifactBytes }),
    ]);
    if (purged.length > 0) debug('purged %d stale worker dirs', purged.length);
    // Refused first: a host that does not start must leave no cgroup behind.
    enforceSecurity(status, options.allowInsecure);
    const early = await (await starting)?.take(status);
    const cgroups = early ? early.cgroups : await openHostCgroups(status, options);
    const host = build({ status, lock, cache, cgroups, early: early?.worker });
    announceSecurity(host, status);
    void cache.prune().catch((error: Error) => debug('prune failed: %s', error.message));
    return host;
  } catch (error) {
    await (await starting)?.discard();
    lock.release();
    throw error;
  }
}
