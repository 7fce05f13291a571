import { supervisorMachine } from './supervisorMachine.js';
import { workerMachine } from './workerMachine.js';

export { workerMachine, provideWorkerActions } from './workerMachine.js';
export { supervisorMachine, provideSupervisorActions } from './supervisorMachine.js';
export { resolveSupervisorInput, isPoolSize } from './supervisorInput.js';
export * from './workerTypes.js';
export * from './supervisorTypes.js';

/**
 * The real machine definitions, for tools that draw or inspect them (diagrams in the docs,
 * `xstate/graph`): they read the machines the host runs, never a copy that could drift.
 *
 * @example
 * import { toDirectedGraph } from 'xstate/graph';
 * const graph = toDirectedGraph(machineDefinitions().worker);
 */
export function machineDefinitions() {
  return { worker: workerMachine, supervisor: supervisorMachine };
}
