/**
 * A job's outcome is a function of its code, its input and its limits: the same output, fuel
 * used, error code and `deterministic` flag across 20 runs, in both isolation modes, with both
 * cores loaded by other work, with V8's tiers forced on the workers, and after a host restart
 * from the cache. Real hosts, real sandboxed workers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { createHost, WardenError, type Host } from '../../src/index.js';
import { PACKAGE_ROOT } from '../../src/sandbox/paths.js';
import { fixtures } from '../helpers/wat.js';
import { startHost, tempCacheDir, waitFor } from '../helpers/host.js';

interface Job {
  name: string;
  code: Uint8Array;
  input: Uint8Array;
  fuel?: number;
}

const example = (name: string) => path.join(PACKAGE_ROOT, 'examples', 'build', `${name}.wasm`);
const exampleInput = (name: string) => fs.readFileSync(path.join(PACKAGE_ROOT, 'examples', name, 'input.txt'));

const JOBS: Job[] = [
  { name: 'sha256 over 64 KiB', code: fs.readFileSync(example('sha256')), input: Buffer.alloc(65_536, 'deterministic ') },
  { name: 'upper', code: fixtures.upper, input: Buffer.from('deterministic outcomes') },
  { name: 'spin loop', code: fixtures.infiniteLoop, input: new Uint8Array(0), fuel: 3_000_000 },
  { name: 'recursion', code: fixtures.stackOverflow, input: new Uint8Array(0) },
  { name: 'trap', code: fixtures.trap, input: new Uint8Array(0) },
  { name: 'wasi cat', code: fixtures.wasiCat, input: Buffer.alloc(100_000, 'x') },
];
// The C examples, when the toolchain built them (CI requires it).
for (const name of ['wordcount', 'calc']) if (fs.existsSync(example(name))) JOBS.push({ name, code: fs.readFileSync(example(name)), input: exampleInput(name) });

/** What must not change: everything but times and worker ids. */
async function outcome(host: Host, job: Job, isolation: 'worker' | 'job' = 'worker'): Promise<string> {
  try {
    const result = await host.execute(job.code, job.input, { isolation, ...(job.fuel ? { fuel: job.fuel } : {}) });
    const digest = (bytes: Uint8Array) => crypto.createHash('sha256').update(bytes).digest('hex');
    return JSON.stringify({ ok: true, output: digest(result.output), log: digest(result.log), fuelUsed: result.fuelUsed });
  } catch (error) {
    if (!(error instanceof WardenError)) throw error;
    return JSON.stringify({ ok: false, code: error.code, deterministic: error.deterministic, fuelUsed: error.details.fuelUsed });
  }
}

async function outcomes(host: Host, isolation: 'worker' | 'job' = 'worker'): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const job of JOBS) out[job.name] = await outcome(host, job, isolation);
  return out;
}

/** The reference outcomes, from the first test; every other condition must reproduce them. */
let reference: Record<string, string> | undefined;

test.serial('20 runs of each job give the same outcome, in both isolation modes', async (t) => {
  const { host } = await startHost(t, { executeWorkers: 2 });
  reference = await outcomes(host);
  t.like(JSON.parse(reference['spin loop']!), { ok: false, code: 'E_OUT_OF_FUEL', deterministic: true, fuelUsed: 3_000_000 });
  t.like(JSON.parse(reference.recursion!), { ok: false, code: 'E_STACK_OVERFLOW', deterministic: true });
  t.like(JSON.parse(reference.trap!), { ok: false, code: 'E_TRAP', deterministic: true });
  t.like(JSON.parse(reference.upper!), { ok: true });
  for (let run = 1; run < 20; run++) {
    const isolation = run % 4 === 0 ? 'job' : 'worker';
    const again = await Promise.all(JOBS.map((job) => outcome(host, job, isolation)));
    t.deepEqual(again, Object.values(reference), `run ${run} (${isolation})`);
  }
});

/** Two CPU-bound processes, one per core, for the duration of `during`. */
async function withCoresLoaded<T>(during: () => Promise<T>): Promise<T> {
  const burners: ChildProcess[] = [0, 1].map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  try {
    return await during();
  } finally {
    for (const burner of burners) burner.kill('SIGKILL');
  }
}

test.serial('with both cores loaded by other work, the outcomes do not change', async (t) => {
  const { host } = await startHost(t, { executeWorkers: 2, limits: { executeTimeoutMs: 60_000 } });
  const loaded = await withCoresLoaded(async () => [await outcomes(host), await outcomes(host, 'job')]);
  for (const result of loaded) t.deepEqual(result, reference);
});

/** The command line of a process, or '' once it is gone. */
function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

for (const flag of ['--liftoff-only', '--no-liftoff']) {
  test.serial(`with V8's tier forced on the workers (${flag}), the outcomes do not change`, async (t) => {
    const { host } = await startHost(t, { executeWorkers: 2, prepareWorkers: 1 });
    // Set before the first spawn reads it: the pools ask for their workers when the host is
    // created, and a spawn reads it only after creating its dir (I/O). Checked below.
    host.workerTierFlags = [flag];
    await waitFor(() => host.workers().filter((w) => w.state === 'idle').length, (n) => n >= 3, 30_000);
    // Every worker runs under the flag: the sandboxed node's command line carries it.
    for (const worker of host.workers()) t.true(cmdline(worker.pid!).includes(flag), `${worker.id}: ${cmdline(worker.pid!)}`);
    t.deepEqual(await outcomes(host), reference);
    t.deepEqual(await outcomes(host, 'job'), reference);
  });
}

test.serial('after a host restart, from the cache, the outcomes do not change', async (t) => {
  const cacheDir = await tempCacheDir();
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const first = await createHost({ cacheDir, executeWorkers: 1 });
  try {
    t.deepEqual(await outcomes(first), reference);
  } finally {
    await first.close();
  }
  const second = await createHost({ cacheDir, executeWorkers: 1 });
  try {
    const artifact = await second.prepare(JOBS[0]!.code);
    t.true(artifact.cached, 'the restarted host runs the cached artifact');
    t.deepEqual(await outcomes(second), reference);
  } finally {
    await second.close();
  }
});

test('a worker V8 flag other than a tier flag is refused, even on the test-only path', async (t) => {
  const { host } = await startHost(t);
  host.workerTierFlags = ['--allow-natives-syntax'];
  await t.throwsAsync(host.spawnWorker('execute'), { message: /not one of --liftoff-only, --no-liftoff/ });
  host.workerTierFlags = [];
});
