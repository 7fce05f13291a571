/**
 * Entry of the worker process. Runs inside the sandbox the launcher built (namespaces, new
 * root, Landlock, seccomp), started as `node dist/worker/main.cjs` (this module's one-file
 * bundle, scripts/bundle.mjs) with an empty environment. Its only channel is fd 3, a unix
 * socket the host created before the sandbox was locked.
 */
import { FrameDecoder, SEPARATE_BODY_BYTES, encodeFrame, frameSocket, writeFrame, type Frame, type FrameBody } from '../protocol/frame.js';
import {
  MessageType,
  PROTOCOL_VERSION,
  type HelloHeader,
  type CodeCacheUse,
  type ProbeHeader,
  type ReadyHeader,
  type WorkerInfo,
} from '../protocol/messages.js';
import { loadAddon, type NativeAddon } from '../shared/addon.js';
import { nodeV8 } from '../shared/builtins.js';
import { PREPARE_WORKER_V8_FLAGS } from '../shared/v8Flags.js';
import { attest } from './attest.js';
import { afterReply, inlineRunner, jobRunner, warmUpExecute, pool, primeExecute, runExecute, runPrepare, withdrawnReply } from './jobs.js';
import { JobLine } from './jobLine.js';
import type { CancelHeader, ExecuteRequest, PrepareRequest, PrimeRequest } from '../protocol/messages.js';

const IPC_FD = 3;

/**
 * What became of the build's code cache when this bundle was compiled: its loader
 * (scripts/bundleLoader.cjs, node's main module) says; undefined when the bundle runs without it.
 */
const codeCache = (typeof require === 'undefined' ? undefined : require.main?.exports?.codeCache) as CodeCacheUse | undefined;

// A big body (an input, a module) is read straight into a pooled buffer: memory already touched, no copy.
const decoder = new FrameDecoder({ allocBody: (n) => (n >= SEPARATE_BODY_BYTES ? pool.take(n) : Buffer.allocUnsafeSlow(n)) });
const channel = frameSocket(
  IPC_FD,
  decoder,
  (frames) => {
    if (failed) return;
    for (const frame of frames) onFrame(frame).catch((error: Error) => reportFatal('E_WORKER', error.message));
  },
  (error) => reportFatal('E_PROTOCOL', error.message),
);
let info: WorkerInfo | undefined;
let addon: NativeAddon | undefined;
/** Execute jobs, one at a time in arrival order: the host may send the next while one runs. */
const line = new JobLine();

/** Writes a frame, unless a failure was reported (`done`, as in `writeFrame`, when it was written). */
function send(type: number, id: number, header: unknown, body?: FrameBody, done?: () => void): void {
  if (!failed) writeFrame(channel, type, id, header, body, done);
}

/** Set once a failure has been reported: nothing more is read, run or sent. */
let failed = false;

/**
 * Reports a failure the host must see: one Fatal frame (the first failure's), the channel
 * half-closed, nothing more done. The worker then waits to be killed by the host, which reads
 * the frame: exiting at once would close the socket under a write of the host's, whose EPIPE the
 * host may handle before it has read the frame (it would see a death, not the cause). It exits
 * on its own after a second.
 */
function reportFatal(code: string, message: string): void {
  if (failed) return;
  failed = true;
  channel.end(encodeFrame(MessageType.Fatal, 0, { code, message }));
  setTimeout(() => process.exit(70), 1000);
}

/** `reportFatal`, then stops the caller (a throw its frame's handler turns into nothing more). */
function fatal(code: string, message: string): never {
  reportFatal(code, message);
  throw new Error(`${code}: ${message}`);
}

function onHello(frame: Frame): void {
  const hello = frame.header as HelloHeader;
  if (hello?.protocol !== PROTOCOL_VERSION) {
    fatal('E_PROTOCOL', `host speaks protocol ${String(hello?.protocol)}, worker speaks ${PROTOCOL_VERSION}`);
  }
  info = hello.info;
  // A prepare worker compiles every function of a module up front (v8Flags.ts).
  if (info.kind === 'prepare') nodeV8().setFlagsFromString(PREPARE_WORKER_V8_FLAGS);
  addon = loadAddon();
  // The second seccomp filter goes on before anything from a job is looked at.
  if (info.layers.seccomp) addon.lockdown();
  if (info.kind === 'prepare') {
    // The job thread (a second isolate, the longest part of a worker's start) boots on the other
    // core while this thread answers the handshake: the first job waits for it, Ready does not.
    void jobRunner(info);
  } else {
    // An execute worker runs its jobs on this thread (inlineRunner.ts): its stack limit is set here.
    inlineRunner(info);
  }
  const ready: ReadyHeader = { protocol: PROTOCOL_VERSION, attestation: attest(addon) };
  if (codeCache !== undefined) ready.codeCache = codeCache;
  send(MessageType.Ready, frame.id, ready);
  // Ready is on its way: the job path warms up while the host takes it in.
  if (info.kind === 'execute') warmUpExecute(info);
}

/**
 * The probes, loaded on first use: they pull in child_process and net, which a worker serving
 * jobs never needs at startup. In the bundle, a require of their bundle beside this one (the
 * loader compiles this bundle as a script, and a script has no dynamic import); unbundled, an import.
 */
async function loadProbes(): Promise<typeof import('./probes.js')> {
  return typeof require === 'function' ? (require('./probes.cjs') as typeof import('./probes.js')) : import('./probes.js');
}

async function onFrame(frame: Frame): Promise<void> {
  if (!info) {
    if (frame.type !== MessageType.Hello) fatal('E_PROTOCOL', `expected Hello, got message type ${frame.type}`);
    onHello(frame);
    return;
  }
  switch (frame.type) {
    case MessageType.Ping:
      send(MessageType.Pong, frame.id, null);
      return;
    case MessageType.Probe: {
      const probe = frame.header as ProbeHeader;
      const { runProbe } = await loadProbes();
      const result = await runProbe(String(probe.name), String(probe.arg ?? ''), addon!);
      // Bounded like every header (the host refuses one above 16 KiB): a listing can be long.
      if (result.detail !== undefined && result.detail.length > 2048) result.detail = `${result.detail.slice(0, 2048)}…`;
      send(MessageType.ProbeResult, frame.id, result);
      return;
    }
    case MessageType.Prepare: {
      const reply = await runPrepare(info, frame.header as PrepareRequest, frame.body);
      send(MessageType.PrepareResult, frame.id, reply);
      return;
    }
    case MessageType.Execute: {
      const workerInfo = info;
      line.submit(
        frame.id,
        async (signal) => {
          const { reply, body } = await runExecute(workerInfo, frame.header as ExecuteRequest, frame.body, signal);
          // The reply's buffers are the pool's again once the socket has taken them.
          send(MessageType.ExecuteResult, frame.id, reply, body?.parts, body && (() => pool.give(...body.release)));
          afterReply();
        },
        () => {
          // Never ran: its input goes back to the pool with nothing else holding it.
          if (frame.body.byteLength >= SEPARATE_BODY_BYTES) pool.give(frame.body.buffer as ArrayBuffer);
          send(MessageType.ExecuteResult, frame.id, withdrawnReply());
        },
        (error) => reportFatal('E_WORKER', error.message),
      );
      return;
    }
    case MessageType.Cancel:
      line.cancel(frame.id, (frame.header as CancelHeader | null)?.abort === true);
      return;
    case MessageType.Prime:
      if (info.kind !== 'execute') fatal('E_PROTOCOL', 'a prepare worker takes no Prime');
      primeExecute(info, frame.header as PrimeRequest);
      return;
    case MessageType.Shutdown:
      channel.end(() => process.exit(0));
      return;
    default:
      fatal('E_PROTOCOL', `unexpected message type ${frame.type}`);
  }
}

// The host closing the channel is the end of this worker's life.
channel.on('end', () => process.exit(0));
channel.on('error', () => process.exit(71));
