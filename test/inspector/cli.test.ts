/**
 * `warden inspect --demo` as users run it: the compiled CLI prints the page's address, the
 * demo's jobs succeed and fail there, and Ctrl-C (SIGINT) ends it cleanly.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import test from 'ava';
import { cacheDirFor, cliPath, warden } from '../helpers/cli.js';
import { waitFor, workerProcesses } from '../helpers/host.js';

/** Reads the event stream until both a succeeded and a failed job have been seen. */
async function jobOutcomes(url: string): Promise<{ succeeded: number; failedCodes: Set<string> }> {
  const controller = new AbortController();
  const response = await fetch(new URL('/events', url), { signal: controller.signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let succeeded = 0;
  const failedCodes = new Set<string>();
  let text = '';
  while (succeeded === 0 || failedCodes.size === 0) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the event stream ended');
    text += value;
    const messages = text.split('\n\n');
    text = messages.pop()!;
    for (const message of messages) {
      if (!message.startsWith('data: ')) continue;
      const record = JSON.parse(message.slice(6)) as { type: string; data: { code?: string } };
      if (record.type === 'job:succeeded') succeeded++;
      if (record.type === 'job:failed') failedCodes.add(record.data.code!);
    }
  }
  controller.abort();
  return { succeeded, failedCodes };
}

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
  const { succeeded, failedCodes } = await jobOutcomes(url);
  t.true(succeeded > 0);
  t.true(failedCodes.size > 0, 'the demo fails some jobs on purpose');
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
