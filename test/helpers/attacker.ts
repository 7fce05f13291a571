import path from 'node:path';
import crypto from 'node:crypto';
import type { ExecutionContext } from 'ava';
import { WorkerProcess } from '../../src/actors/workerProcess.js';
import { createWorkerDir, removeWorkerDir } from '../../src/sandbox/workerDir.js';
import fs from 'node:fs';
import type { Host, HostOptions } from '../../src/index.js';
import type { SandboxLayers, WorkerKind } from '../../src/protocol/messages.js';
import type { TestEntry } from '../../src/sandbox/launcher.js';
import { PACKAGE_ROOT } from '../../src/sandbox/paths.js';
import { startHost, waitFor, workerProcesses } from './host.js';
import { idleWorkers } from './scheduler.js';

/** Where attacker workers find their native fixture (test/fixtures/attack-native.mjs). */
const ATTACK_NATIVE = { source: path.join(PACKAGE_ROOT, 'build', 'Release', 'warden_attack.node'), target: '/attack/attack.node' };
const bundles = new Map<string, Promise<TestEntry>>();

/**
 * An attacker entry as the sandbox gets it: bundled into one CommonJS file the way the
 * worker's entry is (scripts/bundle.mjs), into build/test (beside build/Release, at the depth
 * of dist/worker, so the addon's relative path holds on the host too), once per test process.
 * The launcher binds it where the worker's entry is, and the native fixture beside.
 */
export function attackerEntry(fixture: 'attacker-worker' | 'attacker-pool-worker'): Promise<TestEntry> {
  let entry = bundles.get(fixture);
  if (!entry) {
    entry = (async () => {
      const { bundle } = (await import(new URL('../../scripts/bundle.mjs', import.meta.url).href)) as {
        bundle: (source: string, outfile: string) => Promise<void>;
      };
      const file = path.join(PACKAGE_ROOT, 'build', 'test', `${fixture}.cjs`);
      const partial = `${file}.${process.pid}.tmp`;
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await bundle(`test/fixtures/${fixture}.mjs`, path.relative(PACKAGE_ROOT, partial));
      // Another test process may be bundling the same file: each writes its own, then renames.
      fs.renameSync(partial, file);
      fs.rmSync(`${partial}.map`, { force: true });
      return { file, binds: [ATTACK_NATIVE] };
    })();
    bundles.set(fixture, entry);
  }
  return entry;
}

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
 * Starts an attacker worker in `host`'s cache dir, with the host's security status, limits,
 * layers and cgroups: the same launcher command line but for the entry file. Killed after the
 * test. `layers` turns layers off, as on a machine that lacks them.
 */
export async function startAttacker(
  t: ExecutionContext,
  host: Host,
  kind: WorkerKind = 'execute',
  options: { layers?: Partial<SandboxLayers> } = {},
): Promise<Attacker> {
  const entry = await attackerEntry('attacker-worker');
  const hostDir = await createWorkerDir(host.options.cacheDir, kind);
  const hostInfo = host.workerInfo(kind, `attacker-${crypto.randomBytes(4).toString('hex')}`, hostDir);
  const info = { ...hostInfo, layers: { ...hostInfo.layers, ...options.layers } };
  const cgroup = info.layers.cgroup ? host.workerCgroup(hostDir) : undefined;
  const worker = await WorkerProcess.spawn({ info, hostDir, cwd: host.options.cacheDir, entry, ...(cgroup ? { cgroup } : {}) });
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

/** Whether `pid` runs `entry`: its launcher's command line binds it (node sees it at the worker entry's path). */
function runsEntry(pid: number, entry: string): boolean {
  try {
    const ppid = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1];
    return [pid, ppid].some((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(entry));
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
  const entry = await attackerEntry('attacker-pool-worker');
  const { host, cacheDir } = await startHost(t, options);
  // Set before the first worker is spawned: the pools ask for their workers when the host is
  // created, but each spawn reads the entry only after creating its dir (I/O, which cannot
  // complete before this continuation runs). Checked below all the same.
  host.workerEntry = entry;
  // Teardowns run last-registered first: close here, then check what startHost's check cannot
  // see (it looks for the real worker's entry).
  t.teardown(async () => {
    await host.close();
    const left = await waitFor(() => workerProcesses(cacheDir, entry.file), (pids) => pids.length === 0);
    if (left.length > 0) throw new Error(`attacker worker processes left behind: ${left.join(', ')}`);
  });
  await idleWorkers(host, 'prepare', host.options.prepareWorkers);
  await idleWorkers(host, 'execute', host.options.executeWorkers);
  const real = host.workers().filter((w) => w.pid === undefined || !runsEntry(w.pid, entry.file));
  if (real.length > 0) throw new Error(`workers not running the attacker entry: ${JSON.stringify(real)}`);
  return { host, cacheDir };
}
