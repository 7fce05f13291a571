import type { Frame, FrameBody } from '../protocol/frame.js';
import type { SandboxLayers } from '../protocol/messages.js';
import type { WardenError } from '../errors.js';

/** How a worker ended, as much of it as the pool reads (`WorkerExit` has more). */
export interface WorkerHandleExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why, as a typed error (launcher step, protocol violation, plain death). */
  error: WardenError;
}

/**
 * What a pool needs of one spawned worker: the narrow face of `WorkerProcess`, so that the pool's
 * own logic (queueing, deadlines, hard timeouts, deaths, spares) can be tested with handles that
 * answer like a worker without spawning one.
 */
export interface WorkerHandle {
  /** The worker dir on the host side. */
  readonly hostDir: string;
  /** The sandbox layers it runs under (the pool skips per-job dir work the layers make needless). */
  readonly info: { readonly layers: SandboxLayers };
  /** The worker's node process as the host sees it, while it runs. */
  readonly sandboxPid: number | undefined;
  /** How it ended, once it has. */
  readonly exitInfo: WorkerHandleExit | undefined;
  /**
   * Whether a request sent now can reach it: false as soon as its end of the channel has closed,
   * before its exit is known. An idle worker that is not reachable is given no job.
   */
  readonly reachable: boolean;
  /** Settles once, when the process has exited. */
  readonly exited: Promise<unknown>;
  /**
   * Sends one request; resolves with the reply of type `expect` (at most `maxBody` bytes of body),
   * rejects if the process dies. `onId` learns the request's id (for `cancel`).
   */
  /** `onWritten` is called once the request's write has ended, written or not (its body may then change). */
  request(
    type: number,
    header: unknown,
    body: FrameBody | undefined,
    options: { expect: number; maxBody: number; onId?: (id: number) => void; onWritten?: () => void },
  ): Promise<Frame>;
  /** Writes one frame that has no reply (Prime); nothing when the process is gone. */
  send(type: number, id: number, header: unknown): void;
  /** Sends Cancel for a pipelined Execute (protocol 6): its reply still comes, once. */
  cancel(id: number, abort: boolean): void;
  /** Stops the process (idempotent); its exit then arrives through `once('exit')`. */
  kill(): Promise<unknown>;
  /** Called once, when the process has exited. */
  once(event: 'exit', listener: (exit: WorkerHandleExit) => void): unknown;
}
