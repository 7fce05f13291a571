/**
 * `host.events()`: the host's events as an async iterator, for consumers that pull (and may
 * fall behind) rather than take callbacks. The buffer is bounded; what a slow consumer misses
 * is counted and reported in order by an `events:overflow` record, never lost silently.
 */
import { setMaxListeners } from 'node:events';
import createDebug from 'debug';
import type { EventEmitter } from 'eventemitter3';
import { InvalidOptionError } from './errors.js';
import type { HostEvents } from './host/types.js';
import { describe, positiveInteger } from './options.js';

const debug = createDebug('warden:events');

export type HostEventType = keyof HostEvents;

/** Every host event type; a `Record` so that adding an event to `HostEvents` without listing it here fails to compile. */
const TYPES: Record<HostEventType, true> = {
  'security:status': true,
  'security:warning': true,
  'worker:spawned': true,
  'worker:state': true,
  'worker:exited': true,
  'job:queued': true,
  'job:started': true,
  'job:succeeded': true,
  'job:failed': true,
  'artifact:prepared': true,
  'artifact:deleted': true,
  'artifact:pruned': true,
  'pool:degraded': true,
  'pool:recovered': true,
};

/** The names of all host events, in the order of `HostEvents`. */
export const HOST_EVENT_TYPES = Object.keys(TYPES) as readonly HostEventType[];

/** One host event as the iterator yields it: its type, its payload and when it was emitted (epoch ms). */
export type HostEvent = { [K in HostEventType]: { type: K; data: HostEvents[K][0]; time: number } }[HostEventType];

/** The consumer fell behind: `dropped` events were not buffered. Comes in order, just before the next event delivered. */
export interface OverflowRecord {
  type: 'events:overflow';
  data: { dropped: number };
  time: number;
}

export type HostEventRecord = HostEvent | OverflowRecord;

export interface EventsOptions {
  /** Events buffered for a consumer that has not asked for them yet. Default 1024. */
  bufferSize?: number;
  /** Only these event types. Default: all. */
  types?: readonly HostEventType[];
}

export const DEFAULT_EVENT_BUFFER_SIZE = 1024;

/**
 * Subscribes at once (nothing emitted after this call is missed) and yields `{ type, data, time }`
 * records until `ended` aborts (the host closed; buffered records are still delivered) or the
 * consumer stops (`break`, `return()`), which unsubscribes.
 */
export function eventStream(
  emitter: EventEmitter<HostEvents>,
  options: EventsOptions,
  ended: AbortSignal,
): AsyncIterableIterator<HostEventRecord> {
  const { bufferSize, types } = eventsOptions(options);
  const buffer: HostEventRecord[] = [];
  const waiting: ((result: IteratorResult<HostEventRecord>) => void)[] = [];
  let dropped = 0;
  let done = false;

  const overflow = (): OverflowRecord => {
    const record: OverflowRecord = { type: 'events:overflow', data: { dropped }, time: Date.now() };
    dropped = 0;
    return record;
  };
  const push = (record: HostEvent): void => {
    const waiter = waiting.shift();
    // A consumer waiting on an empty buffer has already been told of any drop.
    if (waiter) return waiter({ value: record, done: false });
    // The overflow record needs a slot of its own, just before the event.
    if (buffer.length + (dropped > 0 ? 2 : 1) > bufferSize) {
      if (dropped === 0) debug('a consumer fell behind (%d events buffered): dropping until it reads', buffer.length);
      dropped++;
      return;
    }
    if (dropped > 0) buffer.push(overflow());
    buffer.push(record);
  };
  const listeners = types.map((type) => {
    const listener = (data: unknown): void => push({ type, data, time: Date.now() } as HostEvent);
    emitter.on(type, listener as never);
    return { type, listener };
  });
  const finish = (): void => {
    if (done) return;
    done = true;
    for (const { type, listener } of listeners) emitter.off(type, listener as never);
    ended.removeEventListener('abort', finish);
    for (const waiter of waiting.splice(0)) waiter({ value: undefined, done: true });
  };
  if (ended.aborted) finish();
  else {
    // One listener per open iterator (each inspector page has one), removed as it ends: many
    // at once are no leak, so no "possible memory leak" warning past Node's default of 10.
    setMaxListeners(0, ended);
    ended.addEventListener('abort', finish, { once: true });
  }

  return {
    next(): Promise<IteratorResult<HostEventRecord>> {
      const record = buffer.shift() ?? (dropped > 0 ? overflow() : undefined);
      if (record) return Promise.resolve({ value: record, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => waiting.push(resolve));
    },
    return(): Promise<IteratorResult<HostEventRecord>> {
      finish();
      buffer.length = 0;
      dropped = 0;
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

function eventsOptions(options: EventsOptions): { bufferSize: number; types: readonly HostEventType[] } {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`Expected the events options to be an object, got ${describe(options)}`);
  }
  const bufferSize = positiveInteger('bufferSize', options.bufferSize, DEFAULT_EVENT_BUFFER_SIZE);
  const types = options.types ?? HOST_EVENT_TYPES;
  if (!Array.isArray(types) || types.length === 0 || !types.every((type) => Object.hasOwn(TYPES, type))) {
    throw new InvalidOptionError(`Expected the \`types\` option to be a non-empty array of host event types (${HOST_EVENT_TYPES.join(', ')}), got ${describe(types)}`, {
      details: { option: 'types' },
    });
  }
  return { bufferSize, types: [...new Set(types)] };
}
