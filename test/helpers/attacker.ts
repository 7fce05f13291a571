import path from 'node:path';
import crypto from 'node:crypto';
import type { ExecutionContext } from 'ava';
import { WorkerProcess } from '../../src/actors/workerProcess.js';
import { createWorkerDir, removeWorkerDir } from '../../src/sandbox/workerDir.js';
import type { Host } from '../../src/index.js';
import type { WorkerKind } from '../../src/protocol/messages.js';

const ATTACKER_ENTRY = path.resolve('test/fixtures/attacker-worker.mjs');

/** What an attack returned: `ok` with its JSON result, or the error it hit (`code`, `detail`). */
export interface AttackOutcome {
  ok: boolean;
  code?: string;
  detail?: string;
  value?: unknown;
}

/** A real sandboxed worker, started exactly as the host starts one, that runs the test's JavaScript. */
export interface Attacker {
  worker: WorkerProcess;
  /** Runs the body of an async function inside the worker: `ctx` (fs, net, channel, send, info, addon) and `require` are in scope. */
  run(body: string, timeoutMs?: number): Promise<AttackOutcome>;
}

/**
 * Starts an attacker worker in `host`'s cache dir, with the host's security status, limits
 * and layers: the same launcher command line but for the entry file. Killed after the test.
 */
export async function startAttacker(t: ExecutionContext, host: Host, kind: WorkerKind = 'execute'): Promise<Attacker> {
  const hostDir = await createWorkerDir(host.options.cacheDir, kind);
  const info = host.workerInfo(kind, `attacker-${crypto.randomBytes(4).toString('hex')}`, hostDir);
  const worker = await WorkerProcess.spawn({ info, hostDir, cwd: host.options.cacheDir, entry: ATTACKER_ENTRY });
  t.teardown(async () => {
    await worker.kill();
    await removeWorkerDir(hostDir);
  });
  return {
    worker,
    async run(body, timeoutMs = 10_000) {
      const result = await worker.probe('attack', body, timeoutMs);
      const value = result.ok && result.detail !== undefined ? JSON.parse(result.detail) : undefined;
      return { ...result, value };
    },
  };
}
