/**
 * The job thread's code cache (scripts/codeCache.mjs, loaded by scripts/jobThreadLoader.cjs):
 * the one the build made is accepted by a thread started as the runner starts it, and a thread
 * whose cache is corrupt, truncated, stale or missing compiles from source and still runs jobs.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PACKAGE_ROOT, OPTIONAL_WORKER_FILES, WORKER_FILES } from '../../src/sandbox/paths.js';
import { runtimeBinds } from '../../src/sandbox/runtime.js';
import { NODE_FLAGS } from '../../src/sandbox/launcher.js';
import { DEFAULT_LIMITS } from '../../src/options.js';

const exec = promisify(execFile);
const dist = (file: string) => path.join(PACKAGE_ROOT, file);

/**
 * Starts the loader in a thread with the runner's resource limits, reads which cache it used
 * and runs the warm-up job through the bundle (a prepare and an execute of a real module).
 */
async function startThread(loader: string): Promise<{ codeCache: string; warmUp: { ok: boolean; message?: string } }> {
  const probe = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { codeCache } = require(workerData.loader);
    const post = parentPort.postMessage.bind(parentPort);
    parentPort.postMessage = (reply) => post({ codeCache, warmUp: reply });
    parentPort.emit('message', { kind: 'warm-up' });
  `;
  const worker = new Worker(probe, {
    eval: true,
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: DEFAULT_LIMITS.jobHeapMb, stackSizeMb: DEFAULT_LIMITS.jobStackMb },
    workerData: { loader },
  });
  try {
    return await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  } finally {
    await worker.terminate();
  }
}

/** A copy of the loader and the bundle in a dir of their own, with `cache` as the cache (none: undefined). */
function copyWith(t: { teardown(fn: () => void): void }, cache: Uint8Array | undefined): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-code-cache-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const file of [WORKER_FILES.jobThread, WORKER_FILES.jobThreadBody]) fs.copyFileSync(dist(file), path.join(dir, path.basename(file)));
  if (cache) fs.writeFileSync(path.join(dir, path.basename(OPTIONAL_WORKER_FILES.jobThreadCache)), cache);
  return path.join(dir, path.basename(WORKER_FILES.jobThread));
}

test('the cache the build made is accepted, and the thread runs its warm-up job', async (t) => {
  const { codeCache, warmUp } = await startThread(dist(WORKER_FILES.jobThread));
  t.is(codeCache, 'accepted');
  t.true(warmUp.ok, warmUp.message);
});

test('a worker process with the worker node flags accepts it too', async (t) => {
  // The node flags a worker runs with (src/sandbox/launcher.ts) must not void the cache.
  const script = `
    const { Worker } = require('node:worker_threads');
    const probe = "const { parentPort, workerData } = require('node:worker_threads'); parentPort.postMessage(require(workerData).codeCache)";
    new Worker(probe, { eval: true, execArgv: [], workerData: ${JSON.stringify(dist(WORKER_FILES.jobThread))} }).once('message', (m) => { console.log(m); process.exit(0); });
  `;
  const { stdout } = await exec(process.execPath, [...NODE_FLAGS, '-e', script], { env: {} });
  t.is(stdout.trim(), 'accepted');
});

test('a corrupt, truncated or foreign cache is rejected and the thread compiles from source', async (t) => {
  const real = fs.readFileSync(dist(OPTIONAL_WORKER_FILES.jobThreadCache));
  const flipped = Buffer.from(real);
  for (let i = 0; i < 64; i++) flipped[i] = flipped[i]! ^ 0xff;
  const cases: Record<string, Uint8Array> = {
    garbage: Buffer.alloc(4096, 0x5a),
    truncated: real.subarray(0, real.length >> 1),
    'header flipped': flipped,
    empty: Buffer.alloc(0),
  };
  for (const [name, cache] of Object.entries(cases)) {
    const { codeCache, warmUp } = await startThread(copyWith(t, cache));
    t.is(codeCache, 'rejected', name);
    t.true(warmUp.ok, `${name}: ${warmUp.message}`);
  }
});

test('without a cache the thread compiles from source; the sandbox binds the cache the build made', async (t) => {
  const { codeCache, warmUp } = await startThread(copyWith(t, undefined));
  t.is(codeCache, 'absent');
  t.true(warmUp.ok, warmUp.message);
  // The build made it here, so the sandbox binds it, read-only like the bundles.
  const target = path.posix.join('/warden', OPTIONAL_WORKER_FILES.jobThreadCache);
  t.true(runtimeBinds().some((bind) => bind.target === target));
});
