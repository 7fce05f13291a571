/**
 * Metering does not change what real programs compute: a corpus of C programs (test/corpus/*.c,
 * built here with clang and wasi-libc at -O0 and -O2) run as built, in this process with the WASI
 * shim, and metered through the real job path (prepare and execute on a job thread); stdout,
 * stderr and the exit code must match byte for byte. Without the toolchain the test is skipped,
 * unless WARDEN_EXAMPLES_REQUIRE_C=1 (CI), where that is a failure.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../../../src/shared/limits.js';
import { JobRunner } from '../../../src/worker/jobRunner.js';
import { LogSink, OutputSink } from '../../../src/worker/jobs/sinks.js';
import { ProcExit, WasiShim } from '../../../src/worker/jobs/wasi.js';

const exec = promisify(execFile);
const CORPUS = path.resolve('test/corpus');
const requireC = process.env.WARDEN_EXAMPLES_REQUIRE_C === '1';

/** A deterministic pseudo-random sequence (a 32-bit LCG). */
function* lcg(seed: number): Generator<number> {
  let state = seed >>> 0;
  for (;;) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    yield state;
  }
}

function take(n: number, seed: number): number[] {
  const out: number[] = [];
  for (const value of lcg(seed)) {
    if (out.length === n) break;
    out.push(value);
  }
  return out;
}

const WORDS = 'the metered module computes what the original computes fuel stack warden sandbox worker host cache artifact'.split(' ');
const HELLO_BF = '++++++++[>++++[>++>+++>+++>+<<<<-]>+>+>->>+[<]<-]>>.>---.+++++++..+++.>>.<-.<.+++.------.--------.>>+.>++.';

/** Each program with the inputs it runs on. */
const PROGRAMS: Record<string, string[]> = {
  sort: [take(5_000, 1).map((n) => n - 2 ** 31).join(' '), '3 1 2', ''],
  primes: ['300000', '2'],
  wordfreq: [take(10_000, 7).map((n) => WORDS[n % WORDS.length]).join(n2s(3)), 'One one ONE two'],
  matrix: ['60', '2'],
  recurse: ['12', '3'],
  brainfuck: [`${HELLO_BF}!`, `>,[>,]<[.<]!${'reverse me, metered'}`],
};

function n2s(n: number): string {
  return ' \n\t'.slice(0, n);
}

interface Run {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Builds a program, or returns why it cannot be built here. */
async function build(name: string, optimization: string, dir: string): Promise<Uint8Array | string> {
  const out = path.join(dir, `${name}${optimization}.wasm`);
  try {
    await exec('clang', ['--target=wasm32-wasi', optimization, '-Wall', path.join(CORPUS, `${name}.c`), '-o', out, '-lm'], { timeout: 120_000 });
  } catch (error) {
    return (error as { stderr?: string }).stderr || (error as Error).message;
  }
  return new Uint8Array(fs.readFileSync(out));
}

/** The module as built, with the WASI shim and nothing of warden's metering. */
function runUnmetered(bytes: Uint8Array, input: Uint8Array): Run {
  const stdout = new OutputSink(1 << 24);
  const stderr = new LogSink(1 << 20);
  const shim = new WasiShim({ stdin: input, stdout, stderr });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { wasi_snapshot_preview1: shim.imports() });
  shim.memory.attach(instance.exports.memory as WebAssembly.Memory);
  let exitCode = 0;
  try {
    (instance.exports._start as () => void)();
  } catch (error) {
    if (!(error instanceof ProcExit)) throw error;
    exitCode = error.exitCode;
  }
  return { stdout: Buffer.from(stdout.contents()).toString('latin1'), stderr: Buffer.from(stderr.contents()).toString('latin1'), exitCode };
}

/** Prepared (metered) and executed on a real job thread, as a worker runs it. */
async function runMetered(runner: JobRunner, bytes: Uint8Array, input: Uint8Array): Promise<Run & { fuelUsed: number }> {
  const prepared = await runner.run({ kind: 'prepare', code: new Uint8Array(bytes), limits: DEFAULT_PREPARE_LIMITS, paramsHash: '0'.repeat(64) }, { cpuTimeLimitMs: 60_000 });
  if (!prepared.ok || prepared.kind !== 'prepare') throw new Error(`prepare failed: ${JSON.stringify(prepared)}`);
  const limits = { ...DEFAULT_EXECUTE_LIMITS, maxFuel: 1e12 };
  const executed = await runner.run({ kind: 'execute', artifact: prepared.artifact, input: new Uint8Array(input), abi: 'wasi', limits }, { cpuTimeLimitMs: 60_000 });
  if (!executed.ok || executed.kind !== 'execute') throw new Error(`execute failed: ${JSON.stringify(executed)}`);
  return { stdout: Buffer.from(executed.output).toString('latin1'), stderr: Buffer.from(executed.log).toString('latin1'), exitCode: 0, fuelUsed: executed.fuelUsed };
}

test('C programs built with clang and wasi-libc compute the same metered and unmetered, byte for byte', async (t) => {
  // Twelve builds and two dozen runs on a shared, loaded machine.
  t.timeout(600_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-corpus-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const runner = new JobRunner({ execArgv: [] });
  t.teardown(() => runner.close());
  let compared = 0;
  for (const [name, inputs] of Object.entries(PROGRAMS)) {
    for (const optimization of ['-O0', '-O2']) {
      const bytes = await build(name, optimization, dir);
      if (typeof bytes === 'string') {
        if (requireC) t.fail(`cannot build ${name}.c: ${bytes}`);
        else t.log(`skipped ${name}.c: ${bytes.split('\n')[0]}`);
        continue;
      }
      for (const text of inputs) {
        const input = Buffer.from(text);
        const plain = runUnmetered(bytes, input);
        const metered = await runMetered(runner, bytes, input);
        t.is(plain.exitCode, 0, `${name}${optimization} exits 0`);
        t.deepEqual({ ...metered, fuelUsed: undefined }, { ...plain, fuelUsed: undefined }, `${name}${optimization} on ${JSON.stringify(text.slice(0, 20))}`);
        t.true(metered.fuelUsed > 0);
        compared++;
      }
    }
  }
  if (compared === 0 && !requireC) t.log('no C toolchain: nothing compared');
  t.true(compared > 0 || !requireC);
});
