/**
 * Extra data the inspector shows beside the host's own: a part of warden that runs with a host
 * (a queue node, say) registers a reader under a name, and `/panels` answers every reader's
 * latest value. Kept apart from the host so that the host knows nothing of its users.
 */
import type { InspectedHost } from './source.js';

type Reader = () => Promise<unknown>;

const panelsOf = new WeakMap<InspectedHost, Map<string, Reader>>();

/** Registers (or replaces) a panel of `host`'s inspector; the returned function removes it. */
export function addInspectorPanel(host: InspectedHost, name: string, read: Reader): () => void {
  let panels = panelsOf.get(host);
  if (!panels) {
    panels = new Map();
    panelsOf.set(host, panels);
  }
  panels.set(name, read);
  return () => {
    if (panels.get(name) === read) panels.delete(name);
  };
}

/** Every panel's current value; a reader that fails shows its error instead of failing the rest. */
export async function inspectorPanels(host: InspectedHost): Promise<Record<string, unknown>> {
  const panels = panelsOf.get(host);
  if (!panels) return {};
  const entries = await Promise.all(
    [...panels].map(async ([name, read]) => {
      try {
        return [name, await read()] as const;
      } catch (error) {
        return [name, { error: (error as Error).message }] as const;
      }
    }),
  );
  return Object.fromEntries(entries);
}
