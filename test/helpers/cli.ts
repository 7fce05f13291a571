import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { tempCacheDir } from './host.js';

const exec = promisify(execFile);

/** The compiled CLI, as users run it. */
export const cliPath = path.resolve('dist/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `warden <args>` to completion with a minimal environment. */
export async function warden(args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { env: { PATH: process.env.PATH } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A fresh cache dir for one test, removed after it. */
export async function cacheDirFor(t: ExecutionContext, prefix = 'warden-cli-'): Promise<string> {
  const cacheDir = await tempCacheDir(prefix);
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  return cacheDir;
}
