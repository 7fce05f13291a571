import type { AnyStateMachine, StateValue } from 'xstate';
import { getAdjacencyMap, getShortestPaths, getStateNodes } from 'xstate/graph';

/** A path the walk found: the snapshot it ends in and the steps that led there. */
export interface ModelPath<S, E> {
  state: S;
  steps: Array<{ state: S; event: E }>;
}

/** Every snapshot the walk reached, with its outgoing transitions. */
export type Adjacency<S, E> = Record<string, { state: S; transitions: Record<string, { event: E; state: S }> }>;

/** A machine's state nodes, and the `xstate.after.*` events of its delayed transitions (the model takes them like any other event). */
export function stateNodesOf(machine: AnyStateMachine) {
  const stateNodes = getStateNodes(machine.root);
  const afterEvents = [...new Set(stateNodes.flatMap((node) => node.ownEvents))].filter((type) => type.startsWith('xstate.after.'));
  return { stateNodes, afterEvents };
}

/** Walks a machine with xstate/graph: the shortest path to every reachable snapshot, and the adjacency map. */
export function explore<S, E>(machine: AnyStateMachine, traversal: object): { paths: ModelPath<S, E>[]; adjacency: Adjacency<S, E> } {
  return {
    paths: getShortestPaths(machine, traversal as never) as unknown as ModelPath<S, E>[],
    adjacency: getAdjacencyMap(machine, traversal as never) as unknown as Adjacency<S, E>,
  };
}

/** A state node's path (`['running', 'awaiting']`) as the value `snapshot.matches` takes. */
export function valueOf(path: readonly string[]): StateValue {
  const [head, ...rest] = path;
  return rest.length === 0 ? head! : { [head!]: valueOf(rest) };
}
