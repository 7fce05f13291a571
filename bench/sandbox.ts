/**
 * Running the launcher and node by hand, the way the host does (same command line from
 * `launcherArgs`, same empty environment, same stdio with the IPC socket on fd 3), so parts of
 * a cold start can be timed on their own and node flags or entry files can be swapped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { launcherArgs } from '../src/sandbox/launcher.js';
import { packagePaths } from '../src/sandbox/paths.js';
import { FrameDecoder, encodeFrame, type Frame } from '../src/protocol/frame.js';
import { MessageType, PROTOCOL_VERSION, type ExecuteReply, type ExecuteRequest, type WorkerInfo } from '../src/protocol/messages.js';
import { add, childOf, procMemory, processCpuMs, threadsSettled, type ProcMemory } from './procfs.js';
import { since } from './stats.js';

/** The pieces of a worker's command line: `launcher SANDBOX_ARGS -- node NODE_FLAGS ENTRY`. */
export interface LaunchPlan {
  launcher: string;
  sandboxArgs: string[];
  node: string;
  nodeFlags: string[];
  /** The worker entry as node inside the sandbox sees it (under /warden). */
  entry: string;
  /** The same file at its host path, for runs without the sandbox. */
  hostEntry: string;
  info: WorkerInfo;
  cwd: string;
}

/** Splits the host's real command line for `info` into its parts. */
export function launchPlan(info: WorkerInfo, hostDir: string, cwd: string): LaunchPlan {
  const args = launcherArgs(info, hostDir);
  const split = args.indexOf('--');
  const [node, ...rest] = args.slice(split + 1);
  return {
    launcher: packagePaths.launcher,
    sandboxArgs: args.slice(0, split),
    node: node!,
    nodeFlags: rest.slice(0, -1),
    entry: rest[rest.length - 1]!,
    hostEntry: packagePaths.workerEntry,
    info,
    cwd,
  };
}

/** `launcher SANDBOX_ARGS [extra binds...] [extra sandbox flags...] -- PROGRAM...` */
export function sandboxed(plan: LaunchPlan, program: string[], options: { binds?: string[]; sandboxFlags?: string[] } = {}): [string, string[]] {
  const binds = (options.binds ?? []).flatMap((file) => ['--ro-bind', file, file]);
  return [plan.launcher, [...plan.sandboxArgs, ...binds, ...(options.sandboxFlags ?? []), '--', ...program]];
}

function start(cmd: string, args: string[], cwd: string): ChildProcess {
  // As the host does: an explicit empty environment, fd 3 a unix socketpair.
  return spawn(cmd, args, { cwd, env: {}, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
}

function collect(child: ChildProcess): () => string {
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString('utf8')).slice(-2000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return () => out;
}

/**
 * Spawn → exit of a program, in ms. `closeChannel` closes the host's end of fd 3 at once (a
 * worker then exits as soon as its module graph is loaded and the socket is read). Rejects on
 * a non-zero exit, with what the program printed.
 */
export function timeToExit(cmd: string, args: string[], options: { cwd: string; closeChannel?: boolean }): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = start(cmd, args, options.cwd);
    const output = collect(child);
    const channel = child.stdio[3] as net.Socket;
    channel.on('error', () => {});
    if (options.closeChannel) channel.end();
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const elapsed = since(t0);
      if (code === 0) resolve(elapsed);
      else reject(new Error(`${[cmd, ...args].join(' ').slice(-300)} exited ${code ?? signal}: ${output()}`));
    });
  });
}

export interface ManualStart {
  /** Spawn → Ready (handshake answered), ms. */
  ready: number;
  /** Spawn → Pong (first ping after the handshake answered), ms. */
  pong: number;
  /** Spawn → the first execute job's result, when one was asked for, ms. */
  firstJob: number | undefined;
  /** CPU time the sandboxed node process had used at the end (all its live threads), ms. */
  cpu: number | undefined;
  /** With `measureMemory`: node + monitor once its threads settled after the last step. */
  memory: ProcMemory | undefined;
}

export interface ManualOptions {
  /** false: `cmd` is node itself, no sandbox. Default true. */
  viaLauncher?: boolean;
  /** After the pong, run one execute job (the artifact must already be linked in the worker dir). */
  execute?: { header: ExecuteRequest; input: Uint8Array };
  /** Before stopping it, wait for its threads to settle and read its memory. */
  measureMemory?: boolean;
}

/**
 * Starts a worker by hand (no host): spawn, Hello → Ready, Ping → Pong (and optionally one
 * execute job), then stops it the way the host does (SIGTERM to the launcher's monitor, which
 * SIGKILLs and reaps node) and waits for it.
 */
export function manualStart(cmd: string, args: string[], info: WorkerInfo, cwd: string, options: ManualOptions = {}): Promise<ManualStart> {
  const viaLauncher = options.viaLauncher ?? true;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = start(cmd, args, cwd);
    const output = collect(child);
    const channel = child.stdio[3] as net.Socket;
    const decoder = new FrameDecoder();
    let ready: number | undefined;
    let pong: number | undefined;
    let result: ManualStart | undefined;
    let failure: Error | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const finish = async (firstJob: number | undefined) => {
      const nodePid = viaLauncher ? childOf(child.pid) : child.pid;
      const cpu = nodePid ? processCpuMs(nodePid) : undefined;
      let memory: ProcMemory | undefined;
      if (options.measureMemory) {
        await threadsSettled(nodePid);
        memory = viaLauncher ? add(procMemory(nodePid), procMemory(child.pid)) : procMemory(nodePid);
      }
      result = { ready: ready!, pong: pong!, firstJob, cpu, memory };
      child.kill(viaLauncher ? 'SIGTERM' : 'SIGKILL');
    };
    channel.on('error', () => {});
    channel.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        child.kill('SIGKILL');
        reject(error);
        return;
      }
      for (const frame of frames) {
        if (frame.type === MessageType.Ready) {
          ready = since(t0);
          channel.write(encodeFrame(MessageType.Ping, 2, null));
        } else if (frame.type === MessageType.Pong && ready !== undefined) {
          pong = since(t0);
          if (options.execute) channel.write(encodeFrame(MessageType.Execute, 3, options.execute.header, options.execute.input));
          else void finish(undefined);
        } else if (frame.type === MessageType.ExecuteResult && pong !== undefined) {
          const reply = frame.header as ExecuteReply;
          if (!reply.ok) failure = new Error(`execute failed: ${reply.failure.code}: ${reply.failure.message}`);
          void finish(since(t0));
        } else {
          failure = new Error(`unexpected frame type ${frame.type}: ${JSON.stringify(frame.header)}`);
          child.kill('SIGKILL');
        }
      }
    });
    channel.write(encodeFrame(MessageType.Hello, 1, { protocol: PROTOCOL_VERSION, info }));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (result && !failure) resolve(result);
      else reject(failure ?? new Error(`worker ${[cmd, ...args].join(' ').slice(-200)} ended before its pong (${code ?? signal}): ${output()}`));
    });
  });
}
