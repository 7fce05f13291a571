// Makes the V8 code cache of the job thread's bundle (dist/worker/jobThread.cache) that the
// thread's entry, scripts/jobThreadLoader.cjs, compiles the bundle with. Run by bundle.mjs at
// `npm run build`, with the node that builds, which is the node the host runs (a cache from
// another is rejected by V8, and the thread compiles from source).
//
// Made after a warm-up job, not right after compiling: V8 compiles a function on its first
// call, and a cache holds what has been compiled by the time it is made, so the functions a
// job runs are in it. The job thread runs in a real worker thread here, as in a worker, with
// the V8 flags an execute worker's thread has (none).
import fs from 'node:fs/promises';
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

/** Writes `cacheFile` for the loader at `loaderFile` (its bundle beside it); resolves to its size. */
export async function buildCodeCache(loaderFile, cacheFile) {
  // The loader must compile from source here, not from an older cache.
  await fs.rm(cacheFile, { force: true });
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
