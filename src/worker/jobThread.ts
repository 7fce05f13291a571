/**
 * The job thread: piscina's task module inside the worker process. It runs one job at a time with
 * the V8 heap and stack limits of its thread, so a job can be cut by terminating the thread while
 * the main thread keeps the channel to the host.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { execute } from './jobs/execute.js';
import { JobError } from './jobs/jobError.js';
import { prepare } from './jobs/prepare.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from './jobs/limits.js';
import { wholeBuffer, type JobOutcome, type JobTask, type WarmUpTask } from './jobs/task.js';

/**
 * An 83-byte `run`-ABI module that echoes its input (memory, `__heap_base`, `run`). Preparing
 * and running it once when the thread starts takes the first job's one-time costs (lazy
 * compilation of the job code, V8's first wasm compile and instantiation) off the critical
 * path: with `isolation: 'job'` every job is some thread's first.
 */
const WARM_UP_MODULE = Uint8Array.from([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 126, 3, 2, 1, 0, 5, 3, 1, 0, 1, 6, 7, 1, 127, 0, 65, 128, 8, 11, 7, 30, 3, 6,
  109, 101, 109, 111, 114, 121, 2, 0, 11, 95, 95, 104, 101, 97, 112, 95, 98, 97, 115, 101, 3, 0, 3, 114, 117, 110, 0, 0, 10, 14, 1, 12,
  0, 32, 0, 173, 32, 1, 173, 66, 32, 134, 132, 11,
]);

async function warmUp(): Promise<void> {
  const { artifact } = prepare(WARM_UP_MODULE, DEFAULT_PREPARE_LIMITS, '0'.repeat(64));
  const { output } = await execute(artifact, Uint8Array.of(1, 2, 3), 'run', DEFAULT_EXECUTE_LIMITS);
  if (output.byteLength !== 3) throw new Error('job thread warm-up produced a wrong result');
}

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
  if (task.kind === 'warm-up') {
    await warmUp();
    return null;
  }
  if (task.kind !== 'prepare' && task.kind !== 'execute') throw new TypeError(`unknown job kind ${String((task as { kind: unknown }).kind)}`);
  try {
    return await run(task);
  } catch (error) {
    if (error instanceof JobError) return { ok: false, failure: error.toFailure() } satisfies JobOutcome;
    throw error;
  }
}
