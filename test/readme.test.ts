/**
 * README.md's commands work as written, in order, from a clone: the quick start's `./warden`
 * line prints what its comment says, and each command of "More to try" succeeds (all but
 * `inspect --demo`, which runs until Ctrl-C; test/inspector covers it). They run in a scratch
 * dir that links the clone's `warden`, `dist` and `examples`, so the files they write
 * (jobs.ndjson) and the cache (XDG_CACHE_HOME) stay out of the clone.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { needsExamples } from './helpers/examples.js';

const exec = promisify(execFile);
const ROOT = path.resolve('.');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The commands of the sh blocks of a README section: continuation lines joined, comments split off. */
function commands(section: string): { command: string; comment: string | undefined }[] {
  const start = README.indexOf(section);
  if (start < 0) throw new Error(`README.md has no "${section}"`);
  const block = /```sh\n([\s\S]*?)```/g;
  block.lastIndex = start;
  const text = block.exec(README)![1]!.replace(/\\\n\s*/g, ' ');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [command, comment] = line.split(/\s{2,}# /) as [string, string | undefined];
      return { command: command.trim(), comment };
    });
}

/** A scratch dir that looks like the clone's root to `./warden` and the example paths. */
function scratch(t: import('ava').ExecutionContext): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'warden-readme-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const name of ['warden', 'dist', 'examples']) fs.symlinkSync(path.join(ROOT, name), path.join(dir, name));
  fs.mkdirSync(path.join(dir, 'cache'));
  return { dir, env: { PATH: process.env.PATH, HOME: dir, XDG_CACHE_HOME: path.join(dir, 'cache') } };
}

async function sh(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('sh', ['-c', command], { cwd, env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('the quick start: npm ci, then ./warden prints what README says, then npm test', async (t) => {
  const quick = commands('## Quick start');
  t.deepEqual(
    quick.map((c) => c.command.split(' ')[0]),
    ['npm', './warden', 'npm'],
    'npm ci, one ./warden command, npm test',
  );
  t.is(quick[0]!.command, 'npm ci');
  t.is(quick[2]!.command, 'npm test');
  const run = quick[1]!;
  const printed = /^prints: (.*)$/.exec(run.comment ?? '');
  t.truthy(printed, 'its comment says what it prints');
  const { dir, env } = scratch(t);
  const result = await sh(run.command, dir, env);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, printed![1]!);
  t.is(result.stderr, '');
});

test('"More to try": every command but inspect --demo succeeds', async (t) => {
  const { dir, env } = scratch(t);
  const more = commands('More to try:').filter((c) => !c.command.includes('inspect --demo'));
  t.true(more.length >= 6);
  for (const { command } of more) {
    const result = await sh(command, dir, env);
    t.is(result.code, 0, `${command}: ${result.stderr}`);
  }
});

needsExamples(['wordcount'], test)('the C examples section runs wordcount as written', async (t) => {
  const { dir, env } = scratch(t);
  const run = commands('### Optional: the C examples').find((c) => c.command.startsWith('./warden run'))!;
  const result = await sh(run.command, dir, env);
  t.is(result.code, 0, result.stderr);
  t.like(JSON.parse(result.stdout), { ok: true, output: '4 13 83\n' });
});
