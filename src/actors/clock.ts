/**
 * Time, injected: actors that wait (queue deadlines, timeouts) take a `Clock` so tests
 * advance a {@link SimulatedClock} instead of sleeping.
 */

/** An opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** The three things an actor needs from time. `now()` is epoch milliseconds, like `Date.now()`. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The longest delay Node's `setTimeout` honours: anything longer fires after 1 ms with a
 * warning, so callers clamp to it and re-arm when the timer fires early.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** The real clock: `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, Math.min(Math.max(ms, 0), MAX_TIMER_DELAY_MS)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface SimulatedTimer {
  at: number;
  seq: number;
  callback: () => void;
}

/**
 * A clock that moves only when told to, for tests. Timers fire in order of due time (then of
 * creation) during {@link SimulatedClock.advance}; a timer set by a firing callback fires in
 * the same `advance` if it is due by then.
 *
 * @example
 * const clock = new SimulatedClock(1_000);
 * clock.setTimeout(() => console.log('fired'), 50);
 * clock.advance(50); // logs "fired"
 */
export class SimulatedClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, SimulatedTimer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const seq = ++this.#seq;
    this.#timers.set(seq, { at: this.#now + Math.max(ms, 0), seq, callback });
    return seq;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** How many timers are armed: lets tests check that an actor holds one timer, or none. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: SimulatedTimer | undefined;
      for (const timer of this.#timers.values()) {
        if (timer.at <= target && (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))) {
          next = timer;
        }
      }
      if (next === undefined) break;
      this.#timers.delete(next.seq);
      this.#now = Math.max(this.#now, next.at);
      next.callback();
    }
    this.#now = target;
  }
}
