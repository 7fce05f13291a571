/**
 * A real C program built with clang and wasi-libc, run through the WASI shim. Skipped where the
 * toolchain is missing (Debian packages clang, lld and wasi-libc provide it).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { execute } from '../../../src/worker/jobs/execute.js';
import { JobError } from '../../../src/shared/jobError.js';
import { DEFAULT_EXECUTE_LIMITS, type ExecuteLimits } from '../../../src/shared/limits.js';
import { C_PACKAGES, REQUIRE_C } from '../../helpers/examples.js';
import { artifactOf } from '../../helpers/wat.js';

const PROGRAM = String.raw`
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  static char input[1 << 16];
  size_t length = fread(input, 1, sizeof input - 1, stdin);
  input[length] = 0;
  if (strncmp(input, "exit:", 5) == 0) exit(atoi(input + 5));
  if (strcmp(input, "malloc-bomb") == 0) {
    static char *volatile last;
    while ((last = malloc(1 << 20)) != NULL) last[0] = 1;
    fprintf(stderr, "malloc failed\n");
    abort();
  }
  FILE *file = fopen("/etc/passwd", "r");
  int open_errno = errno;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  usleep(2000);
  clock_gettime(CLOCK_MONOTONIC, &end);
  long slept_us = (end.tv_sec - start.tv_sec) * 1000000L + (end.tv_nsec - start.tv_nsec) / 1000;
  unsigned char random[16] = {0};
  int entropy = getentropy(random, sizeof random);
  char *big = malloc(8 << 20);
  memset(big, 1, 8 << 20);
  printf("read %zu bytes: %s\n", length, input);
  printf("argc=%d argv0=%s home=%s\n", argc, argv[0], getenv("HOME") ? getenv("HOME") : "(none)");
  printf("fopen=%s errno=%d time=%d slept=%d entropy=%d big=%d\n", file ? "opened" : "refused", open_errno,
         time(NULL) > 1700000000, slept_us >= 2000, entropy, big[(8 << 20) - 1]);
  fprintf(stderr, "to stderr\n");
  return 0;
}
`;

function build(): { wasm: Uint8Array } | { reason: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-wasi-libc-'));
  try {
    fs.writeFileSync(path.join(dir, 'main.c'), PROGRAM);
    execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', '-o', 'main.wasm', 'main.c'], { cwd: dir, stdio: 'pipe' });
    return { wasm: fs.readFileSync(path.join(dir, 'main.wasm')) };
  } catch (error) {
    return { reason: `clang with wasi-libc is not available: ${(error as Error).message.split('\n')[0]}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const built = build();
// Where the toolchain is missing: skipped, saying why in the title; in CI (WARDEN_EXAMPLES_REQUIRE_C=1) they fail instead.
const maybe: typeof test =
  'wasm' in built || REQUIRE_C
    ? test
    : (((title: string, ...rest: unknown[]) =>
        (test.skip as (...args: unknown[]) => void)(`${title} (skipped: ${built.reason} — the C examples need: apt-get install ${C_PACKAGES})`, ...rest)) as unknown as typeof test);

async function run(input: string, limits: Partial<ExecuteLimits> = {}) {
  if (!('wasm' in built)) throw new Error(built.reason);
  return execute(artifactOf(built.wasm), Buffer.from(input), 'wasi', { ...DEFAULT_EXECUTE_LIMITS, ...limits });
}

maybe('a wasi-libc program reads stdin, prints, sleeps, and finds no files or environment', async (t) => {
  const { output, log } = await run('hello C');
  const lines = Buffer.from(output).toString().split('\n');
  t.is(lines[0], 'read 7 bytes: hello C');
  t.is(lines[1], 'argc=1 argv0=main home=(none)');
  // errno 76 is ENOTCAPABLE: wasi-libc finds no preopened directory for the path.
  t.regex(lines[2]!, /^fopen=refused errno=(76|44) time=1 slept=1 entropy=0 big=1$/);
  t.is(Buffer.from(log).toString(), 'to stderr\n');
});

maybe('exit(5) from C is E_TRAP with the code', async (t) => {
  const error = await t.throwsAsync(run('exit:5'), { instanceOf: JobError });
  t.regex(error!.message, /exited with code 5/);
  t.is((await run('exit:0')).output.byteLength, 0);
});

maybe('malloc failing at the memory limit, then abort(), is E_OUT_OF_MEMORY', async (t) => {
  const error = await t.throwsAsync(run('malloc-bomb', { maxMemoryPages: 256 }), { instanceOf: JobError });
  t.is(error?.code, 'E_OUT_OF_MEMORY');
});
