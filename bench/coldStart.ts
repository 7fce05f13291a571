/**
 * Cold start: a sandboxed worker from `host.spawnWorker('execute')` to its first pong, against
 * plain `node -e 0` (spawn → exit), interleaved round by round. The same rounds time the pieces
 * of a worker's start on their own, so the difference can be attributed.
 */
import fs from 'node:fs';
import type net from 'node:net';
import { spawn } from 'node:child_process';
import { FrameDecoder, encodeFrame } from '../src/protocol/frame.js';
import { MessageType, PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { executeOn, expectHello, type BenchContext } from './context.js';
import { processCpuMs } from './procfs.js';
import { manualStart, sandboxed, timeToExit } from './sandbox.js';
import { interleave, pairedDelta, since, sleep, summarize, type Metrics } from './stats.js';

export const CASES = {
  node: 'node -e 0 (spawn → exit)',
  warden: 'warden: spawnWorker → first pong',
  wardenFirstJob: 'warden: spawnWorker → first execute result',
  spawnTrue: '/usr/bin/true, no sandbox (spawn → exit)',
  launcherTrue: 'launcher → /usr/bin/true',
  launcherNode: 'launcher → node -e 0',
  launcherNodeFlags: 'launcher → node <worker flags> -e 0',
  launcherModules: 'launcher → node <flags> worker/main.js, channel closed → exit',
  plainModules: 'node <flags> worker/main.js, no sandbox, channel closed → exit',
  manual: 'launcher → worker by hand: Hello → Ready → Ping → Pong',
  manualUnsandboxed: 'worker by hand, no sandbox: Hello → Ready → Ping → Pong',
  handshakeOnly: 'handshake alone on a booted worker (Hello → Ready)',
  handshakeUnsandboxed: 'handshake alone, booted worker without sandbox',
} as const;

export type ColdStartSamples = Record<string, Record<string, number[]>>;

/**
 * A worker started by hand and left to boot (250 ms), then only the handshake is timed:
 * addon load, seccomp lockdown, attestation, the Ready frame. Then one idle ping.
 */
function handshakeOnBootedWorker(ctx: BenchContext, sandbox = true): Promise<Metrics> {
  const program = [ctx.plan.node, ...ctx.plan.nodeFlags, sandbox ? ctx.plan.entry : ctx.plan.hostEntry];
  const [cmd, args] = sandbox ? sandboxed(ctx.plan, program) : [program[0]!, program.slice(1)];
  const info = sandbox ? ctx.plan.info : ctx.unsandboxedInfo;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ctx.plan.cwd, env: {}, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    child.stdout!.resume();
    child.stderr!.resume();
    const channel = child.stdio[3] as net.Socket;
    const decoder = new FrameDecoder();
    let t0 = 0n;
    let metrics: Metrics | undefined;
    channel.on('error', () => {});
    channel.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.type === MessageType.Ready) {
          metrics = { ms: since(t0) };
          t0 = process.hrtime.bigint();
          channel.write(encodeFrame(MessageType.Ping, 2, null));
        } else if (frame.type === MessageType.Pong) {
          metrics = { ...metrics, pingAfterHandshake: since(t0) };
          child.kill(sandbox ? 'SIGTERM' : 'SIGKILL');
        }
      }
    });
    setTimeout(() => {
      t0 = process.hrtime.bigint();
      channel.write(encodeFrame(MessageType.Hello, 1, { protocol: PROTOCOL_VERSION, info }));
    }, 250);
    child.once('close', (code) => (metrics ? resolve(metrics) : reject(new Error(`booted worker died (${code})`))));
  });
}

export async function measureColdStart(ctx: BenchContext, rounds: number): Promise<ColdStartSamples> {
  const { plan, host } = ctx;
  const trueBin = fs.realpathSync('/usr/bin/true');
  const workerNode = [plan.node, ...plan.nodeFlags];
  const opts = { cwd: plan.cwd };
  const exit = (cmd: string, args: string[], closeChannel = false) => async (): Promise<Metrics> => ({
    ms: await timeToExit(cmd, args, { ...opts, closeChannel }),
  });
  const cases: Record<string, () => Promise<Metrics>> = {
    [CASES.node]: exit(plan.node, ['-e', '0']),
    [CASES.warden]: async () => {
      const t0 = process.hrtime.bigint();
      const worker = await host.spawnWorker('execute');
      const ready = since(t0);
      await worker.ping();
      const ms = since(t0);
      const pid = worker.sandboxPid;
      const cpu = pid ? processCpuMs(pid) : undefined;
      await worker.kill();
      return { ms, ready, pingAfterHandshake: ms - ready, cpu };
    },
    [CASES.wardenFirstJob]: async () => {
      const t0 = process.hrtime.bigint();
      const worker = await host.spawnWorker('execute');
      const ready = since(t0);
      expectHello(await executeOn(ctx, worker), 'fresh worker');
      const ms = since(t0);
      await worker.kill();
      return { ms, ready, jobAfterHandshake: ms - ready };
    },
    [CASES.spawnTrue]: exit(trueBin, []),
    [CASES.launcherTrue]: exit(...sandboxed(plan, [trueBin], { binds: [trueBin] })),
    [CASES.launcherNode]: exit(...sandboxed(plan, [plan.node, '-e', '0'])),
    [CASES.launcherNodeFlags]: exit(...sandboxed(plan, [...workerNode, '-e', '0'])),
    [CASES.launcherModules]: exit(...sandboxed(plan, [...workerNode, plan.entry]), true),
    [CASES.plainModules]: exit(plan.node, [...plan.nodeFlags, plan.hostEntry], true),
    [CASES.manual]: async () => {
      const r = await manualStart(...sandboxed(plan, [...workerNode, plan.entry]), plan.info, plan.cwd);
      return { ms: r.pong, ready: r.ready, pingAfterHandshake: r.pong - r.ready, cpu: r.cpu };
    },
    [CASES.manualUnsandboxed]: async () => {
      const r = await manualStart(plan.node, [...plan.nodeFlags, plan.hostEntry], ctx.unsandboxedInfo, plan.cwd, { viaLauncher: false });
      return { ms: r.pong, ready: r.ready, pingAfterHandshake: r.pong - r.ready, cpu: r.cpu };
    },
    [CASES.handshakeOnly]: () => handshakeOnBootedWorker(ctx),
    [CASES.handshakeUnsandboxed]: () => handshakeOnBootedWorker(ctx, false),
  };
  // One untimed pass so that files are in the page cache for everyone.
  for (const run of Object.values(cases)) await run();
  await sleep(200);
  return interleave(rounds, cases, { settleMs: 30, progress: 'cold start' });
}

export interface Attribution {
  label: string;
  ms: number;
  how: string;
}

/** Where the time of a cold start goes, from medians of per-round differences. */
export function attribute(samples: ColdStartSamples): Attribution[] {
  const s = (name: string, metric = 'ms') => samples[name]?.[metric] ?? [];
  const d = (a: string, b: string, am = 'ms', bm = 'ms') => pairedDelta(s(a, am), s(b, bm));
  return [
    { label: 'process spawn from the host (fork/exec of a tiny binary)', ms: summarize(s(CASES.spawnTrue)).median, how: '/usr/bin/true' },
    { label: 'node boot to exit, no script (the peer)', ms: summarize(s(CASES.node)).median, how: 'node -e 0' },
    { label: 'launcher sandbox setup (namespaces, root, landlock, seccomp)', ms: d(CASES.launcherTrue, CASES.spawnTrue), how: 'launcher→true − true' },
    { label: 'sandbox cost on a node start (setup + node inside it)', ms: d(CASES.launcherNode, CASES.node), how: 'launcher→node −e 0 − node −e 0' },
    { label: 'worker node flags', ms: d(CASES.launcherNodeFlags, CASES.launcherNode), how: 'flags −e 0 − −e 0, both sandboxed' },
    { label: 'loading the worker module graph (ESM, 20+ files, net socket)', ms: d(CASES.launcherModules, CASES.launcherNodeFlags), how: 'main.js closed − flags −e 0' },
    { label: 'handshake in the worker (addon, lockdown, attest, Ready)', ms: summarize(s(CASES.handshakeOnly)).median, how: 'Hello→Ready on a booted worker' },
    { label: '  of which the sandbox', ms: d(CASES.handshakeOnly, CASES.handshakeUnsandboxed), how: 'same, minus without sandbox' },
    { label: 'first ping right after the handshake', ms: summarize(s(CASES.warden, 'pingAfterHandshake')).median, how: 'pong − ready, spawnWorker' },
    { label: 'host bookkeeping (worker dir, WorkerProcess, event loop)', ms: d(CASES.warden, CASES.manual), how: 'spawnWorker → pong − by hand' },
  ];
}
