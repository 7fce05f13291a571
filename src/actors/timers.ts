import { MAX_TIMER_DELAY_MS, systemClock, type Clock, type TimerHandle } from './clock.js';

export { MAX_TIMER_DELAY_MS };

/**
 * Calls `fn` at epoch ms `deadline` on `clock` (a deadline beyond setTimeout's range re-arms
 * until it is near). Returns the cancel function.
 */
export function atDeadline(deadline: number, fn: () => void, clock: Clock = systemClock): () => void {
  let timer: TimerHandle | undefined;
  const arm = (): void => {
    const delay = deadline - clock.now();
    if (delay > MAX_TIMER_DELAY_MS) timer = clock.setTimeout(arm, MAX_TIMER_DELAY_MS);
    else timer = clock.setTimeout(fn, Math.max(0, delay));
    // A deadline must not keep a process alive on its own.
    (timer as { unref?: () => void } | undefined)?.unref?.();
  };
  if (Number.isFinite(deadline)) arm();
  return () => {
    if (timer !== undefined) clock.clearTimeout(timer);
  };
}
