/**
 * The worker's line of execute jobs (protocol version 6): the host may send the next job while
 * this one runs, so that the worker never waits for a host round trip between two jobs. Jobs
 * run one after another in the order they came; each is answered once. A job that has not
 * started can be withdrawn (answered at once, never run); a running one can be aborted.
 */

import { JobAbort, type JobSignal } from './jobBounds.js';

/**
 * One turn of the event loop, a poll for I/O included: a job runs on the thread that reads the
 * channel, so frames that came while it ran (a Cancel of the next job) are read only there.
 */
function afterPendingIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

interface LineEntry {
  readonly controller: JobAbort;
  started: boolean;
  /** Answers the job as withdrawn (it never ran). */
  readonly withdrawn: () => void;
}

/**
 * Runs jobs strictly one at a time in arrival order, by request id.
 *
 * @example
 * const line = new JobLine();
 * line.submit(frame.id, (signal) => runAndReply(frame, signal), () => replyWithdrawn(frame.id));
 * line.cancel(frame.id, true); // withdrawn if waiting, aborted if running
 */
export class JobLine {
  readonly #entries = new Map<number, LineEntry>();
  #tail: Promise<void> = Promise.resolve();

  /** Jobs waiting or running. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Queues a job behind the others. `run` gets a signal that `cancel(id, true)` aborts while it
   * runs; a rejection of `run` goes to `onError` (the line carries on with the next job).
   */
  submit(id: number, run: (signal: JobSignal) => Promise<void>, withdrawn: () => void, onError: (error: Error) => void): void {
    const entry: LineEntry = { controller: new JobAbort(), started: false, withdrawn };
    const behind = this.#entries.size > 0;
    this.#entries.set(id, entry);
    this.#tail = this.#tail.then(async () => {
      // Queued behind a job that held the thread: what the host sent meanwhile is read first.
      if (behind) await afterPendingIo();
      // Withdrawn while it waited: answered already, never run.
      if (this.#entries.get(id) !== entry) return;
      entry.started = true;
      try {
        await run(entry.controller);
      } catch (error) {
        onError(error as Error);
      } finally {
        this.#entries.delete(id);
      }
    });
  }

  /**
   * A job that has not started is withdrawn (answered at once, never run); a running one is
   * aborted only when `abort`; an unknown or finished one is ignored (the answer crossed the cancel).
   */
  cancel(id: number, abort: boolean): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    if (!entry.started) {
      this.#entries.delete(id);
      entry.withdrawn();
      return;
    }
    if (abort) entry.controller.abort();
  }
}
