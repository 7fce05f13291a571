/**
 * docs/cli.md's table of which command takes `--cache-dir` and `--allow-insecure` against the
 * real CLI: each command accepts exactly the options the table says (an option it does not
 * take is a usage error) and its help offers exactly those. Every command of `warden --help`
 * must have a row.
 */
import test from 'ava';
import fs from 'node:fs';
import { warden } from '../helpers/cli.js';

const OPTIONS = [
  ['--cache-dir', ['--cache-dir', '/tmp/warden-options-test-unused']],
  ['--allow-insecure', ['--allow-insecure']],
] as const;

/** The table's rows: each command with yes/no per option, in OPTIONS' order. */
function documented(): Map<string, boolean[]> {
  const doc = fs.readFileSync('docs/cli.md', 'utf8');
  const header = /^\| command \| `--cache-dir DIR` \| `--allow-insecure` \|\n\|[-|]+\|\n((?:\|.*\|\n)+)/m.exec(doc);
  if (!header) throw new Error('docs/cli.md has no table of the options by command');
  const rows = new Map<string, boolean[]>();
  for (const line of header[1]!.trim().split('\n')) {
    const [commands, ...cells] = line.split('|').slice(1, -1).map((cell) => cell.trim());
    const answers = cells.map((cell) => {
      if (/^yes\b/.test(cell)) return true;
      if (/^no\b/.test(cell)) return false;
      throw new Error(`docs/cli.md: "${cell}" says neither yes nor no`);
    });
    for (const [, name] of commands!.matchAll(/`(\w+)`/g)) rows.set(name!, answers);
  }
  return rows;
}

/** The command line that reaches each command's option parsing (cache needs a subcommand). */
const invocation = (command: string): string[] => (command === 'cache' ? ['cache', 'ls'] : [command]);

test('every command of warden --help is in the table', async (t) => {
  const { stdout } = await warden(['--help']);
  const commands = [...stdout.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]!);
  t.true(commands.length >= 7);
  t.deepEqual([...documented().keys()].sort(), commands.sort());
});

for (const [command, accepts] of documented()) {
  test(`warden ${command} takes exactly the shared options docs/cli.md says`, async (t) => {
    const help = await warden([...invocation(command), '--help']);
    t.is(help.code, 0);
    for (const [i, [name, args]] of OPTIONS.entries()) {
      // --help after the option: it is parsed (and refused if unknown) before any work starts.
      const result = await warden([...invocation(command), ...args, '--help']);
      if (accepts[i]) {
        t.is(result.code, 0, `${command} ${name}: ${result.stderr}`);
        t.true(help.stdout.includes(name), `${command}'s help offers ${name}`);
      } else {
        t.is(result.code, 2, `${command} ${name}`);
        t.regex(result.stderr, new RegExp(`^warden ${command}: unknown option ${name}\\n`));
        t.false(help.stdout.includes(name), `${command}'s help does not offer ${name}`);
      }
    }
  });
}
