/**
 * Prototype for the investigation (bundled into a variant worker, never shipped): the job thread
 * on a bare `worker_threads` Worker, without piscina. It runs warden's own job module
 * (src/worker/jobThread.ts) and unwraps the `move()` envelope piscina would have unwrapped;
 * `piscina` is aliased to a three-line shim when this file is bundled (bench/variants.ts).
 */
import { parentPort } from 'node:worker_threads';
import { transferableSymbol, valueSymbol } from 'piscina';
import runJob from '../src/worker/jobThread.js';
import type { JobTask } from '../src/worker/jobs/task.js';

type Envelope = { [transferableSymbol]?: ArrayBuffer[]; [valueSymbol]?: unknown };

parentPort!.on('message', (task: JobTask) => {
  runJob(task).then(
    (result) => {
      const envelope = (result ?? {}) as Envelope;
      const value = valueSymbol in envelope ? envelope[valueSymbol] : result;
      parentPort!.postMessage({ done: true, value }, envelope[transferableSymbol] ?? []);
    },
    (error: Error) => parentPort!.postMessage({ done: false, message: error.message }),
  );
});
