import { toDot, toMermaid } from '../diagram/index.js';
import { machineDefinitions } from '../machines/index.js';
import { helpOption, parseArgs, parseChoice, requirePositionals } from './args.js';

export const diagramHelp = `Usage: warden diagram [--format mermaid|dot] [--machine worker|supervisor|all]

Prints state diagrams of the worker and supervisor machines, generated from the machine
definitions the host runs (so they cannot drift from the code).

Options:
  --format F    mermaid (a stateDiagram-v2, default) or dot (Graphviz)
  --machine M   worker, supervisor or all (default: all). One machine prints one diagram;
                all prints, in Mermaid, a Markdown document with a fenced mermaid block
                per machine (a Mermaid document holds one diagram), in dot, one graph
                after the other
  -h, --help    show this help

Examples:
  warden diagram --machine worker
  warden diagram --format dot --machine supervisor | dot -Tsvg > supervisor.svg

Exit code: 0, or 2 for a usage error.`;

const formats = ['mermaid', 'dot'] as const;
const machines = ['worker', 'supervisor', 'all'] as const;

/**
 * Several Mermaid diagrams as one Markdown document, a heading and a fenced block each:
 * a Mermaid document holds one diagram, so two in one stream would parse as neither, while
 * Markdown renderers (GitHub, mermaid-cli's `-i file.md`) draw each block.
 */
export function mermaidMarkdown(diagrams: { name: string; text: string }[]): string {
  return diagrams.map(({ name, text }) => `## ${name} machine\n\n\`\`\`mermaid\n${text}\`\`\`\n`).join('\n');
}

/** `warden diagram`: the machines' state diagrams, from their definitions. */
export async function diagramCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { format: { type: 'string' }, machine: { type: 'string' }, ...helpOption },
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
  const diagrams = names.map((name) => ({ name, text: render(definitions[name]) }));
  process.stdout.write(diagrams.length > 1 && format === 'mermaid' ? mermaidMarkdown(diagrams) : diagrams.map((d) => d.text).join('\n'));
  return 0;
}
