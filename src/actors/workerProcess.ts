import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import { EventEmitter } from 'eventemitter3';
import createDebug from 'debug';
import { FrameDecoder, frameSocket, writeFrame, type Frame, type FrameBody, type FrameHead } from '../protocol/frame.js';
import { FRAME_DEADLINE_MS, REPLY_TYPE } from '../protocol/replies.js';
import {
  MessageType,
  PROTOCOL_VERSION,
  type Attestation,
  type CodeCacheUse,
  type FatalHeader,
  type CancelHeader,
  type ProbeResult,
  type ReadyHeader,
  type WorkerInfo,
} from '../protocol/messages.js';
import { ProtocolError, TimeoutError, WorkerDiedError, type WardenError } from '../errors.js';
import { launcherArgs, parseLauncherFailure, type TestEntry, type WorkerCgroup } from '../sandbox/launcher.js';
import { packagePaths } from '../sandbox/paths.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { removeCgroups } from '../sandbox/cgroup.js';
import { optionalAddon } from '../shared/addon.js';
import { keptBuffer } from '../shared/hugePages.js';
import { spawnWithAddon, type LauncherProcess } from '../sandbox/launcherProcess.js';

const debug = createDebug('warden:worker');

/**
 * What each end of a worker channel may queue. A 16 MiB input or output crosses in four socket
 * buffers instead of eighty (the default is 208 KiB): each refill is a wake-up of the other side,
 * and the worker runs niced. Allocated only while bytes are queued.
 */
export const CHANNEL_SEND_BUFFER_BYTES = 4 * 1024 * 1024;

/** A new socketpair from the addon (host end, child end), or undefined where the addon is not loaded. */
function channelPair(): [number, number] | undefined {
  const addon = optionalAddon();
  return typeof addon?.socketPair === 'function' ? addon.socketPair(CHANNEL_SEND_BUFFER_BYTES) : undefined;
}

/** Calls every waiter once; returns the empty list that replaces them. */
function wake(waiters: readonly (() => void)[]): (() => void)[] {
  for (const resolve of waiters) resolve();
  return [];
}

/** How a worker process ended. */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why, as a typed error: launcher step, protocol violation, or plain death. */
  error: WardenError;
  /** The last bytes the worker wrote to stderr. */
  stderrTail: string;
}

export interface SpawnWorkerOptions {
  info: WorkerInfo;
  /** The worker dir on the host side. */
  hostDir: string;
  /** Where the launcher runs (the cache dir). */
  cwd: string;
  handshakeTimeoutMs?: number;
  launcher?: string;
  /** The cgroups the launcher creates and joins; removed once the process has exited. */
  cgroup?: WorkerCgroup;
  /** @internal the test suite's attacker worker; never set by the host. */
  entry?: TestEntry;
  /** @internal TEST ONLY: V8 tier flags for node (`TEST_TIER_FLAGS`); never set by the host's options. */
  tierFlags?: readonly string[];
  /** Time for the incomplete-frame deadline. Default: the system clock. */
  clock?: Clock;
  /** How long a frame may take to arrive once begun. Default {@link FRAME_DEADLINE_MS}. */
  frameDeadlineMs?: number;
  /** @internal TEST ONLY: `'pipe'` takes the channel libuv makes, as where the addon is not loaded. */
  channel?: 'pipe';
}

/** What the reply to a request may be: its type and how large a body it may carry. */
interface Expected {
  request: number;
  reply: number;
  maxBody: number;
}

interface Pending extends Expected {
  resolve: (frame: Frame) => void;
  reject: (error: WardenError) => void;
  timer: NodeJS.Timeout | undefined;
}

const STDERR_TAIL = 4096;
const KILL_GRACE_MS = 2000;
/** Requests that timed out whose late answer is still accepted (and dropped): the most recent ones. */
const ABANDONED_KEPT = 32;

type WorkerProcessEvents = {
  exit: [WorkerExit];
};

/**
 * One sandboxed worker process: the launcher, then node running dist/worker/main.cjs.
 * Owns the child, the IPC channel on fd 3 and the request/response matching; reports the
 * exit once, with its cause. The state machine around it lives in src/machines.
 */
export class WorkerProcess extends EventEmitter<WorkerProcessEvents> {
  readonly info: WorkerInfo;
  readonly hostDir: string;
  attestation: Attestation | undefined;
  /** Whether its bundle was compiled with the build's code cache, as its Ready said (undefined: no loader). */
  codeCache: CodeCacheUse | undefined;
  readonly exited: Promise<WorkerExit>;

  #child: LauncherProcess;
  #channel: net.Socket;
  #decoder = new FrameDecoder({ checkHead: (head) => this.#checkHead(head), allocBody: keptBuffer });
  #pending = new Map<number, Pending>();
  /** Callers of `answered()` waiting for the pending requests to be answered. */
  #answeredWaiters: (() => void)[] = [];
  /** Callers of `asked()` waiting for the next request. */
  #askedWaiters: (() => void)[] = [];
  /** Requests that timed out: a slow worker's late answer is dropped, not a violation. */
  #abandoned = new Map<number, Expected>();
  #clock: Clock;
  #frameDeadlineMs: number;
  /** Armed while a frame is incomplete. */
  #frameTimer: TimerHandle | undefined;
  #nextId = 1;
  #stderr = '';
  #exit: WorkerExit | undefined;
  #protocolError: WardenError | undefined;
  #sandboxPid: number | undefined;
  /** The host asked it to end (kill or shutdown): its exit is a stop, not a death, in the log. */
  #stopAsked = false;
  /** False once the worker's end of the channel has closed (see `reachable`). */
  #reachable = true;

  private constructor(options: SpawnWorkerOptions) {
    super();
    this.info = options.info;
    this.hostDir = options.hostDir;
    this.#clock = options.clock ?? systemClock;
    this.#frameDeadlineMs = options.frameDeadlineMs ?? FRAME_DEADLINE_MS;
    // An explicit empty environment: nothing of the host's (NODE_OPTIONS, secrets) reaches
    // the launcher or node. fd 3 is a unix socketpair: the addon's where it is loaded (the
    // host's end then reads straight into frame bodies), else the one libuv makes for 'pipe'.
    const args = launcherArgs(options.info, options.hostDir, { entry: options.entry, cgroup: options.cgroup, tierFlags: options.tierFlags });
    const pair = options.channel === 'pipe' ? undefined : channelPair();
    const launcher = options.launcher ?? packagePaths.launcher;
    /** fd 3 as libuv made it, when there is no socketpair of the addon's. */
    let pipeChannel: net.Socket | undefined;
    try {
      // Its own session (both ways): a Ctrl-C in the host's terminal reaches the host, which then
      // closes its workers in order, instead of killing every worker at the same instant.
      // Through the addon (no fork of the host, launcherProcess.ts) where it can, else node.
      const native = pair && spawnWithAddon(optionalAddon(), launcher, args, options.cwd, pair[1]);
      if (native) this.#child = native;
      else {
        const child = spawn(launcher, args, { cwd: options.cwd, env: {}, stdio: ['ignore', 'pipe', 'pipe', pair ? pair[1] : 'pipe'], detached: true });
        this.#child = child;
        pipeChannel = pair ? undefined : (child.stdio[3] as net.Socket);
      }
    } catch (error) {
      if (pair) fs.closeSync(pair[0]);
      throw error;
    } finally {
      if (pair) fs.closeSync(pair[1]);
    }
    if (pair) {
      this.#channel = frameSocket(
        pair[0],
        this.#decoder,
        (frames) => this.#onFrames(frames),
        (error) => this.#protocolViolation(error),
      );
    } else {
      this.#channel = pipeChannel!;
      this.#channel.on('data', (chunk: Buffer) => this.#onData(chunk));
    }
    this.#channel.on('error', () => {});
    // The worker's end of the channel closed: it died (a killed process's descriptors close at
    // once, its exit is known only once the launcher has reaped it) or it broke the channel.
    // Nothing sent from now on can reach it: the pool stops picking it, and a process that
    // closed its channel but lives on, which can take no job, is stopped.
    this.#channel.once('end', () => {
      this.#reachable = false;
      if (!this.#stopAsked) void this.#terminate();
    });
    // The child's 'close' waits for its stdio pipes, not for a channel of our own: its exit is
    // handled once the channel is read to its end, so that no answer sent before it is lost.
    const channelClosed = this.#channel.destroyed ? Promise.resolve() : new Promise<void>((resolve) => this.#channel.once('close', () => resolve()));
    // Drain stdout and keep a bounded tail of stderr: a worker flooding them cannot block
    // itself on a full pipe nor grow the host's memory.
    this.#child.stdout!.on('data', () => {});
    this.#child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': it comes after the pipes are drained, so the launcher's step
      // line on stderr has arrived by then.
      this.#child.once('close', async (code, signal) => {
        {
          await channelClosed;
          // The monitor has reaped node, and every task of the pid namespace is gone with it:
          // the worker's cgroups are empty and can go before anyone learns it exited.
          if (options.cgroup) {
            const cgroupError = await removeCgroups(options.cgroup.dirs);
            if (cgroupError) debug('cannot remove the cgroup of worker %s: %s', this.info.id, cgroupError.message);
          }
          this.#exit = { code, signal, error: this.#exitError(code, signal), stderrTail: this.#stderr };
          if (this.#stopAsked && this.#exit.error instanceof WorkerDiedError) {
            // 137: the launcher's monitor SIGKILLs node on the host's SIGTERM and exits 128 + 9.
            debug('worker %s stopped as asked (exit code %s, signal %s)', this.info.id, code, signal);
          } else {
            debug('worker %s exited code=%s signal=%s: %s', this.info.id, code, signal, this.#exit.error.message);
          }
          this.#stopFrameTimer();
          this.#decoder.fail(new ProtocolError(`worker ${this.info.id} has exited`));
          for (const pending of this.#pending.values()) {
            clearTimeout(pending.timer);
            pending.reject(this.#exit.error);
          }
          this.#pending.clear();
          this.#flushAnswered();
          this.emit('exit', this.#exit);
          resolve(this.#exit);
        }
      });
    });
    this.#child.once('error', (error) => debug('spawn error %o', error));
  }

  /** Spawns a worker and completes the handshake; rejects with the launcher step, a protocol error or a timeout. */
  static async spawn(options: SpawnWorkerOptions): Promise<WorkerProcess> {
    const worker = new WorkerProcess(options);
    try {
      const ready = await worker.request(MessageType.Hello, { protocol: PROTOCOL_VERSION, info: options.info }, undefined, {
        timeoutMs: options.handshakeTimeoutMs ?? 10_000,
        expect: MessageType.Ready,
      });
      const header = ready.header as ReadyHeader;
      if (header?.protocol !== PROTOCOL_VERSION) {
        throw new ProtocolError(`worker speaks protocol ${String(header?.protocol)}, host speaks ${PROTOCOL_VERSION}`);
      }
      worker.attestation = header.attestation;
      worker.codeCache = header.codeCache;
      debug('worker %s ready (code cache %s): %o', options.info.id, header.codeCache ?? 'not used', header.attestation);
      return worker;
    } catch (error) {
      await worker.kill();
      // The exit carries the precise cause (a launcher step) when the handshake failed because of it.
      const exit = await worker.exited;
      throw exit.error instanceof WorkerDiedError ? error : exit.error;
    }
  }

  /** The monitor process's pid (the launcher). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The node process's pid as the host sees it (the launcher's only child), if it is running. */
  get sandboxPid(): number | undefined {
    const pid = this.#child.pid;
    if (!pid || this.#exit) return undefined;
    // The launcher forks node once and never again: once seen, the pid holds for the worker's
    // life, and the per-job callers (metrics, events) cost no /proc read on the event loop.
    if (this.#sandboxPid !== undefined) return this.#sandboxPid;
    try {
      const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      // Without a pid namespace the launcher execs node itself: no child, the pid is node's.
      // No child yet (the launcher is still building the sandbox) is not remembered.
      if (children) this.#sandboxPid = Number(children.split(/\s+/)[0]);
      return children ? this.#sandboxPid : pid;
    } catch {
      return undefined;
    }
  }

  /** How the process ended, once it has. */
  get exitInfo(): WorkerExit | undefined {
    return this.#exit;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  /**
   * Whether a request sent now can reach the worker: false from the moment its end of the
   * channel closes, before its exit is known (a killed process's channel closes at once; its
   * exit arrives once the launcher has reaped it and the pipes have drained).
   */
  get reachable(): boolean {
    return this.#reachable && this.#exit === undefined;
  }

  /**
   * Resolves once the worker has answered what it is asked: when its pending requests are
   * answered (or it exits); if none is pending, when the next one is, provided one is sent
   * within `quietMs`, else then.
   */
  async answered(quietMs = 0): Promise<void> {
    if (this.#pending.size === 0 && !this.#exit && quietMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const asked = await Promise.race([
        new Promise<boolean>((resolve) => this.#askedWaiters.push(() => resolve(true))),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), quietMs);
        }),
      ]);
      clearTimeout(timer);
      if (!asked) return;
    }
    if (this.#pending.size === 0 || this.#exit) return;
    await new Promise<void>((resolve) => this.#answeredWaiters.push(resolve));
  }

  #flushAnswered(): void {
    this.#answeredWaiters = wake(this.#answeredWaiters);
  }

  /**
   * Sends a request and waits for the reply with the same id (a big body is sent as is: do not
   * change it afterwards). The reply must be of the type the request expects (`expect`, else
   * {@link REPLY_TYPE}) and carry at most `maxBody` bytes of body (default 0); anything else
   * kills the worker with `E_PROTOCOL`, checked at the reply's first 13 bytes.
   */
  request(
    type: number,
    header: unknown,
    body?: FrameBody,
    options: { timeoutMs?: number; expect?: number; maxBody?: number; onId?: (id: number) => void; onWritten?: () => void } = {},
  ): Promise<Frame> {
    const reply = options.expect ?? REPLY_TYPE[type];
    if (reply === undefined) throw new TypeError(`message type ${type} is not a request: pass the reply type it expects`);
    if (this.#exit) {
      options.onWritten?.();
      return Promise.reject(this.#exit.error);
    }
    const id = this.#nextId;
    // Ids stay within u32 and never 0 (0 answers nothing).
    this.#nextId = (this.#nextId % 0xffff_ffff) + 1;
    options.onId?.(id);
    const expected: Expected = { request: type, reply, maxBody: options.maxBody ?? 0 };
    return new Promise<Frame>((resolve, reject) => {
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.#pending.delete(id);
              if (this.#pending.size === 0) this.#flushAnswered();
              this.#abandon(id, expected);
              reject(new TimeoutError(`worker ${this.info.id} did not answer message type ${type} within ${options.timeoutMs} ms`));
            }, options.timeoutMs);
      this.#pending.set(id, { ...expected, timer, reject, resolve });
      this.send(type, id, header, body, options.onWritten);
      if (this.#askedWaiters.length > 0) this.#askedWaiters = wake(this.#askedWaiters);
    });
  }

  /**
   * Writes one frame (no reply expected). A big body is written as is: it must not change until
   * `onWritten` is called (once the write has ended, written or not).
   */
  send(type: number, id: number, header: unknown, body?: FrameBody, onWritten?: () => void): void {
    if (!this.#exit && this.#channel.writable) writeFrame(this.#channel, type, id, header, body, onWritten);
    else onWritten?.();
  }

  /** Asks the worker to withdraw (or, with `abort`, stop) the Execute with this id; its reply still comes. */
  cancel(id: number, abort: boolean): void {
    this.send(MessageType.Cancel, id, { abort } satisfies CancelHeader);
  }

  /** Round trip to the worker; resolves with the time it took, in milliseconds. */
  async ping(timeoutMs = 5000): Promise<number> {
    const start = process.hrtime.bigint();
    await this.request(MessageType.Ping, null, undefined, { timeoutMs, expect: MessageType.Pong });
    return Number(process.hrtime.bigint() - start) / 1e6;
  }

  /** Asks the worker to attempt one fixed sandbox probe (src/worker/probes.ts). */
  async probe(name: string, arg = '', timeoutMs = 10_000): Promise<ProbeResult> {
    const frame = await this.request(MessageType.Probe, { name, arg }, undefined, { timeoutMs, expect: MessageType.ProbeResult });
    return frame.header as ProbeResult;
  }

  /**
   * Stops the worker: SIGTERM to the launcher's monitor, which kills node (SIGKILL) and
   * reaps it before exiting, so the monitor's exit means the sandbox is gone. SIGKILL
   * follows if the monitor does not exit in time. Idempotent.
   */
  kill(): Promise<WorkerExit> {
    this.#stopAsked = true;
    return this.#terminate();
  }

  /** `kill` without marking the exit as asked for: the worker's own end (its channel closed) stays a death in the log. */
  async #terminate(): Promise<WorkerExit> {
    if (!this.#exit && this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), KILL_GRACE_MS);
      timer.unref();
      const exit = await this.exited;
      clearTimeout(timer);
      return exit;
    }
    return this.exited;
  }

  /** Asks the worker to exit on its own; kills it if it does not within the grace period. */
  async shutdown(graceMs = KILL_GRACE_MS): Promise<WorkerExit> {
    if (this.#exit) return this.#exit;
    this.#stopAsked = true;
    this.send(MessageType.Shutdown, 0, null);
    const timer = setTimeout(() => void this.kill(), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  #onData(chunk: Buffer): void {
    // A worker being killed for a violation: what it still sends is dropped unread.
    if (this.#protocolError) return;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      this.#protocolViolation(error as WardenError);
      return;
    }
    this.#onFrames(frames);
  }

  #onFrames(frames: Frame[]): void {
    if (this.#protocolError) return;
    this.#watchIncompleteFrame(frames.length > 0);
    for (const frame of frames) {
      if (frame.type === MessageType.Fatal) {
        const fatal = frame.header as FatalHeader;
        this.#protocolViolation(new ProtocolError(`worker ${this.info.id} failed: ${String(fatal?.code)}: ${String(fatal?.message)}`));
        return;
      }
      const pending = this.#pending.get(frame.id);
      if (pending) {
        this.#pending.delete(frame.id);
        clearTimeout(pending.timer);
        pending.resolve(frame);
        if (this.#pending.size === 0 && this.#answeredWaiters.length > 0) this.#flushAnswered();
      } else {
        // Only a late answer to a request that timed out gets here (checkHead let it in): dropped.
        this.#abandoned.delete(frame.id);
        debug('worker %s: late answer to request %d dropped', this.info.id, frame.id);
      }
    }
  }

  /**
   * The rule of the channel (src/protocol/replies.ts), applied to each frame's head before its
   * header or body is buffered: a frame that answers no request, answers it with the wrong
   * type, or carries a body its request does not allow is refused at its 13th byte.
   */
  #checkHead(head: FrameHead): void {
    if (head.type === MessageType.Fatal) {
      if (head.id === 0 && head.bodyLength === 0) return;
      throw new ProtocolError(`worker ${this.info.id} sent a Fatal frame with id ${head.id} and a ${head.bodyLength}-byte body`);
    }
    const expected = this.#pending.get(head.id) ?? this.#abandoned.get(head.id);
    if (!expected) {
      throw new ProtocolError(`worker ${this.info.id} sent message type ${head.type} with id ${head.id}, which answers no request`, {
        details: { workerId: this.info.id, type: head.type, id: head.id },
      });
    }
    if (head.type !== expected.reply) {
      throw new ProtocolError(`worker ${this.info.id} answered message type ${expected.request} with type ${head.type}`, {
        details: { workerId: this.info.id, type: head.type, expected: expected.reply },
      });
    }
    if (head.bodyLength > expected.maxBody) {
      throw new ProtocolError(
        `worker ${this.info.id} answered message type ${expected.request} with a ${head.bodyLength}-byte body, at most ${expected.maxBody} allowed`,
        { details: { workerId: this.info.id, type: head.type, bodyLength: head.bodyLength, maxBody: expected.maxBody } },
      );
    }
  }

  /** Remembers a request that timed out, so that its late answer is not taken for a forgery. */
  #abandon(id: number, expected: Expected): void {
    this.#abandoned.set(id, expected);
    if (this.#abandoned.size > ABANDONED_KEPT) this.#abandoned.delete(this.#abandoned.keys().next().value!);
  }

  /**
   * Bounds the time a frame may take once begun (`frameDeadlineMs`): a worker that announces a
   * frame and then trickles it or falls silent is killed instead of holding host memory. Armed
   * when a frame is left incomplete, re-armed when a new one begins; whole frames cost nothing.
   */
  #watchIncompleteFrame(completedAny: boolean): void {
    if (this.#decoder.pending === 0) {
      this.#stopFrameTimer();
      return;
    }
    if (this.#frameTimer !== undefined && !completedAny) return;
    this.#stopFrameTimer();
    this.#frameTimer = this.#clock.setTimeout(() => {
      this.#frameTimer = undefined;
      const head = this.#decoder.partialHead;
      const size = head ? `${13 + head.headerLength + head.bodyLength}` : 'an unknown number of';
      this.#protocolViolation(
        new ProtocolError(`worker ${this.info.id} left a frame incomplete for ${this.#frameDeadlineMs} ms (${this.#decoder.pending} of ${size} bytes)`, {
          details: { workerId: this.info.id, received: this.#decoder.pending, deadlineMs: this.#frameDeadlineMs },
        }),
      );
    }, this.#frameDeadlineMs);
  }

  #stopFrameTimer(): void {
    if (this.#frameTimer === undefined) return;
    this.#clock.clearTimeout(this.#frameTimer);
    this.#frameTimer = undefined;
  }

  /** A worker that breaks the protocol is killed; the violation becomes its exit cause. */
  #protocolViolation(error: WardenError): void {
    this.#protocolError ??= error;
    debug('worker %s protocol violation: %s', this.info.id, error.message);
    this.#stopFrameTimer();
    // Nothing more is read from it: what it buffered is let go now, not when it has exited.
    this.#decoder.fail(error instanceof ProtocolError ? error : new ProtocolError(error.message));
    this.#channel.destroy();
    void this.kill();
  }

  #exitError(code: number | null, signal: NodeJS.Signals | null): WardenError {
    const launcherFailure = parseLauncherFailure(this.#stderr, code);
    if (launcherFailure) return launcherFailure;
    if (this.#protocolError) return this.#protocolError;
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    return new WorkerDiedError(`worker ${this.info.id} (${this.info.kind}) died: ${how}`, {
      details: { workerId: this.info.id, code, signal, stderrTail: this.#stderr.slice(-512) },
    });
  }
}
