/**
 * The CLI's parseArgs layer on its own: our messages for every kind of bad command line, a
 * value that starts with a dash taken as a value, and Node's own parseArgs errors (from a
 * command that calls node:util directly) put in the same words.
 */
import test from 'ava';
import { parseArgs as nodeParseArgs } from 'node:util';
import { UsageError, nodeParseArgsMessage, parseArgs } from '../../src/cli/args.js';

const options = {
  input: { type: 'string' },
  timeout: { type: 'string', short: 't' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const parse = (args: string[], allowPositionals = true) => parseArgs({ args, options, strict: true, allowPositionals });

test('good command lines parse as node:util parseArgs would', (t) => {
  const { values, positionals } = parse(['m.wasm', '--input', 'in.txt', '--json', '-t', '2s']);
  t.deepEqual({ ...values }, { input: 'in.txt', json: true, timeout: '2s' });
  t.deepEqual(positionals, ['m.wasm']);
  // "-" is stdin, a positional or a value; after "--" everything is positional.
  t.deepEqual(parse(['-', '--input', '-']).positionals, ['-']);
  t.deepEqual(parse(['--', '--json']).positionals, ['--json']);
});

test('a value that starts with a dash is a value, unless it is one of the options', (t) => {
  t.is(parse(['--timeout', '-5']).values.timeout, '-5');
  t.is(parse(['-t', '-5s']).values.timeout, '-5s');
  t.is(parse(['--input', '-x', 'm']).values.input, '-x');
  t.deepEqual(parse(['--input', '-x', 'm']).positionals, ['m']);
  t.throws(() => parse(['--input', '--json']), { instanceOf: UsageError, message: '--input needs a value, got the option --json' });
  t.throws(() => parse(['--input', '-h']), { instanceOf: UsageError, message: '--input needs a value, got the option -h' });
});

for (const [args, message, allowPositionals] of [
  [['--bogus'], 'unknown option --bogus'],
  [['--inptu', 'x'], 'unknown option --inptu (did you mean --input?)'],
  [['--jsno'], 'unknown option --jsno (did you mean --json?)'],
  [['--tim', '1s'], 'unknown option --tim (did you mean --timeout?)'],
  [['-x'], 'unknown option -x'],
  [['-hx'], 'unknown option -x'],
  [['--timeout'], '--timeout needs a value'],
  [['--json=yes'], '--json takes no value, got "--json=yes"'],
  [['extra'], 'unexpected argument "extra"', false],
] as const) {
  test(`usage error in our words: ${args.join(' ')}`, (t) => {
    t.throws(() => parse([...args], allowPositionals ?? true), { instanceOf: UsageError, message });
  });
}

test("node:util parseArgs errors are put in the same words", (t) => {
  const nodeError = (args: string[], allowPositionals = true): Error & { code?: string } => {
    try {
      nodeParseArgs({ args, options, strict: true, allowPositionals });
    } catch (error) {
      return error as Error & { code?: string };
    }
    throw new Error('parsed');
  };
  t.is(nodeParseArgsMessage(nodeError(['--bogus'])), 'unknown option --bogus');
  t.is(nodeParseArgsMessage(nodeError(['--timeout'])), '--timeout needs a value');
  t.is(nodeParseArgsMessage(nodeError(['--timeout', '-5'])), '--timeout needs a value');
  t.is(nodeParseArgsMessage(nodeError(['--json=1'])), '--json takes no value');
  t.is(nodeParseArgsMessage(nodeError(['x'], false)), 'unexpected argument "x"');
});
