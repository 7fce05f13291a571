import { parseArgs } from 'node:util';
import { toDot, toMermaid } from '../diagram/index.js';
import { machineDefinitions } from '../machines/index.js';
import { parseChoice, requirePositionals } from './args.js';

export const diagramHelp = `Usage: warden diagram [--format mermaid|dot] [--machine worker|supervisor|all]

Prints state diagrams of the worker and supervisor machines, generated from the machine
definitions the host runs (so they cannot drift from the code).

Options:
  --format F    mermaid (a stateDiagram-v2, default) or dot (Graphviz)
  --machine M   worker, supervisor or all (default: all, one diagram after the other)
  -h, --help    show this help

Examples:
  warden diagram --machine worker
  warden diagram --format dot --machine supervisor | dot -Tsvg > supervisor.svg`;

const formats = ['mermaid', 'dot'] as const;
const machines = ['worker', 'supervisor', 'all'] as const;

export async function diagramCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { format: { type: 'string' }, machine: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${diagramHelp}\n`);
    return 0;
  }
  requirePositionals(positionals, []);
  const format = parseChoice('format', values.format ?? 'mermaid', formats);
  const which = parseChoice('machine', values.machine ?? 'all', machines);
  const definitions = machineDefinitions();
  const render = format === 'dot' ? toDot : toMermaid;
  const names = which === 'all' ? (['worker', 'supervisor'] as const) : [which];
  process.stdout.write(names.map((name) => render(definitions[name])).join('\n'));
  return 0;
}
