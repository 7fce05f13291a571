import { UsageError } from './args.js';

/** The options `warden serve` and `warden submit` share: where the queue is. */
export const queueOptions = {
  redis: { type: 'string' },
  queue: { type: 'string' },
  prefix: { type: 'string' },
} as const;

export const queueHelp = `  --redis URL        the Redis server: redis://[user:password@]host:port[/db] or rediss://
  --queue NAME       the BullMQ queue
  --prefix P         BullMQ's key prefix (default: bull)`;

/** The required --redis and --queue, checked. */
export function queueOf(values: { redis?: string; queue?: string; prefix?: string }): { redis: string; queue: string; prefix: string | undefined } {
  if (values.redis === undefined) throw new UsageError('missing --redis URL');
  if (!/^rediss?:\/\/./.test(values.redis)) throw new UsageError(`--redis expects a redis:// or rediss:// URL, got "${values.redis}"`);
  if (values.queue === undefined || values.queue.length === 0) throw new UsageError('missing --queue NAME');
  if (values.prefix !== undefined && values.prefix.length === 0) throw new UsageError('--prefix must not be empty');
  return { redis: values.redis, queue: values.queue, prefix: values.prefix };
}

/** A positive whole number given as --option. */
export function parsePositive(option: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${option} expects a positive whole number, got "${text}"`);
  return value;
}

/** A URL fit for a log line: no password. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
