import os from 'node:os';
import path from 'node:path';
import { InvalidOptionError } from './errors.js';
import type { WorkerLimits } from './protocol/messages.js';

/** Options of `createHost`; every one is optional. */
export interface HostOptions {
  /** Where artifacts and worker dirs live. Default: `$XDG_CACHE_HOME/warden` or `~/.cache/warden`. */
  cacheDir?: string;
  /** Start even when sandbox layers are missing (each is warned about once). Default: false. */
  allowInsecure?: boolean;
  /** Per-worker process limits. */
  limits?: Partial<WorkerLimits>;
  /** How long a worker may take from spawn to its handshake answer. Default: 10 000 ms. */
  handshakeTimeoutMs?: number;
}

export interface ResolvedHostOptions {
  cacheDir: string;
  allowInsecure: boolean;
  limits: WorkerLimits;
  handshakeTimeoutMs: number;
}

export const DEFAULT_LIMITS: WorkerLimits = {
  dataBytes: 4 * 1024 * 1024 * 1024,
  fileBytes: 256 * 1024 * 1024,
  openFiles: 128,
  jobHeapMb: 256,
  jobStackMb: 4,
};

/** The default cache dir, following the XDG base directory convention. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'warden');
}

function describe(value: unknown): string {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\` (${typeof value})`;
}

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(`Expected the \`${name}\` option to be a positive integer, got ${describe(value)}`, {
      details: { option: name },
    });
  }
  return value;
}

/** Validates every option at the boundary and merges the defaults once. */
export function resolveHostOptions(options: HostOptions = {}): ResolvedHostOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`Expected the options to be an object, got ${describe(options)}`);
  }
  const { cacheDir, allowInsecure, limits = {} } = options;
  if (cacheDir !== undefined && (typeof cacheDir !== 'string' || cacheDir.length === 0)) {
    throw new InvalidOptionError(`Expected the \`cacheDir\` option to be a non-empty string, got ${describe(cacheDir)}`, {
      details: { option: 'cacheDir' },
    });
  }
  if (allowInsecure !== undefined && typeof allowInsecure !== 'boolean') {
    throw new InvalidOptionError(`Expected the \`allowInsecure\` option to be a boolean, got ${describe(allowInsecure)}`, {
      details: { option: 'allowInsecure' },
    });
  }
  return {
    cacheDir: path.resolve(cacheDir ?? defaultCacheDir()),
    allowInsecure: allowInsecure ?? false,
    limits: {
      dataBytes: positiveInteger('limits.dataBytes', limits.dataBytes, DEFAULT_LIMITS.dataBytes),
      fileBytes: positiveInteger('limits.fileBytes', limits.fileBytes, DEFAULT_LIMITS.fileBytes),
      openFiles: positiveInteger('limits.openFiles', limits.openFiles, DEFAULT_LIMITS.openFiles),
      jobHeapMb: positiveInteger('limits.jobHeapMb', limits.jobHeapMb, DEFAULT_LIMITS.jobHeapMb),
      jobStackMb: positiveInteger('limits.jobStackMb', limits.jobStackMb, DEFAULT_LIMITS.jobStackMb),
    },
    handshakeTimeoutMs: positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, 10_000),
  };
}
