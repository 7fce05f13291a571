/**
 * `warden batch` through the compiled CLI: results per job, a bad line failing alone with a
 * typed code, the summary per outcome, exit codes, and a progress bar only on a terminal.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { cacheDirFor, cliPath, warden } from '../helpers/cli.js';
import { sleepCode } from '../helpers/scheduler.js';
import { onTerminal } from '../helpers/terminal.js';
import { fixtures } from '../helpers/wat.js';

const hello = path.resolve('examples/build/hello.wasm');
const upper = path.resolve('examples/build/upper.wasm');

/** A temp dir (removed after the test) with these files; returns its path. */
function dirWith(t: ExecutionContext, files: Record<string, string | Uint8Array>): string {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'warden-batch-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

const ndjson = (lines: (object | string)[]): string => `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`;

test('every job gets a JSON result; failures, bad lines and a missing module fail alone with their code', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const dir = dirWith(t, {
    'trap.wasm': fixtures.trap,
    'in.txt': 'from a file',
    'jobs.ndjson': ndjson([
      { id: 'a', module: hello, input: 'world' },
      { id: 'b', module: hello, inputFile: 'in.txt' },
      { id: 'c', module: upper, inputBase64: Buffer.from('shout').toString('base64') },
      { id: 'trap', module: 'trap.wasm', input: 'x' },
      '{"id": "broken", "module": ',
      '',
      { id: 'nomodule', input: 'x' },
      { id: 'missing', module: 'missing.wasm' },
      { id: 'typo', module: hello, inptu: 'x' },
      { id: 'again', module: hello, input: 'again' },
      { id: 'urgent', module: hello, priority: 'urgent' },
      { module: hello, input: 'anonymous' },
    ]),
  });
  const { code, stdout, stderr } = await warden(['batch', path.join(dir, 'jobs.ndjson'), '--json', '--workers', '2', '--cache-dir', cacheDir]);
  t.is(code, 1, stderr);
  const results = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.is(results.length, 11);
  const byLine = new Map(results.map((r) => [r.line, r]));
  t.like(byLine.get(1), { id: 'a', ok: true, output: 'Hello, world!', outputEncoding: 'utf8' });
  t.is(typeof byLine.get(1)!.wallTimeMs, 'number');
  t.like(byLine.get(2), { id: 'b', ok: true, output: 'Hello, from a file!' });
  t.like(byLine.get(3), { id: 'c', ok: true, output: 'SHOUT' });
  t.like(byLine.get(4), { id: 'trap', ok: false, code: 'E_TRAP', deterministic: true });
  t.like(byLine.get(5), { id: '5', ok: false, code: 'E_BATCH_LINE' });
  t.regex(byLine.get(5)!.message as string, /not JSON/);
  t.false(byLine.has(6));
  t.like(byLine.get(7), { id: 'nomodule', ok: false, code: 'E_BATCH_LINE' });
  t.regex(byLine.get(7)!.message as string, /"module"/);
  t.like(byLine.get(8), { id: 'missing', ok: false, code: 'E_READ_FILE' });
  t.regex(byLine.get(8)!.message as string, new RegExp(`${dir}/missing\\.wasm`));
  t.like(byLine.get(9), { id: 'typo', ok: false, code: 'E_BATCH_LINE' });
  t.regex(byLine.get(9)!.message as string, /unknown field "inptu"/);
  t.like(byLine.get(10), { id: 'again', ok: true, output: 'Hello, again!' });
  // Times to 0.1 ms.
  for (const r of results.filter((r) => r.ok)) for (const time of [r.cpuTimeMs, r.wallTimeMs]) t.regex(String(time), /^\d+(\.\d)?$/);
  t.like(byLine.get(11), { id: 'urgent', ok: false, code: 'E_INVALID_OPTION' });
  t.like(byLine.get(12), { id: '12', ok: true, output: 'Hello, anonymous!' });
  // With --json the summary goes to stderr; no progress bar off a terminal.
  t.regex(stderr, /^11 jobs in [\d.]+s: 5 succeeded, 6 failed$/m);
  t.regex(stderr, /^success +5$/m);
  t.regex(stderr, /^E_BATCH_LINE +3$/m);
  t.regex(stderr, /^E_TRAP +1$/m);
  t.regex(stderr, /^E_READ_FILE +1$/m);
  t.regex(stderr, /^E_INVALID_OPTION +1$/m);
  t.false(/[\r\x1b]/.test(stderr));
});

test('a line may give its job fuel; results report the fuel used, the same for the same job', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const dir = dirWith(t, {
    'loop.wasm': fixtures.infiniteLoop,
    'jobs.ndjson': ndjson([
      { id: 'first', module: hello, input: 'same' },
      { id: 'second', module: hello, input: 'same' },
      { id: 'spin', module: 'loop.wasm', fuel: 123_456 },
      { id: 'greedy', module: hello, fuel: 2 ** 60 },
    ]),
  });
  const { stdout } = await warden(['batch', path.join(dir, 'jobs.ndjson'), '--json', '--cache-dir', cacheDir]);
  const byId = new Map(stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>).map((r) => [r.id, r]));
  t.true(Number.isSafeInteger(byId.get('first')!.fuelUsed) && (byId.get('first')!.fuelUsed as number) > 0);
  t.is(byId.get('second')!.fuelUsed, byId.get('first')!.fuelUsed);
  t.like(byId.get('spin'), { ok: false, code: 'E_OUT_OF_FUEL', deterministic: true, fuelUsed: 123_456 });
  t.like(byId.get('greedy'), { ok: false, code: 'E_INVALID_OPTION' });
});

test('without --json: the summary on stdout, failures on stderr, exit 0 when every job succeeded', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const dir = dirWith(t, { 'jobs.ndjson': ndjson([{ module: hello, input: '1' }, { module: hello, input: '2' }, { module: upper, input: '3' }]) });
  const ok = await warden(['batch', path.join(dir, 'jobs.ndjson'), '--cache-dir', cacheDir]);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /^3 jobs in [\d.]+s: 3 succeeded, 0 failed\n\noutcome +jobs\n-+ +-+\nsuccess +3\n$/);
  t.is(ok.stderr, '');

  fs.writeFileSync(path.join(dir, 'failing.ndjson'), ndjson([{ id: 'good', module: hello }, { id: 'bad', module: hello, timeoutMs: -1 }]));
  const failing = await warden(['batch', path.join(dir, 'failing.ndjson'), '--cache-dir', cacheDir]);
  t.is(failing.code, 1);
  t.regex(failing.stderr, /^warden batch: job bad \(line 2\): E_INVALID_OPTION: .*timeoutMs/m);
  t.regex(failing.stdout, /1 succeeded, 1 failed/);
});

test('usage errors exit 2; an unreadable jobs file is E_READ_FILE; --help', async (t) => {
  const noFile = await warden(['batch']);
  t.is(noFile.code, 2);
  t.regex(noFile.stderr, /missing <jobs\.ndjson>/);
  const badWorkers = await warden(['batch', 'x.ndjson', '--workers', '0']);
  t.is(badWorkers.code, 2);
  t.regex(badWorkers.stderr, /--workers expects a positive whole number/);
  const cacheDir = await cacheDirFor(t);
  const missing = await warden(['batch', '/nonexistent/jobs.ndjson', '--cache-dir', cacheDir]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /E_READ_FILE: cannot read jobs file \/nonexistent\/jobs\.ndjson/);
  const help = await warden(['batch', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^Usage: warden batch/);
});


test('on a terminal the progress bar fits the width and follows a resize', async (t) => {
  const cacheDir = await cacheDirFor(t);
  // Jobs that sleep (no CPU), so the batch is still running when the terminal is resized.
  const dir = dirWith(t, {
    'sleep.wasm': sleepCode(1_000),
    'jobs.ndjson': ndjson([1, 2, 3].map((n) => ({ id: `s${n}`, module: 'sleep.wasm', timeoutMs: 5_000 }))),
  });
  const run = await onTerminal([process.execPath, cliPath, 'batch', path.join(dir, 'jobs.ndjson'), '--workers', '1', '--cache-dir', cacheDir], {
    columns: 40,
    steps: [{ after: '0/3', columns: 30 }],
  });
  t.is(run.exitCode, 0, run.output);
  const [resizedAt] = run.marks;
  // Each redraw: carriage return, clear to the end of the line, the bar.
  const bars = [...run.output.matchAll(/\r\x1b\[K([^\r\n]*)/g)].filter((m) => / \d+\/\d+ {2}failed \d+$/.test(m[1]!)).map((m) => ({ at: m.index!, text: m[1]! }));
  t.true(bars.length >= 3, JSON.stringify(run.output));
  for (const bar of bars) t.true(bar.text.length < 40, `narrower than 40 columns: ${JSON.stringify(bar.text)}`);
  // Redrawn for the new width at once (before a job ended), and narrower than 30 columns from then on.
  const after = bars.filter((bar) => bar.at >= resizedAt!);
  const firstFitting = after.findIndex((bar) => bar.text.length < 30);
  t.true(firstFitting >= 0, JSON.stringify(after));
  t.regex(after[firstFitting]!.text, /^\[\.+\] 0\/3 {2}failed 0$/);
  for (const bar of after.slice(firstFitting)) t.true(bar.text.length < 30, `narrower than 30 columns: ${JSON.stringify(bar.text)}`);
  t.regex(after.at(-1)!.text, /^\[#+\] 3\/3 {2}failed 0$/);
  t.regex(run.output, /3 jobs in [\d.]+s: 3 succeeded, 0 failed/);
});

test('an empty jobs file runs nothing and starts no host', async (t) => {
  const cacheDir = path.join(await cacheDirFor(t), 'never-created');
  const dir = dirWith(t, { 'empty.ndjson': '', 'blank.ndjson': '\n  \n\n' });
  for (const name of ['empty.ndjson', 'blank.ndjson']) {
    const { code, stdout, stderr } = await warden(['batch', path.join(dir, name), '--cache-dir', cacheDir]);
    t.is(code, 0, stderr);
    t.is(stdout, '0 jobs in 0.0s: 0 succeeded, 0 failed\n');
    t.is(stderr, `warden batch: no jobs in ${path.join(dir, name)}\n`);
  }
  // No host: no sandbox check, no cache dir.
  t.false(fs.existsSync(cacheDir));
});

test('a repeated id, a bad line\'s included, rejects the file before any job runs', async (t) => {
  const cacheDir = path.join(await cacheDirFor(t), 'never-created');
  const dir = dirWith(t, {
    'jobs.ndjson': ndjson([
      { id: 'typo', module: hello, inptu: 'x' },
      { id: 'typo', module: hello },
      { module: hello },
      { id: '3', module: hello },
      { id: 'fine', module: hello },
      { id: 'fine', module: upper },
      { id: '8', module: hello },
      { module: hello },
    ]),
  });
  const { code, stdout, stderr } = await warden(['batch', path.join(dir, 'jobs.ndjson'), '--json', '--cache-dir', cacheDir]);
  t.is(code, 1);
  t.is(stdout, '', 'no job ran, so no result');
  t.is(
    stderr,
    'warden: E_BATCH_LINE: ids must be unique, no job was run: line 2 repeats the id "typo" of line 1; ' +
      'line 4 names the id "3", which is line 3\'s line number (it names no id); line 6 repeats the id "fine" of line 5; ' +
      'line 8 names no id, and its line number "8" is the id of line 7\n',
  );
  t.false(fs.existsSync(cacheDir), 'no host was started');
});

test('SIGINT stops the batch: the host is closed, the rest is not run, exit 130', async (t) => {
  const cacheDir = await cacheDirFor(t);
  const total = 5_000;
  const dir = dirWith(t, { 'jobs.ndjson': ndjson(Array.from({ length: total }, (_, n) => ({ module: hello, input: String(n) }))) });
  const child = spawn(process.execPath, [cliPath, 'batch', path.join(dir, 'jobs.ndjson'), '--json', '--workers', '1', '--cache-dir', cacheDir], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  // Interrupted once jobs are running (the first result is out).
  child.stdout.on('data', (chunk: Buffer) => {
    if (stdout === '') child.kill('SIGINT');
    stdout += chunk.toString();
  });
  t.is(await exited, 130, stderr);
  t.regex(stderr, /warden: interrupted by SIGINT\n$/);
  const reported = stdout.trim().split('\n').length;
  t.true(reported < total, `${reported} results`);
  t.false(/jobs in/.test(stderr));
});
