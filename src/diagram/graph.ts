import type { AnyStateMachine, AnyStateNode } from 'xstate';

/**
 * A machine definition reduced to what a diagram draws. Everything is read from the real
 * `StateNode`s and kept in definition order, so the same definition always gives the same
 * graph (and the same text, byte for byte).
 */
export interface DiagramState {
  /** The XState id, unique in the machine: `worker.running.awaiting`. */
  id: string;
  /** The state's own key: `awaiting`. */
  key: string;
  /** The id of the parent, `undefined` for a top-level state. */
  parent: string | undefined;
  final: boolean;
  /** The id of the initial child of a compound state. */
  initial: string | undefined;
  children: DiagramState[];
}

export interface DiagramEdge {
  source: string;
  /** `undefined` for a targetless transition: it runs its actions, the state does not change. */
  target: string | undefined;
  /** `SPAWNED`, `after hardTimeout`, `after 500ms`, `always`. */
  label: string;
  /** The guard in words, `isAlive and hasJob`, or `undefined`. */
  guard: string | undefined;
  /** Declared on the machine's root: it applies in every live top-level state (drawn from each). */
  fromRoot?: boolean;
}

export interface DiagramGraph {
  id: string;
  /** The top-level states. */
  states: DiagramState[];
  /** The initial top-level state. */
  initial: string | undefined;
  edges: DiagramEdge[];
}

type GuardLike = string | { type?: unknown } | ((...args: never[]) => unknown) | undefined;

/** A guard in words: a named guard, `and` / `or` / `not` of guards, `in #state`. */
export function describeGuard(guard: unknown): string | undefined {
  const g = guard as GuardLike;
  if (g === undefined || g === null) return undefined;
  if (typeof g === 'string') return g;
  if (typeof g === 'function') {
    const combined = (g as { guards?: unknown[] }).guards;
    if (Array.isArray(combined)) {
      const parts = combined.map((inner) => describeGuard(inner) ?? '?');
      if (g.name === 'not') return `not ${parts.length === 1 ? parts[0]! : `(${parts.join(' and ')})`}`;
      const wrap = (p: string) => (/ (and|or) /.test(p) ? `(${p})` : p);
      return parts.map(wrap).join(g.name === 'or' ? ' or ' : ' and ');
    }
    const stateValue = (g as { stateValue?: unknown }).stateValue;
    if (stateValue !== undefined) return `in ${typeof stateValue === 'string' ? stateValue : JSON.stringify(stateValue)}`;
    return g.name || 'guard';
  }
  if (typeof g.type === 'string') return g.type;
  return 'guard';
}

function delayLabel(delay: string | number): string {
  return typeof delay === 'number' ? `after ${delay}ms` : `after ${delay}`;
}

interface TransitionLike {
  target?: ReadonlyArray<{ id: string }> | undefined;
  guard?: unknown;
}

function toEdges(sources: string[], label: string, transitions: readonly TransitionLike[], fromRoot: boolean): DiagramEdge[] {
  const edges: DiagramEdge[] = [];
  for (const transition of transitions) {
    const guard = describeGuard(transition.guard);
    const targets = transition.target && transition.target.length > 0 ? transition.target.map((t) => t.id) : [undefined];
    for (const source of sources) for (const target of targets) edges.push({ source, target, label, guard, ...(fromRoot ? { fromRoot } : {}) });
  }
  return edges;
}

function stateOf(node: AnyStateNode, parent: string | undefined): DiagramState {
  const children = Object.values(node.states as Record<string, AnyStateNode>).map((child) => stateOf(child, node.id));
  return {
    id: node.id,
    key: node.key,
    parent,
    final: node.type === 'final',
    initial: node.type === 'compound' ? node.initial?.target?.[0]?.id : undefined,
    children,
  };
}

/** Every transition a node declares: events first (definition order), then `always`, then delays. */
function edgesOf(node: AnyStateNode, sources: string[], fromRoot = false): DiagramEdge[] {
  const edges: DiagramEdge[] = [];
  for (const [event, transitions] of node.transitions as Map<string, TransitionLike[]>) {
    if (event.startsWith('xstate.after.')) continue; // drawn from `node.after`, with the delay's name
    edges.push(...toEdges(sources, event, transitions, fromRoot));
  }
  edges.push(...toEdges(sources, 'always', (node.always ?? []) as TransitionLike[], fromRoot));
  for (const delayed of node.after as ReadonlyArray<TransitionLike & { delay: string | number }>) {
    edges.push(...toEdges(sources, delayLabel(delayed.delay), [delayed], fromRoot));
  }
  return edges;
}

/**
 * Reads a machine definition into a {@link DiagramGraph}.
 *
 * Transitions declared on the machine's root apply in every state: they are drawn from each
 * top-level state that is not final (an actor stops in a final state). Transitions declared
 * on a compound state are drawn from that state. Targetless transitions (actions only, the
 * state does not change) are kept, with `target: undefined`; each format marks them.
 *
 * @example
 * const graph = machineGraph(machineDefinitions().worker);
 */
export function machineGraph(machine: AnyStateMachine): DiagramGraph {
  const root = machine.root as AnyStateNode;
  const states = Object.values(root.states as Record<string, AnyStateNode>).map((node) => stateOf(node, undefined));
  const edges: DiagramEdge[] = [];
  edges.push(...edgesOf(root, states.filter((s) => !s.final).map((s) => s.id), true));
  const visit = (node: AnyStateNode): void => {
    edges.push(...edgesOf(node, [node.id]));
    for (const child of Object.values(node.states as Record<string, AnyStateNode>)) visit(child);
  };
  for (const child of Object.values(root.states as Record<string, AnyStateNode>)) visit(child);
  return { id: root.id, states, initial: root.initial?.target?.[0]?.id, edges };
}

/** All states, depth first in definition order. */
export function allStates(graph: DiagramGraph): DiagramState[] {
  const out: DiagramState[] = [];
  const visit = (state: DiagramState): void => {
    out.push(state);
    state.children.forEach(visit);
  };
  graph.states.forEach(visit);
  return out;
}

/** The conditions of a guard made only of `and` (`isAlive and hasJob`); none for no guard; `undefined` for any other guard. */
function conjuncts(guard: string | undefined): Set<string> | undefined {
  if (guard === undefined) return new Set();
  return /[()]|\bor\b|\bnot\b|\bin\b/.test(guard) ? undefined : new Set(guard.split(' and '));
}

/** Whether guard `a` only adds conditions to guard `b` (`isAlive and hasJob` to `isAlive`). */
function addsConditions(a: string | undefined, b: string | undefined): boolean {
  const more = conjuncts(a);
  const fewer = conjuncts(b);
  return more !== undefined && fewer !== undefined && more.size > fewer.size && [...fewer].every((c) => more.has(c));
}

/**
 * Edges with the same source, target and guard merged into one, their labels joined with
 * `, ` (`EXITED, KILL [isAlive]`), in the order of their first occurrence. Then an edge whose
 * guard only adds conditions to another's with the same ends and events is left out: the
 * machine goes the same way whenever the weaker guard holds, so the stronger one changes
 * nothing a diagram shows (it exists for its actions, which are not drawn):
 * `EXITED, KILL [isAlive and hasJob]` beside `EXITED, KILL [isAlive]`.
 */
export function mergedEdges(graph: DiagramGraph): DiagramEdge[] {
  const merged = new Map<string, { edge: DiagramEdge; labels: string[] }>();
  for (const edge of graph.edges) {
    const key = JSON.stringify([edge.source, edge.target ?? null, edge.guard ?? null]);
    const entry = merged.get(key);
    if (!entry) merged.set(key, { edge, labels: [edge.label] });
    else if (!entry.labels.includes(edge.label)) entry.labels.push(edge.label);
  }
  const edges = [...merged.values()].map(({ edge, labels }) => ({ ...edge, label: labels.join(', ') }));
  // Targetless edges are kept as they are: their guards decide which actions run, which is all they draw.
  return edges.filter(
    (edge) =>
      edge.target === undefined ||
      !edges.some((other) => other !== edge && other.source === edge.source && other.target === edge.target && other.label === edge.label && addsConditions(edge.guard, other.guard)),
  );
}
