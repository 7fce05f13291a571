import fsp from 'node:fs/promises';
import crypto from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import createDebug from 'debug';
import { CacheLock } from './actors/cacheLock.js';
import { WorkerProcess } from './actors/workerProcess.js';
import { HostClosedError } from './errors.js';
import { resolveHostOptions, type HostOptions, type ResolvedHostOptions } from './options.js';
import type { WorkerInfo, WorkerKind } from './protocol/messages.js';
import { SANDBOX_WORKER_DIR } from './sandbox/paths.js';
import { checkSecurity, enforceSecurity, type FeatureStatus, type SecurityStatus } from './sandbox/security.js';
import { createWorkerDir, purgeStaleWorkerDirs, removeWorkerDir } from './sandbox/workerDir.js';

const debug = createDebug('warden:host');

/** The host's typed events. */
export type HostEvents = {
  /** Once per missing sandbox layer per host, when started with `allowInsecure`. */
  'security:warning': [FeatureStatus];
  'worker:spawned': [{ id: string; kind: WorkerKind }];
  'worker:exited': [{ id: string; kind: WorkerKind; code: number | null; signal: string | null; cause: string }];
};

/** A running warden host: the sandbox checked, the cache dir locked. */
export class Host extends EventEmitter<HostEvents> {
  readonly securityStatus: SecurityStatus;
  readonly options: ResolvedHostOptions;
  #lock: CacheLock;
  #workers = new Set<WorkerProcess>();
  #closing: Promise<void> | undefined;

  /** @internal use `createHost` */
  constructor(options: ResolvedHostOptions, status: SecurityStatus, lock: CacheLock) {
    super();
    this.options = options;
    this.securityStatus = status;
    this.#lock = lock;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Spawns one sandboxed worker with its own worker dir and waits for its handshake.
   * The dir is removed when the worker dies. @internal (the scheduler owns workers)
   */
  async spawnWorker(kind: WorkerKind): Promise<WorkerProcess> {
    if (this.#closing) throw new HostClosedError('the host is closed');
    const hostDir = await createWorkerDir(this.options.cacheDir, kind);
    const info: WorkerInfo = {
      kind,
      id: `${kind}-${crypto.randomBytes(4).toString('hex')}`,
      // Without a new root the worker sees its dir at the host path (Landlock still confines it).
      dir: this.securityStatus.layers.pivotRoot ? SANDBOX_WORKER_DIR : hostDir,
      limits: this.options.limits,
      layers: this.securityStatus.layers,
    };
    let worker: WorkerProcess;
    try {
      worker = await WorkerProcess.spawn({
        info,
        hostDir,
        cwd: this.options.cacheDir,
        handshakeTimeoutMs: this.options.handshakeTimeoutMs,
      });
    } catch (error) {
      await removeWorkerDir(hostDir);
      throw error;
    }
    this.#workers.add(worker);
    this.emit('worker:spawned', { id: info.id, kind });
    void worker.exited.then(async (exit) => {
      this.#workers.delete(worker);
      await removeWorkerDir(hostDir);
      this.emit('worker:exited', { id: info.id, kind, code: exit.code, signal: exit.signal, cause: exit.error.code });
    });
    return worker;
  }

  /** Stops every worker, removes their dirs and releases the cache dir. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#workers].map(async (worker) => {
        await worker.kill();
        await removeWorkerDir(worker.hostDir);
      }));
      this.#lock.release();
      debug('host closed');
    })();
    return this.#closing;
  }
}

/**
 * Starts a host: validates the options, locks the cache dir, purges stale worker dirs and
 * checks the sandbox once (all checks in parallel, from inside the cache dir).
 * Throws `E_SANDBOX_UNAVAILABLE` when a layer is missing, unless `allowInsecure` is set.
 *
 * @example
 * const host = await createHost({ cacheDir: '/var/cache/my-app/warden' });
 * console.log(host.securityStatus.secure);
 * await host.close();
 */
export async function createHost(options: HostOptions = {}): Promise<Host> {
  const resolved = resolveHostOptions(options);
  await fsp.mkdir(resolved.cacheDir, { recursive: true, mode: 0o700 });
  const lock = CacheLock.acquire(resolved.cacheDir);
  try {
    const [status, purged] = await Promise.all([checkSecurity(resolved.cacheDir), purgeStaleWorkerDirs(resolved.cacheDir)]);
    if (purged.length > 0) debug('purged %d stale worker dirs', purged.length);
    const missing = enforceSecurity(status, resolved.allowInsecure);
    const host = new Host(resolved, status, lock);
    for (const feature of missing) {
      // Once per missing feature per host: on the emitter and as a process warning.
      process.emitWarning(`warden: sandbox layer "${feature.feature}" is unavailable (${feature.detail}); fix: ${feature.fix}`, {
        code: 'WARDEN_INSECURE',
      });
      setImmediate(() => host.emit('security:warning', feature));
    }
    return host;
  } catch (error) {
    lock.release();
    throw error;
  }
}
