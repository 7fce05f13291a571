/**
 * The inspector servers a host has started: they close with it, the one whose start raced
 * the host's close included.
 */
import { HostClosedError } from '../errors.js';
import { startInspector, type InspectOptions, type Inspector } from '../inspector/server.js';
import type { InspectedHost } from '../inspector/source.js';

/** Why: no inspector server outlives its host, whichever of the two closes first. */
export class HostInspectors {
  readonly #open = new Set<Inspector>();

  /** Starts a server on `host`; its `close` forgets it, and a host closed meanwhile closes it at once. */
  async start(host: InspectedHost, options: InspectOptions): Promise<Inspector> {
    const inspector = await startInspector(host, options);
    if (host.closed) {
      // close() began while the server started: it would not see this one.
      await inspector.close();
      throw new HostClosedError('the host closed while the inspector was starting');
    }
    this.#open.add(inspector);
    return {
      url: inspector.url,
      close: () => {
        this.#open.delete(inspector);
        return inspector.close();
      },
    };
  }

  /** Why: the host's close ends every server still open. */
  closeAll(): Promise<void> {
    return Promise.all([...this.#open].map((inspector) => inspector.close())).then(() => {});
  }
}
