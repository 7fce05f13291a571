// Makes the V8 code caches of the worker bundles that their entries, copies of
// scripts/bundleLoader.cjs, compile them with: dist/worker/main.cache (the worker process) and
// dist/worker/jobThread.cache (a prepare worker's job thread). Run by bundle.mjs at `npm run
// build`, with the node that builds, which is the node the host runs (a cache from another is
// rejected by V8, and the bundle compiles from source).
//
// Each is made after a warm-up job, not right after compiling: V8 compiles a function on its
// first call, and a cache holds what has been compiled by the time it is made, so the functions
// a job runs are in it. Each bundle runs as it does in a worker, with the V8 flags it has there:
// the process with the worker's node flags (NODE_FLAGS, none of them V8's), the thread under
// the flags a prepare worker sets before it starts its thread (src/shared/v8Flags.ts), which
// this process takes on for good (V8's flags are the process's; the build makes no wasm after).
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';

const MAKER = `
const { parentPort, workerData } = require('node:worker_threads');
const loader = require(workerData.loader);
// The bundle listens on parentPort: a warm-up task, as the runner sends first, through it.
const post = parentPort.postMessage.bind(parentPort);
parentPort.postMessage = (reply) => {
  parentPort.postMessage = post;
  if (!reply?.ok) throw new Error('warm-up failed: ' + String(reply?.message));
  post({ cache: loader.script.createCachedData() });
};
parentPort.emit('message', { kind: 'warm-up' });
`;

/**
 * Writes `cacheFile` for the job thread's loader at `loaderFile` (its bundle beside it); `dist` is
 * tsc's output (the prepare worker's V8 flags). Resolves to its size.
 */
export async function buildCodeCache(loaderFile, cacheFile, { dist }) {
  // The loader must compile from source here, not from an older cache.
  await fs.rm(cacheFile, { force: true });
  const { PREPARE_WORKER_V8_FLAGS } = await import(path.join(dist, 'shared/v8Flags.js'));
  v8.setFlagsFromString(PREPARE_WORKER_V8_FLAGS);
  const worker = new Worker(MAKER, { eval: true, workerData: { loader: loaderFile }, execArgv: [] });
  try {
    const cache = await new Promise((resolve, reject) => {
      worker.once('message', (message) => resolve(message.cache));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the code cache maker exited (${code}) before its reply`)));
    });
    await fs.writeFile(cacheFile, cache);
    return cache.byteLength;
  } finally {
    await worker.terminate();
  }
}

/**
 * Runs the worker process's entry `loaderFile` as a host would (the worker's node flags, the
 * channel on fd 3, the environment `env`), but unsandboxed and with no layer to apply: the
 * handshake, then one execute job of `artifact` (a prepared module, put in a worker dir of its
 * own), then a shutdown. `dist` is tsc's output (the protocol's code). Resolves, once the process
 * has exited, to its Ready header and the job's reply header.
 */
export async function runWorkerProcess(loaderFile, { dist, artifact, env = {} }) {
  const load = (file) => import(path.join(dist, file));
  const [frame, messages, limits, launcher, options, warmUp] = await Promise.all(
    ['protocol/frame.js', 'protocol/messages.js', 'shared/limits.js', 'sandbox/launcher.js', 'options.js', 'worker/jobs/warmUpModule.js'].map(load),
  );
  const { MessageType, PROTOCOL_VERSION } = messages;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'warden-worker-process-'));
  try {
    await fs.writeFile(path.join(dir, 'artifact'), artifact);
    const child = spawn(process.execPath, [...launcher.NODE_FLAGS, loaderFile], { env, stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
    const exited = new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`the worker exited (${code ?? signal})`))));
    });
    const channel = child.stdio[3];
    const decoder = new frame.FrameDecoder();
    const frames = [];
    let wake = () => {};
    channel.on('data', (chunk) => {
      frames.push(...decoder.push(chunk));
      wake();
    });
    const reply = async (type) => {
      while (frames.length === 0) await Promise.race([new Promise((resolve) => (wake = resolve)), exited]);
      const got = frames.shift();
      if (got.type !== type) throw new Error(`the worker answered message type ${got.type}: ${JSON.stringify(got.header)}`);
      return got.header;
    };
    try {
      const layers = { userns: false, pivotRoot: false, netns: false, landlock: false, seccomp: false, cgroup: false };
      const info = { kind: 'execute', id: 'unsandboxed', dir, limits: options.workerLimits(options.DEFAULT_LIMITS), layers };
      channel.write(frame.encodeFrame(MessageType.Hello, 1, { protocol: PROTOCOL_VERSION, info }));
      const ready = await reply(MessageType.Ready);
      const request = { abi: 'run', limits: limits.DEFAULT_EXECUTE_LIMITS, cpuTimeLimitMs: 10_000, fuel: options.DEFAULT_LIMITS.maxFuel, isolation: 'worker' };
      channel.write(frame.encodeFrame(MessageType.Execute, 2, request, new Uint8Array(warmUp.WARM_UP_INPUT)));
      const result = await reply(MessageType.ExecuteResult);
      channel.write(frame.encodeFrame(MessageType.Shutdown, 3, null));
      await exited;
      return { ready, result };
    } finally {
      child.kill('SIGKILL');
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Writes `cacheFile` for the worker process's entry `loaderFile`: runs it through its warm-up
 * and a job (`runWorkerProcess`, the warm-up module's `artifact`); the loader writes the cache as
 * the process ends. Resolves to the cache's size.
 */
export async function buildWorkerCodeCache(loaderFile, cacheFile, { dist, artifact }) {
  // The loader must compile from source here, not from an older cache.
  await fs.rm(cacheFile, { force: true });
  const { result } = await runWorkerProcess(loaderFile, { dist, artifact, env: { WARDEN_MAKE_CODE_CACHE: cacheFile } });
  if (!result.ok) throw new Error(`the warm-up job failed: ${result.failure.message}`);
  return (await fs.stat(cacheFile)).size;
}
