import createDebug from 'debug';
import { EventEmitter } from 'eventemitter3';
import type { HostEvents } from './types.js';

const debug = createDebug('warden:host');

/** Where the host's parts send host events: the host itself. */
export interface EventSink {
  emitSafely<K extends keyof HostEvents>(event: K, ...args: HostEvents[K]): void;
  /** What only listeners need is not built when nobody listens. */
  listenerCount(event: keyof HostEvents): number;
}

/** The host's event emitter: a listener that throws is logged, and breaks neither the host nor the other listeners. */
export class HostEmitter extends EventEmitter<HostEvents> implements EventSink {
  /** @internal */
  emitSafely<K extends keyof HostEvents>(event: K, ...args: HostEvents[K]): void {
    if (this.listenerCount(event) === 0) return;
    // Each listener on its own: one that throws must neither break the host nor keep the
    // listeners after it (metrics, event iterators, other code) from the event.
    for (const listener of this.listeners(event)) {
      // A `once` listener goes before it runs, as in eventemitter3's emit (no-op for the others).
      this.removeListener(event, listener as never, undefined, true);
      try {
        (listener as (...a: HostEvents[K]) => void)(...args);
      } catch (error) {
        debug('listener for %s threw: %o', event, error);
      }
    }
  }
}
