/**
 * `warden inspect --demo` as users run it: the compiled CLI prints the page's address, the
 * demo's jobs succeed and fail there, and Ctrl-C (SIGINT) ends it cleanly.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import test from 'ava';
import { cacheDirFor, cliPath, warden } from '../helpers/cli.js';
import { waitFor, workerProcesses } from '../helpers/host.js';
import { readEvents } from '../helpers/sse.js';

test.serial('warden inspect --demo serves the page, jobs succeed and fail, SIGINT stops it cleanly', async (t) => {
  const cacheDir = await cacheDirFor(t, 'warden-inspect-');
  const child = spawn(process.execPath, [cliPath, 'inspect', '--demo', '--cache-dir', cacheDir], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const match = /warden inspector: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    void exited.then(() => reject(new Error(`warden inspect exited early: ${stderr}`)));
  });

  const page = await fetch(url);
  t.is(page.status, 200);
  // The demo's jobs end both ways.
  const { records } = await readEvents(url, (seen) => seen.some((r) => r.type === 'job:succeeded') && seen.some((r) => r.type === 'job:failed'));
  t.true(records.some((r) => r.type === 'job:failed' && typeof r.data.code === 'string'));
  const state = (await (await fetch(new URL('/state', url))).json()) as { workers: { kind: string; jobsCompleted: number }[] };
  t.true(state.workers.filter((w) => w.kind === 'execute').length === 2);

  child.kill('SIGINT');
  const [code, signal] = await exited;
  t.is(signal, null);
  t.is(code, 0, stderr);
  t.regex(stderr, /SIGINT: stopping/);
  t.notRegex(stderr, /unexpected error/);
  t.deepEqual(await waitFor(() => workerProcesses(cacheDir), (pids) => pids.length === 0), []);
  await t.throwsAsync(fetch(url));
});

test('warden inspect --help, and usage errors exit 2', async (t) => {
  const help = await warden(['inspect', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Usage: warden inspect \[--demo\] \[--port N\]/);
  t.regex((await warden(['--help'])).stdout, /inspect/);
  for (const args of [['inspect', '--port', 'x'], ['inspect', '--port', '70000'], ['inspect', 'extra']]) {
    const result = await warden(args);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, /warden inspect: /);
  }
});
