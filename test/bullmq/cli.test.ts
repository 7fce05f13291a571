/**
 * `warden submit` and `warden serve` as users run them: the job id, the result with --wait (raw
 * or --json), a failure's code and exit status, and usage errors.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { startNode } from '../helpers/bullmq.js';
import { warden } from '../helpers/cli.js';
import { startRedis } from '../helpers/redis.js';
import { buildWasiPrograms } from '../helpers/wasiPrograms.js';
import { sources, wat } from '../helpers/wat.js';

function tempFile(t: { teardown(fn: () => void): void }, name: string, bytes: Uint8Array | string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-submit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

test.serial('warden submit: the job id, then --wait with raw output and --json; a failure exits 1 with its code', async (t) => {
  const redis = await startRedis(t);
  await startNode(t, redis, 'cli', { node: 'cli-node' });
  const hello = path.resolve('examples/build/hello.wasm');
  const input = tempFile(t, 'input.txt', 'submit');
  const base = ['submit', '--redis', redis.url, '--queue', 'cli'];
  // The QueueEvents example watches the same queue meanwhile.
  const watcher = spawn(process.execPath, ['examples/scale-out/watch-results.mjs', redis.url, 'cli'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let watched = '';
  watcher.stdout.on('data', (chunk: Buffer) => (watched += chunk));
  const watcherExited = once(watcher, 'exit');
  t.teardown(() => void (watcher.exitCode === null && watcher.kill('SIGKILL')));
  await new Promise<void>((resolve) => watcher.stdout.on('data', () => watched.includes('watching queue') && resolve()));

  const added = await warden([...base, hello, '--input', input]);
  t.is(added.code, 0, added.stderr);
  t.regex(added.stdout, /^\d+\n$/);

  const raw = await warden([...base, hello, '--input', input, '--wait', '--priority', 'high']);
  t.is(raw.code, 0, raw.stderr);
  t.is(raw.stdout, 'Hello, submit!');

  const json = await warden([...base, hello, '--input', input, '--wait', '--json']);
  t.is(json.code, 0, json.stderr);
  t.like(JSON.parse(json.stdout), { ok: true, output: 'Hello, submit!', outputEncoding: 'utf8', node: 'cli-node', cached: true });

  const trap = tempFile(t, 'trap.wasm', wat(sources.trap));
  const failed = await warden([...base, trap, '--wait']);
  t.is(failed.code, 1);
  t.regex(failed.stderr, /^warden: E_TRAP: /m);
  const failedJson = await warden([...base, trap, '--wait', '--json']);
  t.is(failedJson.code, 1);
  t.like(JSON.parse(failedJson.stdout), { ok: false, error: { code: 'E_TRAP', deterministic: true } });

  watcher.kill('SIGINT');
  t.deepEqual(await watcherExited, [0, null]);
  t.regex(watched, /completed on cli-node \(cached, [\d.]+ ms\): "Hello, submit!"/);
  t.regex(watched, /failed on cli-node: E_TRAP \(deterministic, not retried\): /);
});

const built = buildWasiPrograms();

(('programs' in built) ? test.serial : test.serial.skip)(
  'warden submit: --file, --env, -- ARGS, --out-dir and --fuel as warden run takes them; fuelUsed and exitCode in --json',
  async (t) => {
    const programs = (built as { programs: Map<string, Uint8Array> }).programs;
    const redis = await startRedis(t);
    await startNode(t, redis, 'cliwasi', { node: 'wasi-node' });
    const base = ['submit', '--redis', redis.url, '--queue', 'cliwasi', '--wait', '--json'];
    const files = tempFile(t, 'files.wasm', programs.get('files')!);
    const text = tempFile(t, 'text.txt', 'a\nb\n');
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-submit-out-'));
    t.teardown(() => fs.rmSync(outDir, { recursive: true, force: true }));
    const ran = await warden([...base, files, '--file', `data.txt=${text}`, '--env', 'GREETING=hi', '--out-dir', outDir, '--', 'data.txt']);
    t.is(ran.code, 0, ran.stderr);
    const result = JSON.parse(ran.stdout) as { output: string; fuelUsed: number; files: Record<string, { data: string }> };
    t.regex(result.output, /read 4 bytes from data\.txt/);
    t.true(Number.isSafeInteger(result.fuelUsed) && result.fuelUsed > 0);
    t.is(result.files['report.txt']?.data, '2 lines\n');
    t.is(fs.readFileSync(path.join(outDir, 'report.txt'), 'utf8'), '2 lines\n');

    const exit = tempFile(t, 'exitcode.wasm', programs.get('exitcode')!);
    const failed = await warden([...base, exit, '--', 'exit', '5']);
    t.is(failed.code, 1);
    t.like(JSON.parse(failed.stdout), { ok: false, error: { code: 'E_EXIT', exitCode: 5, node: 'wasi-node' }, output: 'ending by exit 5\n' });
    const raw = await warden(['submit', '--redis', redis.url, '--queue', 'cliwasi', '--wait', exit, '--', 'exit', '5']);
    t.is(raw.code, 1);
    t.is(raw.stdout, 'ending by exit 5\n');
    t.regex(raw.stderr, /usage: exitcode/);

    const loop = tempFile(t, 'loop.wasm', wat(sources.infiniteLoop));
    const fuel = await warden([...base, loop, '--fuel', '777']);
    t.is(fuel.code, 1);
    t.like(JSON.parse(fuel.stdout), { ok: false, error: { code: 'E_OUT_OF_FUEL', fuelUsed: 777 } });
  },
);

test('warden submit and serve: usage errors exit 2 and name the problem', async (t) => {
  const hello = path.resolve('examples/build/hello.wasm');
  for (const [args, message] of [
    [['submit', hello, '--queue', 'q'], /missing --redis URL/],
    [['submit', hello, '--redis', 'http://x', '--queue', 'q'], /--redis expects a redis:\/\/ or rediss:\/\/ URL/],
    [['submit', hello, '--redis', 'redis://127.0.0.1:1'], /missing --queue NAME/],
    [['submit', '--redis', 'redis://127.0.0.1:1', '--queue', 'q'], /missing <module>/],
    [['submit', hello, '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--priority', 'urgent'], /--priority expects one of/],
    [['serve', '--queue', 'q'], /missing --redis URL/],
    [['serve', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--concurrency', '0'], /--concurrency expects a positive whole number/],
    [['serve', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--shutdown-grace', 'soon'], /--shutdown-grace expects a positive duration/],
  ] as const) {
    const result = await warden([...args]);
    t.is(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    t.regex(result.stderr, message);
  }
  const help = await warden(['serve', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /warden serve --redis URL --queue NAME/);
});
