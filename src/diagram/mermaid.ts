import type { AnyStateMachine } from 'xstate';
import { allStates, machineGraph, mergedEdges, type DiagramEdge, type DiagramGraph, type DiagramState } from './graph.js';

/** The label of an edge: the event (or `after <delay>`), then the guard in brackets. */
export function edgeLabel(edge: DiagramEdge): string {
  return edge.guard === undefined ? edge.label : `${edge.label} [${edge.guard}]`;
}

/** Mermaid needs ids unique across the diagram: a state's key, or its path if another state has the same key. */
function mermaidIds(graph: DiagramGraph): Map<string, string> {
  const states = allStates(graph);
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s.key, (counts.get(s.key) ?? 0) + 1);
  const safe = (text: string) => text.replace(/[^A-Za-z0-9_]/g, '_');
  return new Map(states.map((s) => [s.id, safe(counts.get(s.key) === 1 ? s.key : s.id)]));
}

/** The ancestors of a state, outermost first, itself excluded (top-level states have none). */
function ancestors(byId: Map<string, DiagramState>, id: string): string[] {
  const out: string[] = [];
  for (let parent = byId.get(id)?.parent; parent !== undefined; parent = byId.get(parent)?.parent) out.unshift(parent);
  return out;
}

/** The innermost compound state holding both ends of an edge (`undefined`: the diagram's top level). */
function container(byId: Map<string, DiagramState>, edge: DiagramEdge): string | undefined {
  const a = ancestors(byId, edge.source);
  const b = ancestors(byId, edge.target ?? edge.source);
  let common: string | undefined;
  for (let i = 0; i < a.length && a[i] === b[i]; i++) common = a[i];
  return common;
}

/**
 * A Mermaid `stateDiagram-v2` of a machine definition, read from the real machine:
 * compound states are composite states, `[*] -->` marks initial states and `--> [*]` final
 * ones, edges carry the event (`after <delay>` for a delayed transition, with the delay's
 * name when it has one) and the guard in brackets; edges with the same ends and guard are
 * merged (`EXITED, KILL [isAlive]`). Transitions on the machine's root are
 * drawn from every top-level state that is not final. Targetless transitions (actions only,
 * the state does not change) are not drawn as edges: they are listed in a note on their
 * state, each line starting with `internal:`.
 *
 * @example
 * console.log(toMermaid(machineDefinitions().worker));
 */
export function toMermaid(machine: AnyStateMachine): string {
  const graph = machineGraph(machine);
  const ids = mermaidIds(graph);
  const byId = new Map(allStates(graph).map((s) => [s.id, s]));
  const id = (stateId: string) => ids.get(stateId) ?? stateId;
  const lines = ['stateDiagram-v2'];
  const edges = mergedEdges(graph);
  const seen = new Set<string>();

  const block = (owner: string | undefined, children: DiagramState[], initial: string | undefined, depth: number): void => {
    const pad = '    '.repeat(depth);
    if (initial !== undefined) lines.push(`${pad}[*] --> ${id(initial)}`);
    for (const child of children) {
      if (child.children.length > 0) {
        lines.push(`${pad}state ${id(child.id)} {`);
        block(child.id, child.children, child.initial, depth + 1);
        lines.push(`${pad}}`);
      }
    }
    for (const edge of edges) {
      if (edge.target === undefined || container(byId, edge) !== owner) continue;
      const line = `${pad}${id(edge.source)} --> ${id(edge.target)}: ${edgeLabel(edge)}`;
      if (seen.has(line)) continue;
      seen.add(line);
      lines.push(line);
    }
    for (const child of children) {
      const internal = [...new Set(edges.filter((e) => e.target === undefined && e.source === child.id).map(edgeLabel))];
      if (internal.length === 0) continue;
      lines.push(`${pad}note right of ${id(child.id)}`, ...internal.map((label) => `${pad}    internal: ${label}`), `${pad}end note`);
    }
    for (const child of children) if (child.final) lines.push(`${pad}${id(child.id)} --> [*]`);
  };

  block(undefined, graph.states, graph.initial, 1);
  return `${lines.join('\n')}\n`;
}
