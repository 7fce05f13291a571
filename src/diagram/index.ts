export { toMermaid, edgeLabel } from './mermaid.js';
export { toDot } from './dot.js';
export { machineGraph, mergedEdges, allStates, describeGuard, type DiagramGraph, type DiagramState, type DiagramEdge } from './graph.js';
