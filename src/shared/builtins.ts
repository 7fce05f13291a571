/**
 * Node's built-in modules that a worker needs only on some paths, loaded on first use. A worker
 * process starts from one bundle whose imports all load before its first line runs: loading
 * `node:crypto` there costs ~3 ms, `node:v8` ~3 ms, `node:worker_threads` ~1 ms, paid before
 * Ready by every fresh worker (each one-job process) though an execute worker needs crypto only
 * for a WASI program's random bytes (or an artifact's checksum where the addon is not loaded,
 * src/shared/artifact.ts), and the other two never (they serve a prepare worker's job thread).
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** A getter of the built-in module `name`, which loads it on its first call. */
function builtin<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load(name) as T);
}

export const nodeCrypto = builtin<typeof import('node:crypto')>('node:crypto');
export const nodeV8 = builtin<typeof import('node:v8')>('node:v8');
export const nodeWorkerThreads = builtin<typeof import('node:worker_threads')>('node:worker_threads');
