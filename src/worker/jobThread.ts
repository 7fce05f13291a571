/**
 * The job thread: a bare `worker_threads` Worker inside the worker process, started by
 * `jobRunner.ts`. It runs one job at a time with the V8 heap and stack limits of its thread, so a
 * job can be cut by terminating the thread while the main thread keeps the channel to the host.
 * One task in, one reply out (`ThreadReply`), buffers moved both ways, never cloned.
 */
import { parentPort } from 'node:worker_threads';
import { execute } from './jobs/execute.js';
import { JobError } from '../shared/jobError.js';
import { prepare } from './jobs/prepare.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../shared/limits.js';
import { WARM_UP_INPUT, WARM_UP_MODULE } from './jobs/warmUpModule.js';
import { wholeBuffer, type JobOutcome, type JobTask, type ThreadReply, type WarmUpTask } from './jobs/task.js';

async function warmUp(): Promise<void> {
  const { artifact } = prepare(WARM_UP_MODULE, DEFAULT_PREPARE_LIMITS, '0'.repeat(64));
  const { output } = await execute(artifact, WARM_UP_INPUT, 'run', DEFAULT_EXECUTE_LIMITS);
  if (output.byteLength !== WARM_UP_INPUT.byteLength) throw new Error('job thread warm-up produced a wrong result');
}

/** Views that own their buffer, so the outcome can move them instead of cloning. */
function owned(view: Uint8Array): Uint8Array {
  return wholeBuffer(view) ? view : new Uint8Array(view);
}

/** An outcome and the buffers to move with it. */
type Movable = { outcome: JobOutcome | null; transfer: ArrayBuffer[] };

function movable(outcome: JobOutcome, views: Uint8Array[]): Movable {
  return { outcome, transfer: views.map(wholeBuffer).filter((buffer) => buffer !== undefined) };
}

async function run(task: JobTask): Promise<Movable> {
  if (task.kind === 'prepare') {
    const { artifact, moduleBytes, exports } = prepare(task.code, task.limits, task.paramsHash);
    const moved = owned(artifact);
    return movable({ ok: true, kind: 'prepare', artifact: moved, moduleBytes, exports }, [moved]);
  }
  const result = await execute(task.artifact, task.input, task.abi, task.limits, task.fuel);
  const output = owned(result.output);
  const log = owned(result.log);
  return movable({ ok: true, kind: 'execute', output, log, logTruncated: result.logTruncated, fuelUsed: result.fuelUsed }, [output, log]);
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
    ({ outcome, transfer }) => parentPort!.postMessage({ ok: true, outcome } satisfies ThreadReply, transfer),
    (error: Error) => parentPort!.postMessage({ ok: false, message: String(error?.stack ?? error) } satisfies ThreadReply),
  );
});
