import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ArtifactCache } from '../actors/artifactCache.js';
import { CacheLock } from '../actors/cacheLock.js';
import { createHost, type Host } from '../host.js';
import { defaultCacheDir, type HostLimits } from '../options.js';

/** The command was stopped by a signal: main exits 128 + its number, as a shell expects. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }

  get exitCode(): number {
    return 128 + (os.constants.signals[this.signal] ?? 0);
  }
}

/** The options every command shares, as parsed. */
export interface SessionOptions {
  cacheDir: string | undefined;
  allowInsecure: boolean | undefined;
  /** Execute workers of the host; default 1. */
  executeWorkers?: number;
  /** Limits of the host beyond the defaults (`warden run --fuel` above the default maxFuel). */
  limits?: Partial<HostLimits>;
}

/**
 * Runs `use` with a host of one prepare and one execute worker (a CLI runs one job: a bigger
 * pool would only slow startup; `warden batch` asks for more execute workers), and always
 * closes it, also on failure. The first SIGINT or SIGTERM force-closes the host, which
 * cancels the job and stops the workers, and the command ends with `InterruptedError`; a
 * second one exits at once (the launcher's parent-death signal still takes the workers down).
 */
export async function withHost<T>(options: SessionOptions, use: (host: Host) => Promise<T>): Promise<T> {
  let host: Host | undefined;
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) process.exit(new InterruptedError(signal).exitCode);
    interrupted = signal;
    void host?.close({ force: true });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    host = await createHost({
      ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
      allowInsecure: options.allowInsecure ?? false,
      prepareWorkers: 1,
      executeWorkers: options.executeWorkers ?? 1,
      ...(options.limits ? { limits: options.limits } : {}),
    });
    if (interrupted) throw new InterruptedError(interrupted);
    const result = await use(host);
    // A command that reports job failures itself (batch) still ends as interrupted.
    if (interrupted) throw new InterruptedError(interrupted);
    return result;
  } catch (error) {
    // After a signal the job fails with E_HOST_CLOSED (or its worker's death): report the signal.
    if (interrupted) throw new InterruptedError(interrupted);
    throw error;
  } finally {
    await host?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The absolute cache dir the options name, or the default one. */
export function cacheDirOf(options: SessionOptions): string {
  return path.resolve(options.cacheDir ?? defaultCacheDir());
}

/**
 * Runs `use` with the artifact cache opened directly, under the cache dir lock: what a host
 * does at startup minus the sandbox check and the workers, which listing or removing files
 * does not need. The lock keeps a running host (or another command) out meanwhile.
 */
export async function withCache<T>(options: SessionOptions, use: (cache: ArtifactCache) => Promise<T>): Promise<T> {
  const cacheDir = cacheDirOf(options);
  await fsp.mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const lock = CacheLock.acquire(cacheDir);
  try {
    // No size bound on open: the cache also uses it as the largest file it accepts, and
    // listing must not delete artifacts a host with a larger bound keeps (see docs/cli.md).
    const cache = await ArtifactCache.open(cacheDir, { maxBytes: Number.MAX_SAFE_INTEGER });
    try {
      return await use(cache);
    } finally {
      await cache.flush();
    }
  } finally {
    lock.release();
  }
}
