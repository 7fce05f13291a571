/**
 * The job thread: piscina's task module inside the worker process. It runs one job at a time with
 * the V8 heap and stack limits of its thread, so a job can be cut by terminating the thread while
 * the main thread keeps the channel to the host.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { execute } from './jobs/execute.js';
import { JobError } from './jobs/jobError.js';
import { prepare } from './jobs/prepare.js';
import { wholeBuffer, type JobOutcome, type JobTask, type WarmUpTask } from './jobs/task.js';

/** Views that own their buffer, so the outcome can move them instead of cloning. */
function owned(view: Uint8Array): Uint8Array {
  return wholeBuffer(view) ? view : new Uint8Array(view);
}

/** Wraps an outcome so piscina transfers its buffers along with it. */
function movable(outcome: JobOutcome, views: Uint8Array[]): unknown {
  const buffers = views.map(wholeBuffer).filter((buffer) => buffer !== undefined);
  return move({ [transferableSymbol]: buffers, [valueSymbol]: outcome } as never);
}

async function run(task: JobTask): Promise<unknown> {
  if (task.kind === 'prepare') {
    const { artifact, moduleBytes, exports } = prepare(task.code, task.limits, task.paramsHash);
    const moved = owned(artifact);
    return movable({ ok: true, kind: 'prepare', artifact: moved, moduleBytes, exports }, [moved]);
  }
  const result = await execute(task.artifact, task.input, task.abi, task.limits);
  const output = owned(result.output);
  const log = owned(result.log);
  return movable({ ok: true, kind: 'execute', output, log, logTruncated: result.logTruncated }, [output, log]);
}

/**
 * Runs one task. Failures of the job come back as `{ ok: false, failure }`; only a bug in warden
 * (or an unknown task) throws.
 */
export default async function runJob(task: JobTask | WarmUpTask): Promise<unknown> {
  if (task.kind === 'warm-up') return null;
  if (task.kind !== 'prepare' && task.kind !== 'execute') throw new TypeError(`unknown job kind ${String((task as { kind: unknown }).kind)}`);
  try {
    return await run(task);
  } catch (error) {
    if (error instanceof JobError) return { ok: false, failure: error.toFailure() } satisfies JobOutcome;
    throw error;
  }
}
