/**
 * The job thread: a bare `worker_threads` Worker inside the worker process, started by
 * `jobRunner.ts`. It runs one job at a time with the V8 heap and stack limits of its thread, so a
 * job can be cut by terminating the thread while the main thread keeps the channel to the host.
 * One task in, one reply out (`ThreadReply`), buffers moved both ways, never cloned.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { execute, jobMemory, type ExecuteResult } from './jobs/execute.js';
import { JobError, type JobPartial } from '../shared/jobError.js';
import { decodeJobConfig, encodeFileList, type JobConfig } from '../shared/jobFiles.js';
import { threadClock, type ThreadClock } from './threadClock.js';
import { prepare } from './jobs/prepare.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../shared/limits.js';
import { WARM_UP_INPUT, WARM_UP_MODULE } from './jobs/warmUpModule.js';
import { MIN_POOLED_BYTES, adopt, isPooled } from './bufferPool.js';
import { wholeBuffer, type ExecuteEnd, type ExecuteTask, type JobOutcome, type JobTask, type ThreadReply, type WarmUpTask } from './jobs/task.js';

/** This thread's CPU clock, shared with the main thread that watches it (`workerData.clock`). */
const clock: ThreadClock = threadClock(workerData?.clock);

async function warmUp(): Promise<void> {
  const { artifact } = prepare(WARM_UP_MODULE, DEFAULT_PREPARE_LIMITS, '0'.repeat(64));
  const { output } = await execute(artifact, WARM_UP_INPUT, 'run', DEFAULT_EXECUTE_LIMITS);
  if (output.byteLength !== WARM_UP_INPUT.byteLength) throw new Error('job thread warm-up produced a wrong result');
}

/** Views that own their buffer, so the outcome can move them instead of cloning. */
function owned(view: Uint8Array): Uint8Array {
  return wholeBuffer(view) ? view : new Uint8Array(view);
}

/** A view whose buffer may move whole: one that spans it, or one of a buffer nobody else views (a sink's store). */
function movableView(view: Uint8Array): Uint8Array {
  return view.buffer instanceof ArrayBuffer && isPooled(view.buffer) ? view : owned(view);
}

/** An outcome, the buffers to move with it, and the pooled buffers the job is done with (given back to the main thread's pool). */
type Movable = { outcome: JobOutcome | null; transfer: ArrayBuffer[]; returned?: ArrayBuffer[] };

function movable(outcome: JobOutcome, views: Uint8Array[], returned: ArrayBuffer[] = []): Movable {
  const moved = views.map((view) => (view.buffer instanceof ArrayBuffer && view.buffer.byteLength > 0 ? view.buffer : undefined)).filter((buffer) => buffer !== undefined);
  const back = returned.filter((buffer) => buffer.byteLength >= MIN_POOLED_BYTES && !moved.includes(buffer));
  return { outcome, transfer: [...new Set([...moved, ...back])], ...(back.length > 0 ? { returned: back } : {}) };
}

/** An execute job's end as it crosses to the main thread: buffers that can move, the files encoded. */
function ending(result: JobPartial): ExecuteEnd {
  return {
    output: movableView(result.output),
    log: movableView(result.log),
    logTruncated: result.logTruncated,
    files: result.files.length === 0 ? new Uint8Array(0) : encodeFileList(result.files),
    memoryPages: result.memoryPages,
    maxMemoryPages: result.maxMemoryPages,
  };
}

/** The task's input and its argv, environment and files (a bad section is warden's bug: the host checked it). */
function split(task: ExecuteTask): { input: Uint8Array; config: JobConfig | undefined } {
  if (task.inputBytes === undefined) return { input: task.input, config: undefined };
  return { input: task.input.subarray(0, task.inputBytes), config: decodeJobConfig(task.input.subarray(task.inputBytes), task.limits) };
}

/** The task's buffers that go back to the main thread's pool once the job is done with them (an output store the output did not use included). */
function spent(task: ExecuteTask): ArrayBuffer[] {
  const buffers = [task.input.buffer, task.artifact.buffer, task.outputStore];
  return buffers.filter((buffer): buffer is ArrayBuffer => buffer instanceof ArrayBuffer && buffer.byteLength > 0);
}

async function runExecute(task: ExecuteTask): Promise<Movable> {
  const { input, config } = split(task);
  // Moved here whole: nobody else views them, so the output may be a view of the store.
  if (task.outputStore !== undefined) adopt(task.outputStore);
  try {
    const result = await execute(task.artifact, input, task.abi, task.limits, {
      ...(config === undefined ? {} : { args: config.args, env: config.env, files: config.files }),
      started: () => clock.markStart(),
      cpuNs: () => clock.ownNs(),
      ...(task.fuel === undefined ? {} : { fuel: task.fuel }),
      ...(task.outputStore === undefined ? {} : { outputStore: task.outputStore }),
    });
    const end = ending(result);
    return movable({ ok: true, kind: 'execute', ...end, fuelUsed: result.fuelUsed }, [end.output, end.log, end.files], spent(task));
  } catch (error) {
    if (!(error instanceof JobError) || error.partial === undefined) throw error;
    const partial = ending(error.partial);
    return movable({ ok: false, failure: error.toFailure(), partial }, [partial.output, partial.log, partial.files], spent(task));
  }
}

async function run(task: JobTask): Promise<Movable> {
  if (task.kind === 'prepare') {
    const { artifact, moduleBytes, exports } = prepare(task.code, task.limits, task.paramsHash, task.compileTimeoutMs);
    const moved = owned(artifact);
    return movable({ ok: true, kind: 'prepare', artifact: moved, moduleBytes, exports }, [moved]);
  }
  return runExecute(task);
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
