/**
 * An execute task run on the calling thread: the job thread's (`jobThread.ts`) or an execute
 * worker's main thread's (`inlineRunner.ts`). A task in, an outcome out with the buffers it can
 * move and the pooled buffers the job is done with.
 */
import { execute, type ExecuteOptions } from './execute.js';
import { JobError, type JobPartial } from '../../shared/jobError.js';
import { decodeJobConfig, encodeFileList, type JobConfig } from '../../shared/jobFiles.js';
import type { ThreadClock } from '../threadClock.js';
import { MIN_POOLED_BYTES, adopt, isPooled } from '../bufferPool.js';
import { wholeBuffer, type ExecuteEnd, type ExecuteTask, type JobOutcome } from './task.js';

/** Views that own their buffer, so the outcome can move them instead of cloning. */
export function owned(view: Uint8Array): Uint8Array {
  return wholeBuffer(view) ? view : new Uint8Array(view);
}

/** A view whose buffer may move whole: one that spans it, or one of a buffer nobody else views (a sink's store). */
function movableView(view: Uint8Array): Uint8Array {
  return view.buffer instanceof ArrayBuffer && isPooled(view.buffer) ? view : owned(view);
}

/** An outcome, the buffers to move with it, and the pooled buffers the job is done with (given back to the main thread's pool). */
export type Movable = { outcome: JobOutcome | null; transfer: ArrayBuffer[]; returned?: ArrayBuffer[] };

export function movable(outcome: JobOutcome, views: Uint8Array[], returned: ArrayBuffer[] = []): Movable {
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

/**
 * Runs an execute task on this thread, whose CPU time `clock` reads, its run bounded by
 * `bounds.guard` and the watch of its compile started by `bounds.compiling` when given. A failure
 * of the job comes back as `{ ok: false, failure }`; only a bug throws.
 */
export async function runExecute(task: ExecuteTask, clock: ThreadClock, bounds: Pick<ExecuteOptions, 'guard' | 'compiling'> = {}): Promise<Movable> {
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
      ...bounds,
    });
    const end = ending(result);
    return movable({ ok: true, kind: 'execute', ...end, fuelUsed: result.fuelUsed }, [end.output, end.log, end.files], spent(task));
  } catch (error) {
    if (!(error instanceof JobError)) throw error;
    if (error.partial === undefined) return { outcome: { ok: false, failure: error.toFailure() }, transfer: [] };
    const partial = ending(error.partial);
    return movable({ ok: false, failure: error.toFailure(), partial }, [partial.output, partial.log, partial.files], spent(task));
  }
}

