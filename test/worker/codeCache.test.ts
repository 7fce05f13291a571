/**
 * The code caches of the worker bundles (scripts/codeCache.mjs, loaded by
 * scripts/bundleLoader.cjs): the ones the build made are accepted by a job thread started as the
 * runner starts it and by a sandboxed worker process, and a thread or process whose cache is
 * corrupt, truncated, stale or missing compiles from source and still runs jobs.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PACKAGE_ROOT, OPTIONAL_WORKER_FILES, WORKER_FILES } from '../../src/sandbox/paths.js';
import { runtimeBinds } from '../../src/sandbox/runtime.js';
import { NODE_FLAGS } from '../../src/sandbox/launcher.js';
import { DEFAULT_LIMITS } from '../../src/options.js';
import { PREPARE_WORKER_V8_FLAGS } from '../../src/shared/v8Flags.js';
import type { ExecuteReply, ReadyHeader } from '../../src/protocol/messages.js';
import { startHost } from '../helpers/host.js';

const exec = promisify(execFile);

// Only a prepare worker starts a job thread, once it has set its V8 flags; this process does the same.
v8.setFlagsFromString(PREPARE_WORKER_V8_FLAGS);
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

test("a prepare worker's process, with the worker node flags, accepts it too; without the prepare worker's V8 flags V8 rejects it", async (t) => {
  // The node flags a worker runs with (src/sandbox/launcher.ts) must not void the cache; the V8
  // flags a prepare worker sets before its thread starts are the ones it was made under.
  const threadCache = async (v8Flags: string): Promise<string> => {
    const script = `
      require('node:v8').setFlagsFromString(${JSON.stringify(v8Flags)});
      const { Worker } = require('node:worker_threads');
      const probe = "const { parentPort, workerData } = require('node:worker_threads'); parentPort.postMessage(require(workerData).codeCache)";
      new Worker(probe, { eval: true, execArgv: [], workerData: ${JSON.stringify(dist(WORKER_FILES.jobThread))} }).once('message', (m) => { console.log(m); process.exit(0); });
    `;
    const { stdout } = await exec(process.execPath, [...NODE_FLAGS, '-e', script], { env: {} });
    return stdout.trim();
  };
  t.is(await threadCache(PREPARE_WORKER_V8_FLAGS), 'accepted');
  t.is(await threadCache('--wasm-lazy-compilation'), 'rejected');
});

/** Caches V8 must reject, made from the real one at `file`. */
function badCaches(file: string): Record<string, Uint8Array> {
  const real = fs.readFileSync(dist(file));
  const flipped = Buffer.from(real);
  for (let i = 0; i < 64; i++) flipped[i] = flipped[i]! ^ 0xff;
  return {
    garbage: Buffer.alloc(4096, 0x5a),
    truncated: real.subarray(0, real.length >> 1),
    'header flipped': flipped,
    empty: Buffer.alloc(0),
  };
}

test('a corrupt, truncated or foreign cache is rejected and the thread compiles from source', async (t) => {
  for (const [name, cache] of Object.entries(badCaches(OPTIONAL_WORKER_FILES.jobThreadCache))) {
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

test.serial('a sandboxed worker process, execute or prepare, compiles its bundle with the cache the build made', async (t) => {
  const { host } = await startHost(t);
  for (const kind of ['execute', 'prepare'] as const) {
    const worker = await host.spawnWorker(kind);
    t.is(worker.codeCache, 'accepted', kind);
    // The bound cache is the build's, read-only like the bundles.
    t.true(runtimeBinds().some((bind) => bind.target === path.posix.join('/warden', OPTIONAL_WORKER_FILES.entryCache)));
  }
});

/** Runs a copy of the worker process's entry (unsandboxed) with `cache` as its cache: its Ready and one job's reply. */
async function runProcessWith(t: { teardown(fn: () => void): void }, cache: Uint8Array | undefined): Promise<{ ready: ReadyHeader; result: ExecuteReply }> {
  // At the depth of dist/worker (build/x), so that the bundle's relative path to the addon holds.
  const dir = fs.mkdtempSync(path.join(PACKAGE_ROOT, 'build', 'code-cache-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const file of [WORKER_FILES.entry, WORKER_FILES.entryBody]) fs.copyFileSync(dist(file), path.join(dir, path.basename(file)));
  if (cache) fs.writeFileSync(path.join(dir, path.basename(OPTIONAL_WORKER_FILES.entryCache)), cache);
  const { runWorkerProcess } = (await import(new URL('../../scripts/codeCache.mjs', import.meta.url).href)) as {
    runWorkerProcess: (loader: string, options: { dist: string; artifact: Uint8Array }) => Promise<{ ready: ReadyHeader; result: ExecuteReply }>;
  };
  const { prepare } = await import('../../src/worker/jobs/prepare.js');
  const { WARM_UP_MODULE } = await import('../../src/worker/jobs/warmUpModule.js');
  const { DEFAULT_PREPARE_LIMITS } = await import('../../src/shared/limits.js');
  const { artifact } = prepare(WARM_UP_MODULE, DEFAULT_PREPARE_LIMITS, '0'.repeat(64));
  return runWorkerProcess(path.join(dir, path.basename(WORKER_FILES.entry)), { dist: dist('dist'), artifact });
}

test('a worker process whose cache is missing, corrupt, truncated or foreign compiles from source and runs its job', async (t) => {
  const cases: Record<string, Uint8Array | undefined> = { ...badCaches(OPTIONAL_WORKER_FILES.entryCache), missing: undefined };
  // The copy with the real cache is the control: the same files accept it.
  const control = await runProcessWith(t, fs.readFileSync(dist(OPTIONAL_WORKER_FILES.entryCache)));
  t.is(control.ready.codeCache, 'accepted');
  t.true(control.result.ok);
  for (const [name, cache] of Object.entries(cases)) {
    const { ready, result } = await runProcessWith(t, cache);
    t.is(ready.codeCache, cache === undefined ? 'absent' : 'rejected', name);
    t.true(result.ok, `${name}: ${result.ok ? '' : result.failure.message}`);
  }
});
