import test from 'ava';
import { toDot, toMermaid } from '../../src/diagram/index.js';
import { machineDefinitions } from '../../src/machines/index.js';
import { warden } from '../helpers/cli.js';

const machines = machineDefinitions();

test('warden diagram prints both machines by default, as Markdown with a fenced mermaid block each', async (t) => {
  const { code, stdout } = await warden(['diagram']);
  t.is(code, 0);
  // A Mermaid document holds one diagram: two need a container (test/diagram/mermaid.test.ts parses them).
  t.is(
    stdout,
    `## worker machine\n\n\`\`\`mermaid\n${toMermaid(machines.worker)}\`\`\`\n\n## supervisor machine\n\n\`\`\`mermaid\n${toMermaid(machines.supervisor)}\`\`\`\n`,
  );
});

test('warden diagram --format dot --machine picks the format and the machine', async (t) => {
  const worker = await warden(['diagram', '--format', 'dot', '--machine', 'worker']);
  t.is(worker.code, 0);
  t.is(worker.stdout, toDot(machines.worker));
  const supervisor = await warden(['diagram', '--machine', 'supervisor', '--format', 'mermaid']);
  t.is(supervisor.code, 0);
  t.is(supervisor.stdout, toMermaid(machines.supervisor));
  const all = await warden(['diagram', '--format', 'dot']);
  t.is(all.stdout, `${toDot(machines.worker)}\n${toDot(machines.supervisor)}`);
});

test('warden diagram --help, and usage errors exit 2', async (t) => {
  const help = await warden(['diagram', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Usage: warden diagram/);
  t.regex((await warden(['--help'])).stdout, /diagram/);
  for (const [args, message] of [
    [['diagram', '--format', 'svg'], /--format expects one of mermaid, dot, got "svg"/],
    [['diagram', '--machine', 'pool'], /--machine expects one of worker, supervisor, all, got "pool"/],
    [['diagram', '--nope'], /nope/],
    [['diagram', '--format'], /format/],
    [['diagram', 'extra'], /unexpected argument "extra"/],
  ] as const) {
    const result = await warden([...args]);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, message);
    t.regex(result.stderr, /warden diagram --help/);
    t.is(result.stdout, '');
  }
});
