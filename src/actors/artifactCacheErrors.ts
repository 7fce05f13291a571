import { CacheIoError } from '../errors.js';

export { CacheIoError };

/** The errno name of a Node fs error, if it is one. @internal */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Wraps a failed fs call as `E_CACHE_IO`, naming the step and the file (and what `extra` adds to its details). @internal */
export function cacheIoError(step: string, file: string, cause: unknown, extra: Record<string, unknown> = {}): CacheIoError {
  const errno = errnoOf(cause) ?? 'unknown';
  return new CacheIoError(`artifact cache: ${step} failed for ${file}: ${(cause as Error)?.message ?? String(cause)}`, {
    cause,
    details: { ...extra, step, errno, path: file },
  });
}
