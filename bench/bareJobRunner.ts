/**
 * Prototype for the investigation (bundled into a variant worker, never shipped): the worker's
 * JobRunner (src/worker/jobRunner.ts) on a bare `worker_threads` Worker instead of a one-thread
 * piscina pool — same constructor, `run` and `close`, same resource limits, same CPU-time watch
 * (a job past its limit terminates the thread; a fresh one replaces it). Creating the Worker
 * returns at once and the thread boots in parallel, so nothing blocks the main thread.
 */
import { Worker } from 'node:worker_threads';
import type { JobRunnerOptions, RunOptions, RunResult } from '../src/worker/jobRunner.js';
import type { JobOutcome, JobTask } from '../src/worker/jobs/task.js';

/** The bundled job thread file; defined when this prototype is bundled. */
declare const __WARDEN_BARE_THREAD__: string;

type Reply = { done: true; value: JobOutcome } | { done: false; message: string };

export class JobRunner {
  readonly #options: JobRunnerOptions;
  #worker: Worker;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: JobRunnerOptions = {}) {
    this.#options = options;
    this.#worker = this.#start();
  }

  #start(): Worker {
    return new Worker(__WARDEN_BARE_THREAD__, {
      execArgv: [],
      resourceLimits: {
        maxOldGenerationSizeMb: this.#options.maxOldGenerationSizeMb ?? 256,
        maxYoungGenerationSizeMb: this.#options.maxYoungGenerationSizeMb ?? 32,
        stackSizeMb: this.#options.stackSizeMb ?? 4,
      },
    });
  }

  run(task: JobTask, options: RunOptions): Promise<RunResult> {
    const run = this.#queue.then(() => this.#runNow(task, options));
    this.#queue = run.catch(() => {});
    return run;
  }

  close(): Promise<void> {
    return this.#worker.terminate().then(() => {});
  }

  #runNow(task: JobTask, { cpuTimeLimitMs }: RunOptions): Promise<RunResult> {
    const worker = this.#worker;
    const startCpu = process.cpuUsage();
    const startWall = performance.now();
    const cpuTimeMs = () => {
      const { user, system } = process.cpuUsage(startCpu);
      return (user + system) / 1000;
    };
    return new Promise<RunResult>((resolve, reject) => {
      const finish = (outcome: JobOutcome) => {
        clearInterval(watch);
        worker.off('message', onMessage);
        worker.off('error', onError);
        resolve({ ...outcome, cpuTimeMs: cpuTimeMs(), wallTimeMs: performance.now() - startWall });
      };
      const onMessage = (reply: Reply) => (reply.done ? finish(reply.value) : onError(new Error(reply.message)));
      const onError = (error: Error) => {
        clearInterval(watch);
        this.#worker = this.#start();
        reject(error);
      };
      const watch = setInterval(() => {
        if (cpuTimeMs() <= cpuTimeLimitMs) return;
        void worker.terminate();
        this.#worker = this.#start();
        finish({ ok: false, failure: { code: 'E_TIMEOUT', message: `the job used more than ${cpuTimeLimitMs} ms of CPU time`, deterministic: true } });
      }, 10);
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.postMessage(task);
    });
  }
}
