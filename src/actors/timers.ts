/** setTimeout's longest delay; a longer one fires after 1 ms. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Calls `fn` at epoch ms `deadline` (a deadline beyond setTimeout's range re-arms until it is
 * near). Returns the cancel function.
 */
export function atDeadline(deadline: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const delay = deadline - Date.now();
    if (delay > MAX_TIMER_DELAY_MS) timer = setTimeout(arm, MAX_TIMER_DELAY_MS);
    else timer = setTimeout(fn, Math.max(0, delay));
    timer.unref?.();
  };
  if (Number.isFinite(deadline)) arm();
  return () => clearTimeout(timer);
}
