/**
 * The job thread: a bare `worker_threads` Worker inside the worker process, started by
 * `jobRunner.ts`. It runs one job at a time with the V8 heap and stack limits of its thread, so a
 * job can be cut by terminating the thread while the main thread keeps the channel to the host.
 * One task in, one reply out (`ThreadReply`), buffers moved both ways, never cloned.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { execute, jobMemory } from './jobs/execute.js';
import { movable, owned, runExecute, type Movable } from './jobs/jobTask.js';
import { JobError } from '../shared/jobError.js';
import { threadClock, type ThreadClock } from './threadClock.js';
import { prepare } from './jobs/prepare.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../shared/limits.js';
import { WARM_UP_INPUT, WARM_UP_MODULE } from './jobs/warmUpModule.js';
import type { JobTask, ThreadReply, WarmUpTask } from './jobs/task.js';

/** This thread's CPU clock, shared with the main thread that watches it (`workerData.clock`). */
const clock: ThreadClock = threadClock(workerData?.clock);

async function warmUp(): Promise<void> {
  const { artifact } = prepare(WARM_UP_MODULE, DEFAULT_PREPARE_LIMITS, '0'.repeat(64));
  const { output } = await execute(artifact, WARM_UP_INPUT, 'run', DEFAULT_EXECUTE_LIMITS);
  if (output.byteLength !== WARM_UP_INPUT.byteLength) throw new Error('job thread warm-up produced a wrong result');
}

async function run(task: JobTask): Promise<Movable> {
  if (task.kind === 'prepare') {
    const { artifact, moduleBytes, exports } = prepare(task.code, task.limits, task.paramsHash, task.compileTimeoutMs);
    const moved = owned(artifact);
    return movable({ ok: true, kind: 'prepare', artifact: moved, moduleBytes, exports }, [moved]);
  }
  return runExecute(task, clock);
}

/**
 * Runs one task. Failures of the job come back as `{ ok: false, failure }`; only a bug in warden
 * (or an unknown task) throws.
 */
async function runJob(task: JobTask | WarmUpTask): Promise<Movable> {
  if (task.kind === 'warm-up') {
    await warmUp();
    return { outcome: null, transfer: [] };
  }
  if (task.kind !== 'prepare' && task.kind !== 'execute') throw new TypeError(`unknown job kind ${String((task as { kind: unknown }).kind)}`);
  try {
    return await run(task);
  } catch (error) {
    if (error instanceof JobError) return { outcome: { ok: false, failure: error.toFailure() }, transfer: [] };
    throw error;
  }
}

parentPort!.on('message', (task: JobTask | WarmUpTask) => {
  runJob(task).then(
    ({ outcome, transfer, returned }) => {
      parentPort!.postMessage({ ok: true, outcome, ...(returned === undefined ? {} : { returned }) } satisfies ThreadReply, transfer);
      // The reply is on its way: the job's memory is zeroed for the next one meanwhile.
      jobMemory.scrub();
    },
    (error: Error) => parentPort!.postMessage({ ok: false, message: String(error?.stack ?? error) } satisfies ThreadReply),
  );
});
