/**
 * Where Redis is: a `redis://` or `rediss://` URL, or ioredis options. Each warden object opens
 * its own connections from it (BullMQ's, and one for the code store), and closes them.
 */
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import createDebug from 'debug';
import { InvalidOptionError } from '../errors.js';
import { describe } from '../options.js';

const debug = createDebug('warden:bullmq');

/** A Redis URL (`redis://host:6379/0`, `rediss://...`) or ioredis options. */
export type RedisConnection = string | (RedisOptions & { url?: string });

/** Checks the `connection` option and returns it as options with an optional url. */
export function connectionOption(value: unknown): RedisOptions & { url?: string } {
  if (typeof value === 'string') {
    if (!/^rediss?:\/\//.test(value)) {
      throw new InvalidOptionError(`Expected the \`connection\` option to be a redis:// or rediss:// URL, got ${describe(value)}`, {
        details: { option: 'connection' },
      });
    }
    return { url: value };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(`Expected the \`connection\` option to be a Redis URL or ioredis options, got ${describe(value)}`, {
      details: { option: 'connection' },
    });
  }
  return value as RedisOptions & { url?: string };
}

/** A new ioredis client for the same server. */
export function createRedis(connection: RedisOptions & { url?: string }, extra: RedisOptions = {}): Redis {
  const { url, ...rest } = connection;
  const client = url === undefined ? new Redis({ ...rest, ...extra }) : new Redis(url, { ...rest, ...extra });
  // ioredis reconnects by itself; a command issued meanwhile fails on its own. Without a
  // listener every failed attempt would be printed as an unhandled error event.
  client.on('error', (error: Error) => debug('redis: %s', error.message));
  return client;
}

/** Closes a client we opened: QUIT when it is connected, a plain disconnect otherwise. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    if (client.status === 'ready') await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}

/** The same connection as BullMQ takes it (its options type is looser than ioredis'). */
export function bullConnection(connection: RedisOptions & { url?: string }): ConnectionOptions {
  return connection as ConnectionOptions;
}
