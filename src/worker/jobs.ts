import fs from 'node:fs';
import path from 'node:path';
import type {
  ExecuteReply,
  ExecuteRequest,
  PrepareReply,
  PrepareRequest,
  WorkerInfo,
} from '../protocol/messages.js';
import { WorkerDirFile } from '../sandbox/workerDirFiles.js';
import type { JobRunner } from './jobRunner.js';

/**
 * Job handling on the worker's main thread: reads what the host put in the worker dir, runs
 * the job on the job thread and returns the reply for the host. Runs inside the sandbox.
 */
let runner: Promise<JobRunner> | undefined;

/** The job thread, started once (lazily: piscina and the thread are not part of the cold start). */
export function jobRunner(info: WorkerInfo): Promise<JobRunner> {
  runner ??= import('./jobRunner.js').then(
    ({ JobRunner }) =>
      new JobRunner({
        maxOldGenerationSizeMb: info.limits.jobHeapMb,
        stackSizeMb: info.limits.jobStackMb,
        // Worker threads refuse per-process flags such as --openssl-config.
        execArgv: [],
      }),
  );
  return runner;
}

export async function runPrepare(info: WorkerInfo, request: PrepareRequest, code: Uint8Array): Promise<PrepareReply> {
  const result = await (await jobRunner(info)).run(
    { kind: 'prepare', code, limits: request.limits, paramsHash: request.paramsHash },
    { cpuTimeLimitMs: request.cpuTimeLimitMs },
  );
  const times = { cpuTimeMs: result.cpuTimeMs, wallTimeMs: result.wallTimeMs };
  if (!result.ok) return { ok: false, failure: result.failure, ...times };
  if (result.kind !== 'prepare') throw new Error('job thread answered a prepare with an execute result');
  // tmp-artifact exists (the host created it): open it without O_CREAT, the worker has no
  // right to create files.
  try {
    const fd = fs.openSync(path.join(info.dir, WorkerDirFile.tmpArtifact), fs.constants.O_WRONLY | fs.constants.O_TRUNC);
    try {
      fs.writeSync(fd, result.artifact);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    // A full disk (ENOSPC) or the file size limit (EFBIG) is about the machine, not the code,
    // and not a reason for this worker to die.
    const failure = { code: 'E_CACHE_IO', message: `cannot write tmp-artifact: ${(error as Error).message}`, deterministic: false };
    return { ok: false, failure, ...times };
  }
  return { ok: true, artifactBytes: result.artifact.byteLength, moduleBytes: result.moduleBytes, exports: result.exports, ...times };
}

export async function runExecute(
  info: WorkerInfo,
  request: ExecuteRequest,
  input: Uint8Array,
): Promise<{ reply: ExecuteReply; body?: Uint8Array }> {
  let artifact: Buffer;
  try {
    artifact = fs.readFileSync(path.join(info.dir, WorkerDirFile.artifact));
  } catch (error) {
    const failure = {
      code: 'E_CORRUPTED_ARTIFACT',
      message: `cannot read the artifact: ${(error as Error).message}`,
      deterministic: false,
    };
    return { reply: { ok: false, failure, cpuTimeMs: 0, wallTimeMs: 0 } };
  }
  const result = await (await jobRunner(info)).run(
    { kind: 'execute', artifact, input, abi: request.abi, limits: request.limits },
    { cpuTimeLimitMs: request.cpuTimeLimitMs },
  );
  const times = { cpuTimeMs: result.cpuTimeMs, wallTimeMs: result.wallTimeMs };
  if (!result.ok) return { reply: { ok: false, failure: result.failure, ...times } };
  if (result.kind !== 'execute') throw new Error('job thread answered an execute with a prepare result');
  const body = Buffer.concat([result.output, result.log]);
  return {
    reply: { ok: true, outputBytes: result.output.byteLength, logBytes: result.log.byteLength, logTruncated: result.logTruncated, ...times },
    body,
  };
}
