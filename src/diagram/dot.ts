import type { AnyStateMachine } from 'xstate';
import { machineGraph, mergedEdges, type DiagramState } from './graph.js';
import { edgeLabel } from './mermaid.js';

function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A Graphviz dot digraph of a machine definition, read from the real machine. A compound
 * state is a cluster; its node (a point inside the cluster, named by the state's id) is its
 * initial pseudo state and the anchor of edges to and from the state (`lhead` / `ltail`).
 * A final state has a double border. Edges carry the same labels as in {@link toMermaid};
 * a targetless transition (actions only, the state does not change) is a dashed self-loop
 * whose label starts with `internal:`.
 *
 * @example
 * // warden diagram --format dot --machine worker | dot -Tsvg > worker.svg
 * console.log(toDot(machineDefinitions().worker));
 */
export function toDot(machine: AnyStateMachine): string {
  const graph = machineGraph(machine);
  const compound = new Set<string>();
  const lines = [
    `digraph ${quote(graph.id)} {`,
    '    compound=true;',
    '    rankdir=LR;',
    '    node [shape=box, style=rounded];',
  ];
  const start = `${graph.id}.[*]`;
  lines.push(`    ${quote(start)} [shape=point, label=""];`);
  if (graph.initial !== undefined) lines.push(`    ${quote(start)} -> ${quote(graph.initial)};`);

  const declare = (state: DiagramState, depth: number): void => {
    const pad = '    '.repeat(depth);
    if (state.children.length === 0) {
      lines.push(`${pad}${quote(state.id)} [label=${quote(state.key)}${state.final ? ', peripheries=2' : ''}];`);
      return;
    }
    compound.add(state.id);
    lines.push(`${pad}subgraph ${quote(`cluster_${state.id}`)} {`, `${pad}    label=${quote(state.key)};`);
    lines.push(`${pad}    ${quote(state.id)} [shape=point, label=""];`);
    if (state.initial !== undefined) lines.push(`${pad}    ${quote(state.id)} -> ${quote(state.initial)};`);
    for (const child of state.children) declare(child, depth + 1);
    lines.push(`${pad}}`);
  };
  for (const state of graph.states) declare(state, 1);

  const seen = new Set<string>();
  for (const edge of mergedEdges(graph)) {
    const attrs: string[] = [];
    let line: string;
    if (edge.target === undefined) {
      attrs.push(`label=${quote(`internal: ${edgeLabel(edge)}`)}`, 'style=dashed');
      line = `${quote(edge.source)} -> ${quote(edge.source)}`;
    } else {
      attrs.push(`label=${quote(edgeLabel(edge))}`);
      if (compound.has(edge.source) && edge.source !== edge.target) attrs.push(`ltail=${quote(`cluster_${edge.source}`)}`);
      if (compound.has(edge.target) && edge.source !== edge.target) attrs.push(`lhead=${quote(`cluster_${edge.target}`)}`);
      line = `${quote(edge.source)} -> ${quote(edge.target)}`;
    }
    const full = `    ${line} [${attrs.join(', ')}];`;
    if (seen.has(full)) continue;
    seen.add(full);
    lines.push(full);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
