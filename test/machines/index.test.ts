import test from 'ava';
import { toDirectedGraph } from 'xstate/graph';
import {
  machineDefinitions,
  supervisorActionNames,
  supervisorMachine,
  workerActionNames,
  workerMachine,
} from '../../src/machines/index.js';

test('machineDefinitions returns the machines the host runs, not copies', (t) => {
  const definitions = machineDefinitions();
  t.is(definitions.worker, workerMachine);
  t.is(definitions.supervisor, supervisorMachine);
});

test('the exported action names are exactly the actions each machine lets the host provide', (t) => {
  t.deepEqual(Object.keys(workerMachine.implementations.actions).sort(), [...workerActionNames].sort());
  t.deepEqual(Object.keys(supervisorMachine.implementations.actions).sort(), [...supervisorActionNames].sort());
});

test('the definitions can be drawn: every state appears in the directed graph', (t) => {
  const ids = (node: ReturnType<typeof toDirectedGraph>): string[] => [node.id, ...node.children.flatMap(ids)];
  t.deepEqual(ids(toDirectedGraph(workerMachine)), [
    'worker',
    'worker.spawning',
    'worker.idle',
    'worker.running',
    'worker.running.populating',
    'worker.running.awaiting',
    'worker.running.collecting',
    'worker.clearingDir',
    'worker.retiring',
    'worker.dead',
  ]);
  t.deepEqual(ids(toDirectedGraph(supervisorMachine)), [
    'supervisor',
    'supervisor.running',
    'supervisor.backingOff',
    'supervisor.degraded',
    'supervisor.degraded.waiting',
    'supervisor.degraded.probing',
    'supervisor.stopped',
  ]);
});
