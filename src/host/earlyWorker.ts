/**
 * A cold host's first execute worker, started beside the security check instead of after it
 * (row 3: createHost → first job). It runs with every confinement layer the launcher has (new
 * root, user, pid and network namespaces, Landlock, both seccomp filters) and, where the
 * machine offers a cgroup place, in a cgroup of the host's: the strictest sandbox a worker of
 * this host can have. The host takes it only if the check then found exactly these layers, so
 * it is the worker the host would have spawned after the check; any other verdict kills it,
 * removes its dir and cgroups, and the host starts as before. On a machine where a layer is
 * missing the launcher fails at that step, and the early worker is simply not there.
 */
import path from 'node:path';
import createDebug from 'debug';
import type { WorkerProcess } from '../actors/workerProcess.js';
import { workerLimits, type ResolvedHostOptions } from '../options.js';
import type { SandboxLayers, WorkerInfo } from '../protocol/messages.js';
import { HostCgroups, findCgroupPlace, hostCgroupName, type CgroupPlace } from '../sandbox/cgroup.js';
import { SANDBOX_WORKER_DIR } from '../sandbox/paths.js';
import type { SecurityStatus } from '../sandbox/security.js';
import { discardWorker, spawnWorkerProcess } from './spawner.js';

const debug = createDebug('warden:host');

/** What the early worker was started with: the host takes it only if the check agrees on all of it. */
interface Assumed {
  layers: SandboxLayers;
  place: CgroupPlace | undefined;
}

export class EarlyWorker {
  readonly #assumed: Assumed;
  readonly #cgroups: HostCgroups | undefined;
  /** The worker once its handshake is done; undefined if it could not start (a layer missing, a failed spawn). */
  readonly #worker: Promise<WorkerProcess | undefined>;
  #taken = false;

  private constructor(assumed: Assumed, cgroups: HostCgroups | undefined, worker: Promise<WorkerProcess | undefined>) {
    this.#assumed = assumed;
    this.#cgroups = cgroups;
    this.#worker = worker;
  }

  /**
   * Starts the worker once `purged` (the startup's purge of stale worker dirs, which would remove
   * its dir) has settled. Never rejects: whatever fails leaves the host's usual path.
   */
  static async start(options: ResolvedHostOptions, purged: Promise<unknown>): Promise<EarlyWorker | undefined> {
    try {
      await purged;
    } catch {
      return undefined;
    }
    const found = options.cgroups ? findCgroupPlace() : undefined;
    const place = found && 'version' in found ? found : undefined;
    let cgroups: HostCgroups | undefined;
    if (place) {
      try {
        cgroups = await HostCgroups.open(place, hostCgroupName(options.cacheDir), options.limits.workersMemoryBytes);
      } catch (error) {
        debug('no early worker: cannot open the host cgroup: %s', (error as Error).message);
        return undefined;
      }
    }
    const layers: SandboxLayers = { userns: true, pivotRoot: true, netns: true, landlock: true, seccomp: true, cgroup: cgroups !== undefined };
    const worker = spawnEarly(options, layers, cgroups);
    return new EarlyWorker({ layers, place }, cgroups, worker);
  }

  /**
   * The worker and the host cgroups it runs in, if the check found exactly the layers (and the
   * cgroup place) it was started with; else undefined, after the worker, its dir and the
   * cgroups are gone. Call once.
   */
  async take(status: SecurityStatus): Promise<{ worker: Promise<WorkerProcess | undefined>; cgroups: HostCgroups | undefined } | undefined> {
    if (this.#taken) throw new Error('the early worker was taken already');
    this.#taken = true;
    if (this.#matches(status)) return { worker: this.#worker, cgroups: this.#cgroups };
    debug('early worker discarded: the check found layers %o', status.layers);
    await this.#discard();
    return undefined;
  }

  /** Kills the worker, removes its dir and the cgroups (the host did not start, or the check disagreed). */
  discard(): Promise<void> {
    if (this.#taken) return Promise.resolve();
    this.#taken = true;
    return this.#discard();
  }

  async #discard(): Promise<void> {
    const worker = await this.#worker;
    if (worker) await discardWorker(worker);
    await this.#cgroups?.close();
  }

  #matches(status: SecurityStatus): boolean {
    const { layers, place } = this.#assumed;
    const sameLayers = (Object.keys(layers) as (keyof SandboxLayers)[]).every((layer) => status.layers[layer] === layers[layer]);
    if (!sameLayers) return false;
    if (!layers.cgroup) return true;
    const checked = status.cgroups;
    return checked !== undefined && checked.version === place!.version && checked.parents.join('\n') === place!.parents.join('\n');
  }
}

/** The worker itself, made as the spawner makes one; undefined if it did not start. */
async function spawnEarly(options: ResolvedHostOptions, layers: SandboxLayers, cgroups: HostCgroups | undefined): Promise<WorkerProcess | undefined> {
  const info = (hostDir: string): WorkerInfo => ({
    kind: 'execute',
    id: `execute-early-${path.basename(hostDir).slice(-6)}`,
    dir: SANDBOX_WORKER_DIR,
    limits: workerLimits(options.limits),
    layers,
  });
  try {
    return await spawnWorkerProcess(options, 'execute', info, { cgroups });
  } catch (error) {
    // A layer this machine lacks (the launcher names the step), or a spawn that failed: the host spawns its own.
    debug('no early worker: %s', (error as Error).message);
    return undefined;
  }
}
