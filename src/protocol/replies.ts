import { MessageType } from './messages.js';

/**
 * What a worker may send, and when: the whole rule the host enforces on the channel.
 * - A reply answers a request the host sent and has not seen answered, with the type that
 *   request expects (below), and a body only as large as that request allows (an execute reply's
 *   output and log; nothing for the rest).
 * - `Fatal` may come at any time, with id 0 and no body; the worker exits after it.
 * Anything else (an unknown id, id 0, a second reply, a type out of turn, a request type) is a
 * protocol violation: the worker is killed with `E_PROTOCOL`.
 */
export const REPLY_TYPE: Readonly<Partial<Record<number, number>>> = Object.freeze({
  [MessageType.Hello]: MessageType.Ready,
  [MessageType.Ping]: MessageType.Pong,
  [MessageType.Probe]: MessageType.ProbeResult,
  [MessageType.Prepare]: MessageType.PrepareResult,
  [MessageType.Execute]: MessageType.ExecuteResult,
});

/**
 * How long a frame may take to arrive once its first byte has: past it the worker is killed
 * with `E_PROTOCOL`. A 64 MiB reply crosses a unix socket in well under a second even on a
 * loaded machine; a peer that announces a frame and then trickles or stops holds host memory
 * for no longer than this.
 */
export const FRAME_DEADLINE_MS = 10_000;
