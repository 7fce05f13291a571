import test from 'ava';
import fs from 'node:fs';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { toDot, toMermaid } from '../../src/diagram/index.js';
import { machineDefinitions } from '../../src/machines/index.js';

const machines = machineDefinitions();
const names = ['worker', 'supervisor'] as const;

/** Every state node and every event of a machine, read straight from the definition (not through src/diagram). */
function inventory(machine: AnyStateMachine): { states: AnyStateNode[]; events: string[]; delays: string[] } {
  const states: AnyStateNode[] = [];
  const events = new Set<string>();
  const delays = new Set<string>();
  const visit = (node: AnyStateNode): void => {
    for (const event of node.transitions.keys()) if (!event.startsWith('xstate.after.')) events.add(event);
    for (const delayed of node.after) delays.add(typeof delayed.delay === 'number' ? `${delayed.delay}ms` : String(delayed.delay));
    for (const child of Object.values(node.states)) {
      states.push(child);
      visit(child);
    }
  };
  visit(machine.root);
  return { states, events: [...events], delays: [...delays] };
}

for (const name of names) {
  const machine = machines[name];
  const { states, events, delays } = inventory(machine);

  test(`${name}: the definition has states, events and delays to draw`, (t) => {
    t.true(states.length >= 5);
    t.true(events.length >= 5);
    t.true(delays.length >= 1);
  });

  test(`${name}: the Mermaid diagram names every state, event and delay`, (t) => {
    const text = toMermaid(machine);
    t.true(text.startsWith('stateDiagram-v2\n'));
    for (const state of states) t.regex(text, new RegExp(`(^|\\s)${state.key}(\\s|:|$)`, 'm'), `state ${state.id}`);
    for (const event of events) t.true(text.includes(event), `event ${event}`);
    for (const delay of delays) t.true(text.includes(`after ${delay}`), `delay ${delay}`);
    t.regex(text, new RegExp(`^    \\[\\*\\] --> ${machine.root.initial!.target[0]!.key}$`, 'm'));
    for (const state of states.filter((s) => s.type === 'final')) t.regex(text, new RegExp(`^\\s*${state.key} --> \\[\\*\\]$`, 'm'));
    for (const state of states.filter((s) => s.type === 'compound')) {
      t.regex(text, new RegExp(`^\\s*state ${state.key} \\{$`, 'm'));
      t.regex(text, new RegExp(`^\\s*\\[\\*\\] --> ${state.initial!.target[0]!.key}$`, 'm'));
    }
  });

  test(`${name}: the dot diagram names every state, event and delay, with a cluster per compound state`, (t) => {
    const text = toDot(machine);
    t.true(text.startsWith(`digraph "${name}" {\n`));
    t.true(text.endsWith('}\n'));
    for (const state of states) t.true(text.includes(`"${state.id}"`), `state ${state.id}`);
    for (const event of events) t.true(text.includes(event), `event ${event}`);
    for (const delay of delays) t.true(text.includes(`after ${delay}`), `delay ${delay}`);
    for (const state of states.filter((s) => s.type === 'compound')) t.true(text.includes(`subgraph "cluster_${state.id}" {`));
    for (const state of states.filter((s) => s.type === 'final')) t.true(text.includes(`"${state.id}" [label="${state.key}", peripheries=2];`));
    t.is(text.split('{').length, text.split('}').length, 'balanced braces');
  });

  test(`${name}: the output is deterministic`, (t) => {
    t.is(toMermaid(machine), toMermaid(machine));
    t.is(toDot(machine), toDot(machine));
    t.is(toMermaid(machine), toMermaid(machineDefinitions()[name]));
  });
}

test('the worker diagram draws delayed, nested and root transitions', (t) => {
  const text = toMermaid(machines.worker);
  t.regex(text, /^ {4}awaiting --> dead: after hardTimeout$/m);
  t.regex(text, /^ {8}populating --> awaiting: POPULATED$/m);
  // Root transitions are drawn from every top-level state that is not final.
  for (const state of ['spawning', 'idle', 'running', 'clearingDir']) t.regex(text, new RegExp(`^    ${state} --> dead: EXITED, KILL \\[isAlive\\]$`, 'm'));
  t.notRegex(text, /^\s*dead --> dead/m);
});

test('targetless transitions are marked as internal, not drawn as state changes', (t) => {
  const mermaid = toMermaid(machines.supervisor);
  t.regex(mermaid, /note right of running\n\s+internal: RESIZE \[isValidSize\]/);
  t.notRegex(mermaid, /--> \w+: RESIZE/);
  t.regex(toDot(machines.supervisor), /"supervisor.running" -> "supervisor.running" \[label="internal: RESIZE \[isValidSize\]", style=dashed\];/);
});

test('docs/architecture.md shows the generated diagrams of the real machines (no drift)', (t) => {
  const doc = fs.readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
  for (const name of names) {
    const match = new RegExp(`<!-- diagram:${name}:start -->\\n(?:<!--.*-->\\n)?\`\`\`mermaid\\n([\\s\\S]*?)\`\`\`\\n<!-- diagram:${name}:end -->`).exec(doc);
    t.truthy(match, `docs/architecture.md has no diagram:${name} markers around a mermaid block`);
    t.is(
      match?.[1],
      toMermaid(machines[name]),
      `The ${name} diagram in docs/architecture.md is out of date with src/machines/. Regenerate it: ` +
        `npm run build && node dist/cli/main.js diagram --machine ${name}, and paste the output between the diagram:${name} markers.`,
    );
  }
});

test('an edge whose guard only adds conditions to another one with the same ends and events is left out', (t) => {
  const worker = toMermaid(machines.worker);
  // The root's EXITED/KILL: [isAlive and hasJob] (report the job lost, then die) and [isAlive] go to the same place.
  t.notRegex(worker, /isAlive and hasJob/);
  t.is(worker.match(/--> dead: EXITED, KILL \[isAlive\]$/gm)?.length, 5);
  // Guards that lead to different targets are all kept.
  const supervisor = toMermaid(machines.supervisor);
  t.regex(supervisor, /^ {4}running --> degraded: SPAWN_FAILED \[isPendingSpawn and wouldCrashLoop\]$/m);
  t.regex(supervisor, /^ {4}running --> backingOff: SPAWN_FAILED \[isPendingSpawn\]$/m);
});
