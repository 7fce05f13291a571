/**
 * Real C programs (test/fixtures/wasi-programs, built with clang and wasi-libc) run through a real
 * host and sandboxed worker, each compared byte for byte with node:wasi on the same argv,
 * environment, files and stdin: stdout, the exit code, stderr, and the files the program leaves.
 * Skipped where the toolchain is missing (Debian packages clang, lld, wasi-libc).
 */
import fs from 'node:fs';
import test from 'ava';
import { createHost, type Host } from '../../src/index.js';
import { ExitError, WardenError } from '../../src/errors.js';
import { tempCacheDir } from '../helpers/host.js';
import { buildWasiPrograms, runNodeWasi, type NodeWasiRun } from '../helpers/wasiPrograms.js';

const built = buildWasiPrograms();
// One at a time: each case also runs node:wasi in a child, and the machine is shared.
const maybe = 'programs' in built ? test.serial : test.skip;
if ('reason' in built) console.warn(`wasiPrograms.test.ts skipped: ${built.reason}`);

interface Case {
  program: string;
  args: string[];
  env?: Record<string, string>;
  files?: Record<string, string>;
  stdin?: string;
  /** stderr is compared too (not for traps: node:wasi prints a stack there). */
  stderr?: boolean;
}

const WORDS = ['pear', 'apple', 'fig', 'apple', 'kiwi', 'pear', 'apple', 'date', 'fig', 'plum'].join('\n') + '\n';

const CASES: Record<string, Case> = {
  'stdio: not a terminal, stdin to its end, stdout buffered': { program: 'stdio', args: ['stdio'], stdin: 'one\ntwo\n\nfour and more\n'.repeat(50), stderr: true },
  'stdio: empty stdin': { program: 'stdio', args: ['stdio'], stderr: true },
  'args and environment': { program: 'argsenv', args: ['argsenv', 'one', 'two words', '', 'ünïcödé'], env: { GREETING: 'hello world', LANG: 'C', EMPTY: '' }, stderr: true },
  'args: exit code 3': { program: 'argsenv', args: ['argsenv', '--fail'], stderr: true },
  'files: read, write, create, rename, unlink, readdir, seek, truncate and their errors': {
    program: 'files',
    args: ['files', 'in.txt'],
    files: { 'in.txt': 'first line\nsecond line\nthird\n', 'keep/untouched.txt': 'left as is' },
    stderr: true,
  },
  'files: a missing input': { program: 'files', args: ['files', 'nope.txt'], stderr: true },
  'the preview 1 file calls, called directly': {
    program: 'surface',
    args: ['surface'],
    files: { 'in.txt': 'hello input\n', 'sub/deep.txt': 'deep' },
    stderr: true,
  },
  'clocks': { program: 'clocks', args: ['clocks'], stderr: true },
  'randomness': { program: 'random', args: ['random'], stderr: true },
  'exit: return 0': { program: 'exitcode', args: ['exitcode', 'return', '0'], stderr: true },
  'exit: exit(7)': { program: 'exitcode', args: ['exitcode', 'exit', '7'], stderr: true },
  'exit: return 255': { program: 'exitcode', args: ['exitcode', 'return', '255'], stderr: true },
  'exit: abort()': { program: 'exitcode', args: ['exitcode', 'abort'] },
  'exit: a trap': { program: 'exitcode', args: ['exitcode', 'trap'] },
  'malloc fails at the memory maximum': { program: 'oom', args: ['oom', '1'], stderr: true },
  'sort | uniq -c, options by getopt, output to a file': {
    program: 'sortuniq',
    args: ['sortuniq', '-r', '-o', 'counts.txt', 'words.txt'],
    files: { 'words.txt': WORDS },
    stderr: true,
  },
  'sort | uniq -c: usage error': { program: 'sortuniq', args: ['sortuniq'], stderr: true },
};

/** One host for every case: the corpus runs through the same worker, job after job. */
let host: Host | undefined;
let cacheDir: string | undefined;

test.before(async () => {
  if (!('programs' in built)) return;
  cacheDir = await tempCacheDir();
  host = await createHost({ cacheDir, executeWorkers: 1 });
});

test.after.always(async () => {
  await host?.close();
  if (cacheDir) fs.rmSync(cacheDir, { recursive: true, force: true });
});

interface WardenRun {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number | undefined;
  trap: string | undefined;
  files: Map<string, Buffer>;
  error: WardenError | undefined;
}

async function runWarden(wasm: Uint8Array, c: Case): Promise<WardenRun> {
  const h = host!;
  const options = { abi: 'wasi' as const, args: c.args, env: c.env ?? {}, files: c.files ?? {} };
  try {
    const result = await h.execute(wasm, Buffer.from(c.stdin ?? ''), options);
    const files = new Map(Object.entries(result.files).map(([k, v]) => [k, Buffer.from(v)]));
    return { stdout: Buffer.from(result.output), stderr: Buffer.from(result.log), exitCode: 0, trap: undefined, files, error: undefined };
  } catch (error) {
    if (!(error instanceof WardenError)) throw error;
    const details = error.details as { output?: Uint8Array; log?: Uint8Array; files?: Record<string, Uint8Array> };
    return {
      stdout: Buffer.from(details.output ?? new Uint8Array(0)),
      stderr: Buffer.from(details.log ?? new Uint8Array(0)),
      exitCode: error instanceof ExitError ? error.exitCode : undefined,
      trap: error.code === 'E_TRAP' ? error.message : undefined,
      files: new Map(Object.entries(details.files ?? {}).map(([k, v]) => [k, Buffer.from(v)])),
      error,
    };
  }
}

/** The files node:wasi's directory holds that the program created or changed: not an input left as given. */
function leftByProgram(node: NodeWasiRun, inputs: Record<string, string>): Map<string, Buffer> {
  return new Map([...node.files].filter(([name, data]) => inputs[name] === undefined || !data.equals(Buffer.from(inputs[name]!))));
}

for (const [title, c] of Object.entries(CASES)) {
  maybe(`${title}: as node:wasi`, async (t) => {
    if (!('programs' in built)) return;
    const wasm = built.programs.get(c.program)!;
    const [node, warden] = await Promise.all([runNodeWasi(wasm, { args: c.args, env: c.env ?? {}, files: c.files ?? {}, stdin: c.stdin ?? '' }), runWarden(wasm, c)]);
    t.is(warden.stdout.toString('utf8'), node.stdout.toString('utf8'), 'stdout');
    t.true(warden.stdout.equals(node.stdout), 'stdout byte for byte');
    if (c.stderr) t.is(warden.stderr.toString('utf8'), node.stderr.toString('utf8'), 'stderr');
    t.is(warden.exitCode, node.exitCode, 'exit code');
    t.is(warden.trap === undefined, node.trap === undefined, `trapped in both or neither (node: ${node.trap}, warden: ${warden.trap})`);
    if (node.trap !== undefined) t.true(warden.trap!.includes(node.trap), `the same trap: ${node.trap}`);
    t.deepEqual(
      [...warden.files].map(([name, data]) => [name, data.toString('utf8')]).sort(),
      [...leftByProgram(node, c.files ?? {})].map(([name, data]) => [name, data.toString('utf8')]).sort(),
      'the files the program left',
    );
    if (node.exitCode !== undefined && node.exitCode !== 0) {
      t.is(warden.error?.code, 'E_EXIT');
      t.true(warden.error?.deterministic);
    }
  });
}

maybe('a program that runs out of memory says so in its E_EXIT', async (t) => {
  if (!('programs' in built)) return;
  const { error } = await runWarden(built.programs.get('oom')!, CASES['malloc fails at the memory maximum']!);
  t.is(error?.code, 'E_EXIT');
  t.regex(error!.message, /exited with code 1 with its memory at \d+ of its maximum of 256 pages/);
  t.is(error?.details.maxMemoryPages, 256);
  t.true((error?.details.memoryPages as number) >= 224);
});
