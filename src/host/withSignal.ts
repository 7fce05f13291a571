import { atDeadline } from '../actors/timers.js';
import { AbortedError, DeadlineError } from '../errors.js';

/** Lets one caller give up on a shared promise (its signal or deadline) without affecting others. */
export function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined, deadline: number | undefined): Promise<T> {
  if (!signal && deadline === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cleanup();
      reject(new AbortedError('the caller aborted while the code was being prepared', { cause: signal?.reason }));
    };
    const cancelDeadline =
      deadline === undefined
        ? undefined
        : atDeadline(deadline, () => {
            cleanup();
            reject(new DeadlineError('the deadline passed while the code was being prepared'));
          });
    const cleanup = (): void => {
      signal?.removeEventListener('abort', onAbort);
      cancelDeadline?.();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}
