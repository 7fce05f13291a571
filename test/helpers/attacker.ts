import path from 'node:path';
import crypto from 'node:crypto';
import type { ExecutionContext } from 'ava';
import { WorkerProcess } from '../../src/actors/workerProcess.js';
import { createWorkerDir, removeWorkerDir } from '../../src/sandbox/workerDir.js';
import fs from 'node:fs';
import type { Host, HostOptions } from '../../src/index.js';
import type { WorkerKind } from '../../src/protocol/messages.js';
import { startHost, waitFor, workerProcesses } from './host.js';
import { idleWorkers } from './scheduler.js';

const ATTACKER_ENTRY = path.resolve('test/fixtures/attacker-worker.mjs');
const POOL_ATTACKER_ENTRY = path.resolve('test/fixtures/attacker-pool-worker.mjs');

/** The input line that makes a pool attacker worker run the rest of the input as JavaScript first. */
export const ATTACK_MARKER = 'ATTACK\n';

/** What an attack returned: `ok` with its JSON result, or the error it hit (`code`, `detail`). */
/**
 * Attack source: `onReply(fn)` rewrites the worker's execute replies. `fn(header, body, n)` gets
 * the n-th reply (0 = the attacking job's own) and returns a new `{ header, body }` or nothing.
 * Outgoing bytes are decoded whole, however the worker splits its writes.
 */
export const ON_REPLY = `
  const hooks = [];
  const onReply = (fn) => hooks.push(fn);
  const write = ctx.channel.write;
  const outgoing = new ctx.FrameDecoder();
  let replies = 0;
  ctx.channel.write = function (chunk) {
    for (const frame of outgoing.push(chunk)) {
      let { header, body } = frame;
      if (frame.type === ctx.MessageType.ExecuteResult) {
        const n = replies++;
        for (const fn of hooks) ({ header, body } = fn(header, body, n) ?? { header, body });
      }
      write.call(this, ctx.encodeFrame(frame.type, frame.id, header, body));
    }
    return true;
  };
  /** A successful reply whose output is \`value\` as JSON. */
  const replyWith = (header, value) => {
    const body = Buffer.from(JSON.stringify(value));
    return { header: { ...header, ok: true, outputBytes: body.length, logBytes: 0, logTruncated: false }, body };
  };
`;

export interface AttackOutcome {
  ok: boolean;
  code?: string;
  detail?: string;
  value?: unknown;
}

/** A real sandboxed worker, started exactly as the host starts one, that runs the test's JavaScript. */
export interface Attacker {
  worker: WorkerProcess;
  /** Runs the body of an async function inside the worker: `ctx` (fs, net, channel, send, encodeFrame, FrameDecoder, MessageType, info, addon) and `require` are in scope. */
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

/** Whether `pid` runs `entry` (its command line names it). */
function runsEntry(pid: number, entry: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(entry);
  } catch {
    return false;
  }
}

/**
 * A real host whose pool workers are the real worker plus one door: an execute job whose input
 * starts with {@link ATTACK_MARKER} runs the rest of its input as JavaScript on the worker's
 * main thread before it is served (test/fixtures/attacker-pool-worker.mjs). Every worker the
 * pools ever start is one; the host's teardown checks no process or dir is left.
 */
export async function startAttackerPool(t: ExecutionContext, options: HostOptions = {}): Promise<{ host: Host; cacheDir: string }> {
  const { host, cacheDir } = await startHost(t, options);
  // Set before the first worker is spawned: the pools ask for their workers when the host is
  // created, but each spawn reads the entry only after creating its dir (I/O, which cannot
  // complete before this continuation runs). Checked below all the same.
  host.workerEntry = POOL_ATTACKER_ENTRY;
  // Teardowns run last-registered first: close here, then check what startHost's check cannot
  // see (it looks for the real worker's entry).
  t.teardown(async () => {
    await host.close();
    const left = await waitFor(() => workerProcesses(cacheDir, POOL_ATTACKER_ENTRY), (pids) => pids.length === 0);
    if (left.length > 0) throw new Error(`attacker worker processes left behind: ${left.join(', ')}`);
  });
  await idleWorkers(host, 'prepare', host.options.prepareWorkers);
  await idleWorkers(host, 'execute', host.options.executeWorkers);
  const real = host.workers().filter((w) => w.pid === undefined || !runsEntry(w.pid, POOL_ATTACKER_ENTRY));
  if (real.length > 0) throw new Error(`workers not running the attacker entry: ${JSON.stringify(real)}`);
  return { host, cacheDir };
}
