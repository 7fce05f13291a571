import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CacheLock } from '../../src/actors/cacheLock.js';
import { DEFAULT_LIMITS } from '../../src/options.js';
import { tempCacheDir, waitFor, workerDirsIn, workerProcesses } from '../helpers/host.js';
import { needsExamples } from '../helpers/examples.js';
import { onTerminal } from '../helpers/terminal.js';
import { wat } from '../helpers/wat.js';

const cli = path.resolve('dist/cli/main.js');
const examplesDir = path.resolve('examples');

interface CliResult {
  code: number | null;
  /** The signal that killed the CLI, if one did (then code is null). */
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Starts the compiled CLI; `stdin` is written and closed (else stdin is empty). */
function start(args: string[], stdin?: Uint8Array): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH }, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin!.end(stdin);
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8') }));
  });
  return { child, result };
}

function warden(args: string[], stdin?: Uint8Array): Promise<CliResult> {
  return start(args, stdin).result;
}

/** A fresh cache dir for one test; after it, no worker dir or worker process may be left. */
async function cacheDirFor(t: ExecutionContext): Promise<string> {
  const cacheDir = await tempCacheDir('warden-cli-');
  t.teardown(async () => {
    const dirs = workerDirsIn(cacheDir);
    const processes = await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0);
    fs.rmSync(cacheDir, { recursive: true, force: true });
    if (dirs.length > 0) throw new Error(`worker dirs left behind: ${dirs.join(', ')}`);
    if (processes.length > 0) throw new Error(`worker processes left behind: ${processes.join(', ')}`);
  });
  return cacheDir;
}

/** Writes a file into a temp dir removed after the test. */
function tempFile(t: ExecutionContext, name: string, bytes: Uint8Array): string {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'warden-cli-file-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

const example = (file: string): string => path.join(examplesDir, file);

/** A run-ABI module with `__heap_base` and the given body of `run` (params $ptr $len, i64 result). */
const runModule = (body: string, extra = ''): Uint8Array =>
  wat(`(module
    (memory (export "memory") 1)
    (global (export "__heap_base") i32 (i32.const 1024))
    ${extra}
    (func (export "run") (param $ptr i32) (param $len i32) (result i64) ${body}))`);

const TRAPS = runModule('unreachable');
const LOOPS_FOREVER = runModule('(loop $forever (br $forever)) (i64.const 0)');
/** Returns the 3 bytes ff fe 00 at address 0: not UTF-8. */
const BINARY_OUTPUT = runModule('(i64.shl (i64.const 3) (i64.const 32))', '(data (i32.const 0) "\\ff\\fe\\00")');

interface Example {
  name: string;
  abi: 'run' | 'wasi';
  wasm: string;
  input: string;
  expected: string;
  expectedStderr?: string;
}

const { examples } = JSON.parse(fs.readFileSync(example('examples.json'), 'utf8')) as { examples: Example[] };

for (const ex of examples) {
  // The C examples are optional (they need clang and wasi-libc): their tests skip, saying so, when not built.
  needsExamples([ex.name], test)(`run ${ex.name}: its input gives exactly the expected output (abi from the exports)`, async (t) => {
    const cacheDir = await cacheDirFor(t);
    const { code, stdout, stderr } = await warden(['run', example(ex.wasm), '--input', example(ex.input), '--cache-dir', cacheDir]);
    t.is(code, 0, stderr);
    t.deepEqual(stdout, fs.readFileSync(example(ex.expected)));
    t.is(stderr, ex.expectedStderr === undefined ? '' : fs.readFileSync(example(ex.expectedStderr), 'utf8'));
  });
}

const wordcount = examples.find((e) => e.name === 'wordcount')!;
needsExamples(['wordcount'], test)('run --abi wasi runs a WASI command explicitly; --abi run on it is a usage error', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const wasi = await warden(['run', example(wordcount.wasm), '--abi', 'wasi', '--input', example(wordcount.input), '--cache-dir', cacheDir]);
  t.is(wasi.code, 0, wasi.stderr);
  t.deepEqual(wasi.stdout, fs.readFileSync(example(wordcount.expected)));
  t.is(wasi.stderr, fs.readFileSync(example(wordcount.expectedStderr!), 'utf8'));
  const wrong = await warden(['run', example(wordcount.wasm), '--abi', 'run', '--cache-dir', cacheDir]);
  t.is(wrong.code, 2);
  t.regex(wrong.stderr, /^warden run: --abi run runs a module through `run`, which .*wordcount.wasm does not export \(it exports memory, _start; its exports imply --abi wasi, the default\)\n/);
});

needsExamples(['wordcount'], test)('run --input - streams a 1 MiB stdin into a WASI module', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const input = Buffer.from('a b\n'.repeat(262_144));
  const { code, stdout, stderr } = await warden(['run', example(wordcount.wasm), '--input', '-', '--cache-dir', cacheDir], input);
  t.is(code, 0, stderr);
  t.is(stdout.toString(), '262144 524288 1048576\n');
  t.is(stderr, 'wordcount: read 1048576 bytes\n');
});

test('run reads the input from stdin with --input -', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const { code, stdout, stderr } = await warden(['run', example('build/sha256.wasm'), '--input', '-', '--cache-dir', cacheDir], Buffer.from('abc'));
  t.is(code, 0, stderr);
  t.is(stdout.toString(), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('run without --input gives the module an empty input (stdin is not read)', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const { code, stdout } = await warden(['run', example('build/sha256.wasm'), '--cache-dir', cacheDir], Buffer.from('ignored'));
  t.is(code, 0);
  t.is(stdout.toString(), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('run accepts gzip- and brotli-compressed modules', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const hello = fs.readFileSync(example('build/hello.wasm'));
  for (const [name, bytes] of [
    ['hello.wasm.gz', zlib.gzipSync(hello)],
    ['hello.wasm.br', zlib.brotliCompressSync(hello)],
  ] as const) {
    const file = tempFile(t, name, bytes);
    const { code, stdout, stderr } = await warden(['run', file, '--input', example('hello/input.txt'), '--cache-dir', cacheDir]);
    t.is(code, 0, stderr);
    t.deepEqual(stdout, fs.readFileSync(example('hello/expected.txt')), name);
  }
});

test('run --json prints one object with the output and the job facts; the second run is cached', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const args = ['run', example('build/hello.wasm'), '--input', example('hello/input.txt'), '--json', '--cache-dir', cacheDir];
  const first = await warden(args);
  t.is(first.code, 0, first.stderr);
  const result = JSON.parse(first.stdout.toString());
  t.like(result, { ok: true, output: fs.readFileSync(example('hello/expected.txt'), 'utf8'), outputEncoding: 'utf8', log: '', cached: false });
  t.true(typeof result.cpuTimeMs === 'number' && result.cpuTimeMs >= 0);
  t.true(typeof result.wallTimeMs === 'number' && result.wallTimeMs >= 0);
  // Times to 0.1 ms, not 22.080619999999954.
  for (const time of [result.cpuTimeMs, result.wallTimeMs]) t.regex(String(time), /^\d+(\.\d)?$/);
  t.regex(result.workerId, /^execute-/);
  t.regex(result.artifactKey, /^[0-9a-f]{64}-[0-9a-f]{16}$/);
  const second = JSON.parse((await warden(args)).stdout.toString());
  t.like(second, { ok: true, cached: true, artifactKey: result.artifactKey });
});

test('run --json gives output that is not UTF-8 as base64; without --json it is written raw', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const file = tempFile(t, 'binary.wasm', BINARY_OUTPUT);
  const json = await warden(['run', file, '--json', '--cache-dir', cacheDir]);
  t.like(JSON.parse(json.stdout.toString()), { ok: true, output: Buffer.from([0xff, 0xfe, 0x00]).toString('base64'), outputEncoding: 'base64' });
  const raw = await warden(['run', file, '--cache-dir', cacheDir]);
  t.deepEqual(raw.stdout, Buffer.from([0xff, 0xfe, 0x00]));
});

test('run of a file that is not WebAssembly exits 1 with E_PREVALIDATION; --json reports it as an object', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const file = tempFile(t, 'garbage.wasm', Buffer.from('this is not a module'));
  const text = await warden(['run', file, '--cache-dir', cacheDir]);
  t.is(text.code, 1);
  t.regex(text.stderr, /^warden: E_PREVALIDATION: .*not a WebAssembly module/);
  t.is(text.stdout.length, 0);
  const json = await warden(['run', file, '--json', '--cache-dir', cacheDir]);
  t.is(json.code, 1);
  t.deepEqual(JSON.parse(json.stdout.toString()), {
    ok: false,
    error: { code: 'E_PREVALIDATION', message: 'not a WebAssembly module (no \\0asm magic, not gzip, not brotli)', deterministic: true },
  });
});

test('run --fuel bounds the execution: an endless loop fails with E_OUT_OF_FUEL at exactly that fuel, --json says how much', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const file = tempFile(t, 'loop.wasm', LOOPS_FOREVER);
  const text = await warden(['run', file, '--fuel', '250000', '--cache-dir', cacheDir]);
  t.is(text.code, 1);
  t.is(text.stderr, 'warden: E_OUT_OF_FUEL: the job ran out of fuel (250000)\n');
  const json = await warden(['run', file, '--fuel', '250000', '--json', '--cache-dir', cacheDir]);
  const report = JSON.parse(json.stdout.toString());
  t.deepEqual(report.error, { code: 'E_OUT_OF_FUEL', message: 'the job ran out of fuel (250000)', deterministic: true, fuelUsed: 250000 });
  // The module ran before it failed: what it wrote comes with the error (nothing, here).
  t.like(report, { ok: false, output: '', log: '', logTruncated: false, files: {} });
  // Above the default limit, --fuel raises the command's own host's limit.
  const big = await warden(['run', example('build/hello.wasm'), '--fuel', String(DEFAULT_LIMITS.maxFuel * 10), '--json', '--cache-dir', cacheDir]);
  t.is(big.code, 0, big.stderr);
});

test('run --json reports the fuel used, the same on every run', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const args = ['run', example('build/upper.wasm'), '--input', example('upper/input.txt'), '--json', '--cache-dir', cacheDir];
  const [first, second] = [JSON.parse((await warden(args)).stdout.toString()), JSON.parse((await warden(args)).stdout.toString())];
  t.true(Number.isSafeInteger(first.fuelUsed) && first.fuelUsed > 0);
  t.is(second.fuelUsed, first.fuelUsed);
});

for (const bad of ['0', '-5', '1.5', 'lots', '1e9']) {
  test(`run --fuel "${bad}" is a usage error`, async (t) => {
    const { code, stderr } = await warden(['run', 'm.wasm', `--fuel=${bad}`]);
    t.is(code, 2);
    t.regex(stderr, /--fuel expects a positive whole number/);
  });
}

test('run of a module that traps exits 1 with E_TRAP', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const { code, stderr } = await warden(['run', tempFile(t, 'trap.wasm', TRAPS), '--cache-dir', cacheDir]);
  t.is(code, 1);
  t.regex(stderr, /^warden: E_TRAP: .*unreachable/);
});

test('run --timeout is the CPU-time limit of the execution: an endless loop fails with E_TIMEOUT', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const { code, stderr } = await warden(['run', tempFile(t, 'loop.wasm', LOOPS_FOREVER), '--timeout', '200ms', '--cache-dir', cacheDir]);
  t.is(code, 1);
  // The CPU-time limit, or its wall-clock bound (4x) when the machine is busy.
  t.regex(stderr, /^warden: E_TIMEOUT: the job (used more than 200 ms of CPU time|ran for more than 800 ms of wall-clock time)/);
});

/** Whether process `pid` has a handler installed for `signal`: its bit in `SigCgt` of /proc/<pid>/status. */
function catches(pid: number, signal: NodeJS.Signals): boolean {
  try {
    const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return mask !== undefined && ((BigInt(`0x${mask}`) >> BigInt(os.constants.signals[signal] - 1)) & 1n) === 1n;
  } catch {
    return false;
  }
}

test('SIGINT stops the job, the workers and the host, and exits 130', async (t) => {
  t.timeout(300_000);
  const cacheDir = await cacheDirFor(t);
  const { child, result } = start(['run', tempFile(t, 'loop.wasm', LOOPS_FOREVER), '--timeout', '1m', '--fuel', String(1e15), '--cache-dir', cacheDir]);
  let exited = false;
  void result.then(() => (exited = true));
  // Ready: the CLI has its SIGINT handler (before it, SIGINT would just kill node) and the module
  // is prepared, so the execute job is queued or running. Node startup, the host's security
  // check and the prepare take seconds, minutes on a loaded machine (this file runs its tests
  // concurrently): the wait is long and its result checked.
  const artifacts = path.join(cacheDir, 'artifacts');
  const prepared = () => fs.existsSync(artifacts) && fs.readdirSync(artifacts).some((f) => f.endsWith('.wdna'));
  const state = () => ({ catchesSigint: catches(child.pid!, 'SIGINT'), prepared: prepared(), exited });
  const ready = await waitFor(state, (s) => (s.catchesSigint && s.prepared) || s.exited, 240_000);
  if (!ready.catchesSigint || !ready.prepared) {
    child.kill('SIGKILL');
    const early = await result;
    t.fail(`the CLI was not ready within 240 s: ${JSON.stringify(ready)}; exit ${early.code}, stderr: ${early.stderr}`);
    return;
  }
  // Then wait until the execute job runs: its worker dir holds the artifact's link.
  const running = (): boolean =>
    fs.readdirSync(cacheDir).some((dir) => dir.startsWith('worker-dir-execute-') && fs.existsSync(path.join(cacheDir, dir, 'artifact')));
  while (!exited && !running()) await new Promise((resolve) => setTimeout(resolve, 50));
  if (exited) t.fail(`the CLI ended before its job ran: ${(await result).stderr}`);
  const signalled = Date.now();
  child.kill('SIGINT');
  const { code, signal, stderr } = await result;
  t.is(code, 130, `killed by ${String(signal)}; stderr: ${stderr}`);
  t.regex(stderr, /interrupted by SIGINT/);
  // Stopped, not run to its 1 min CPU limit (which takes far longer on a worker of lower priority);
  // a bound against a hang, not a speed figure: closing waits up to the 2 s kill grace.
  t.true(Date.now() - signalled < 60_000, `exited ${Date.now() - signalled} ms after SIGINT`);
  t.notThrows(() => CacheLock.acquire(cacheDir).release(), 'the cache dir lock is released');
});

test('a missing module file exits 1 with a clear message and no stack trace', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const { code, stderr } = await warden(['run', 'no/such/module.wasm', '--cache-dir', cacheDir]);
  t.is(code, 1);
  t.is(stderr, 'warden: E_READ_FILE: cannot read module no/such/module.wasm: no such file (ENOENT)\n');
  const input = await warden(['run', example('build/hello.wasm'), '--input', 'no-such-input', '--cache-dir', cacheDir]);
  t.is(input.code, 1);
  t.regex(input.stderr, /^warden: E_READ_FILE: cannot read input no-such-input: no such file \(ENOENT\)\n$/);
});

const usageError = test.macro(async (t, args: string[], message: RegExp) => {
  const { code, stdout, stderr } = await warden(args);
  t.is(code, 2);
  t.is(stdout.length, 0);
  t.regex(stderr, message);
  t.regex(stderr, /Run "warden \w+ --help" for usage/);
  t.notRegex(stderr, /\n\s+at /, 'no stack trace');
});

for (const bad of ['abc', '0', '2x', '1.5ms', '-1s', '']) {
  test(`run --timeout "${bad}" is a usage error`, usageError, ['run', 'm.wasm', `--timeout=${bad}`], /--timeout expects a positive duration/);
}
test('prepare --timeout with no value is a usage error', usageError, ['prepare', 'm.wasm', '--timeout'], /^warden prepare: --timeout needs a value\n/);
test('run without a module is a usage error', usageError, ['run'], /^warden run: missing <module>/);
test('run with two modules is a usage error', usageError, ['run', 'a.wasm', 'b.wasm'], /unexpected argument "b.wasm"/);
test('run with an unknown option is a usage error', usageError, ['run', 'a.wasm', '--nope'], /^warden run: unknown option --nope\n/);

// Our own messages, not Node's parseArgs hints about quoting or "ambiguous" arguments.
const usageErrors: { args: readonly string[]; message: RegExp }[] = [];
for (const [args, message] of [
  [['run', 'a.wasm', '--bogus'], /^warden run: unknown option --bogus\nRun "warden run --help" for usage\.\n$/],
  [['run', 'a.wasm', '--inptu', 'x'], /^warden run: unknown option --inptu \(did you mean --input\?\)\n/],
  [['batch', 'jobs', '--worker', '2'], /^warden batch: unknown option --worker \(did you mean --workers\?\)\n/],
  [['run', 'a.wasm', '-x'], /^warden run: unknown option -x\n/],
  [['run', 'a.wasm', '--timeout', '-5'], /^warden run: --timeout expects a positive duration such as 500ms, 2s, 1m or a number of ms, got "-5"\n/],
  [['batch', 'jobs', '--workers', '-2'], /^warden batch: --workers expects a positive whole number, got "-2"\n/],
  [['run', 'a.wasm', '--input', '--json'], /^warden run: --input needs a value, got the option --json\n/],
  [['run', 'a.wasm', '--json=yes'], /^warden run: --json takes no value, got "--json=yes"\n/],
  [['security', 'extra'], /^warden security: unexpected argument "extra"\n/],
] as const) {
  usageErrors.push({ args, message });
}

// One test, one CLI at a time: every case starts a node process, and the file runs its tests at once.
test('usage errors are in our words, never Node\'s parseArgs hints', async (t) => {
  for (const { args, message } of usageErrors) {
    const { code, stdout, stderr } = await warden([...args]);
    t.is(code, 2, args.join(' '));
    t.is(stdout.length, 0);
    t.regex(stderr, message, args.join(' '));
    t.notRegex(stderr, /ambiguous|Did you forget|place it at the end|To specify/);
  }
});

test('warden with no command prints the help on stderr and exits 2, like other usage errors', async (t) => {
  const { code, stdout, stderr } = await warden([]);
  t.is(code, 2);
  t.is(stdout.length, 0);
  t.regex(stderr, /^warden: missing <command>\n\nUsage: warden <command>/);
  const help = await warden(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout.toString(), /^Usage: warden <command>/);
  t.is(help.stderr, '');
});
test('run --abi must be run or wasi', usageError, ['run', 'a.wasm', '--abi', 'emscripten'], /--abi expects one of run, wasi, got "emscripten"/);

test('run --abi wasi on a run-ABI module is a usage error naming the export it lacks, not a trap', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const { code, stdout, stderr } = await warden(['run', example('build/hello.wasm'), '--abi', 'wasi', '--cache-dir', cacheDir]);
  t.is(code, 2);
  t.is(stdout.length, 0);
  t.regex(stderr, /^warden run: --abi wasi runs a module through `_start`, which .*hello\.wasm does not export \(it exports memory, alloc, run; its exports imply --abi run, the default\)\n/);
  t.notRegex(stderr, /E_TRAP/);
});

test('an empty module file is said to be one', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const file = tempFile(t, 'empty.wasm', new Uint8Array(0));
  for (const command of ['run', 'prepare']) {
    const { code, stderr } = await warden([command, file, '--cache-dir', cacheDir]);
    t.is(code, 1);
    t.is(stderr, `warden: E_PREVALIDATION: module ${file} is an empty file (0 bytes)\n`);
  }
});
test('prepare without a module is a usage error', usageError, ['prepare'], /^warden prepare: missing <module>/);

test('run --timeout accepts ms, s, m and bare milliseconds (and --allow-insecure is accepted)', async (t) => {
  const cacheDir = await cacheDirFor(t);
  for (const timeout of ['1500ms', '2s', '1.5s', '1m', '3000']) {
    const { code, stdout, stderr } = await warden(['run', example('build/hello.wasm'), '--timeout', timeout, '--allow-insecure', '--cache-dir', cacheDir]);
    t.is(code, 0, `${timeout}: ${stderr}`);
    t.is(stdout.toString(), 'Hello, world!');
  }
});

test('help of every command exits 0 and names its options', async (t) => {
  const main = await warden(['--help']);
  t.is(main.code, 0);
  for (const name of ['run', 'prepare', 'cache', 'security']) t.regex(main.stdout.toString(), new RegExp(`^  ${name}\\s`, 'm'));
  const expectations: [string[], RegExp[]][] = [
    [['run', '--help'], [/^Usage: warden run <module>/, /--input FILE/, /--abi run\|wasi/, /--timeout/, /--fuel N/, /--json/, /--cache-dir/, /--allow-insecure/]],
    [['prepare', '-h'], [/^Usage: warden prepare <module>/, /--timeout/, /--json/, /--cache-dir/, /--allow-insecure/]],
    [['cache', '--help'], [/^Usage: warden cache <ls\|prune\|clear>/, /--max-bytes/, /--cache-dir/]],
    [['cache', 'prune', '--help'], [/^Usage: warden cache/]],
  ];
  for (const [args, patterns] of expectations) {
    const { code, stdout } = await warden(args);
    t.is(code, 0, args.join(' '));
    for (const pattern of patterns) t.regex(stdout.toString(), pattern, args.join(' '));
  }
});

test('on a terminal the output ends with a newline; in a pipe it stays raw', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const args = ['run', example('build/hello.wasm'), '--input', example('hello/input.txt'), '--cache-dir', cacheDir];
  const tty = await onTerminal([process.execPath, cli, ...args], { columns: 80 });
  t.is(tty.exitCode, 0, tty.output);
  // The terminal turns "\n" into "\r\n".
  t.is(tty.output, 'Hello, world!\r\n');
  const piped = await warden(args);
  t.is(piped.stdout.toString(), 'Hello, world!');
});

test('run --input - on a terminal says it reads stdin, then reads what is typed up to Ctrl-D', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const run = await onTerminal([process.execPath, cli, 'run', example('build/sha256.wasm'), '--input', '-', '--cache-dir', cacheDir], {
    columns: 80,
    // Ctrl-D on an empty line ends the input: "abc" without a newline, as `printf abc` gives.
    steps: [{ after: 'Ctrl-D', send: 'abc\x04\x04' }],
  });
  t.is(run.exitCode, 0, run.output);
  t.regex(run.output, /^warden: reading the input from stdin, the terminal: end it with Ctrl-D\r\n/);
  t.true(run.output.endsWith('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\r\n'), run.output);
  // Piped, nothing is said.
  const piped = await warden(['run', example('build/sha256.wasm'), '--input', '-', '--cache-dir', cacheDir], Buffer.from('abc'));
  t.is(piped.stderr, '');
});

test('DEBUG=warden:* logs a normal close as workers stopped as asked, not killed or died', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const child = spawn(process.execPath, [cli, 'run', example('build/hello.wasm'), '--cache-dir', cacheDir], {
    env: { PATH: process.env.PATH, DEBUG: 'warden:*' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const [code] = (await once(child, 'close')) as [number];
  const log = Buffer.concat(stderr).toString();
  t.is(code, 0, log);
  for (const kind of ['prepare', 'execute']) {
    t.regex(log, new RegExp(`warden:pool worker ${kind}-\\w+: stopping \\(host closed\\)`));
    t.regex(log, new RegExp(`warden:worker worker ${kind}-\\w+ stopped as asked`));
  }
  t.notRegex(log, /died|kill \(killed\)|killing/);
});

test('every command help has an exit code section', async (t) => {
  for (const command of ['run', 'batch', 'prepare', 'cache', 'security', 'diagram', 'inspect']) {
    const { code, stdout } = await warden([command, '--help']);
    t.is(code, 0, command);
    t.regex(stdout.toString(), /^Exit code: 0/m, command);
  }
  t.regex((await warden(['inspect', '--help'])).stdout.toString(), /Exit code: 0 when stopped by Ctrl-C or SIGTERM/);
});
