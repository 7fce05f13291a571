import type { StateValue } from 'xstate';
import { allStates, machineGraph, mergedEdges } from '../diagram/index.js';
import { edgeLabel } from '../diagram/mermaid.js';
import { machineDefinitions } from '../machines/index.js';
import type { InspectedHost } from './source.js';

/** A machine's chart as the page draws it: flat states (parents by id) and merged edges. */
export interface ChartGraph {
  /** `worker` or `supervisor`: also the prefix of every state id. */
  machine: string;
  initial: string | undefined;
  states: { id: string; key: string; parent: string | undefined; final: boolean; initial: string | undefined }[];
  /**
   * Targetless transitions (actions only) are left out: they draw no arrow. `fromRoot`: declared
   * on the machine's root, so taken from any live top-level state (the page draws those once).
   */
  edges: { source: string; target: string; label: string; fromRoot: boolean }[];
}

/** The charts of the real machine definitions; computed once, they never change. */
export function machineCharts(): ChartGraph[] {
  return Object.entries(machineDefinitions()).map(([name, machine]) => {
    const graph = machineGraph(machine);
    return {
      machine: name,
      initial: graph.initial,
      states: allStates(graph).map(({ id, key, parent, final, initial }) => ({ id, key, parent, final, initial })),
      edges: mergedEdges(graph).flatMap((edge) =>
        edge.target === undefined ? [] : [{ source: edge.source, target: edge.target, label: edgeLabel(edge), fromRoot: edge.fromRoot === true }],
      ),
    };
  });
}

/** `{ degraded: 'waiting' }` → `degraded.waiting`: the state path a chart's ids end with. */
export function statePath(value: StateValue): string {
  if (typeof value === 'string') return value;
  const [key, child] = Object.entries(value)[0] ?? ['?', undefined];
  return child === undefined ? key : `${key}.${statePath(child)}`;
}

/** What `/state` answers: the live picture of the host, as JSON. */
export function hostSnapshot(host: InspectedHost) {
  return {
    time: Date.now(),
    closed: host.closed,
    workers: host.workers(),
    pools: host.pools().map((pool) => ({ kind: pool.kind, state: statePath(pool.state), degraded: pool.degraded })),
    queues: host.queueSizes(),
    security: host.securityStatus,
  };
}
