/**
 * Helpers for the scheduler's integration tests (test/host/): a real host on a fresh cache dir
 * with a leak check of worker dirs, worker processes and file descriptors, an event recorder,
 * the example modules, and job fixtures whose duration does not depend on the CPU (a WASI
 * sleep) so that "a job is running" is a fact, not a race.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { HOST_EVENT_TYPES, type Host, type HostEvents, type HostOptions, type WardenError } from '../../src/index.js';
import { startHost, waitFor, workerProcesses } from './host.js';
import { wasiSleepSource, wat } from './wat.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLES = path.join(ROOT, 'examples');

/** An example module with its input and expected output, as examples/examples.json lists it. */
export interface Example {
  wasm: Buffer;
  input: Buffer;
  expected: Buffer;
  expectedStderr: Buffer | undefined;
}

/** Reads an example of examples/ (built by `npm run build`). */
export function example(name: 'hello' | 'upper' | 'sha256' | 'wordcount' | 'calc'): Example {
  const stderr = path.join(EXAMPLES, name, 'expected-stderr.txt');
  return {
    wasm: fs.readFileSync(path.join(EXAMPLES, 'build', `${name}.wasm`)),
    input: fs.readFileSync(path.join(EXAMPLES, name, 'input.txt')),
    expected: fs.readFileSync(path.join(EXAMPLES, name, 'expected.txt')),
    expectedStderr: fs.existsSync(stderr) ? fs.readFileSync(stderr) : undefined,
  };
}

/** The `hello` example: "world" → "Hello, world!". */
export const hello = example('hello');

/** UTF-8 text of bytes. */
export function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

const sleepModules = new Map<number, Uint8Array>();

/**
 * A WASI command that sleeps `ms` milliseconds (poll_oneoff on the monotonic clock) and uses
 * almost no CPU: a job that is surely still running `ms` after it started, on any machine.
 * Its wall time counts against the worker's wall-clock bound (4 × `timeoutMs`), so give it a
 * `timeoutMs` of at least `ms`.
 */
export function sleepCode(ms: number): Uint8Array {
  let code = sleepModules.get(ms);
  if (!code) {
    code = wat(wasiSleepSource(BigInt(ms) * 1_000_000n));
    sleepModules.set(ms, code);
  }
  return code;
}

let bomb: Promise<Buffer> | undefined;

/**
 * A gzip decompression bomb: `\0asm` and a version, then 512 MiB of zeros, compressed to about
 * half a MiB. Built streaming (one 1 MiB zero buffer written again and again), so the test
 * process never holds the inflated bytes; built once per process.
 */
export function gzipBomb(): Promise<Buffer> {
  bomb ??= new Promise<Buffer>((resolve, reject) => {
    const gzip = zlib.createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    gzip.on('end', () => resolve(Buffer.concat(chunks)));
    gzip.on('error', reject);
    const zeros = Buffer.alloc(1024 * 1024);
    let left = 512;
    gzip.write(Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    const pump = (): void => {
      while (left > 0) {
        left--;
        if (!gzip.write(zeros)) {
          gzip.once('drain', pump);
          return;
        }
      }
      gzip.end();
    };
    pump();
  });
  return bomb;
}

/** Open file descriptors of this process. */
export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Every event a host emitted, in order. */
export interface Recorder {
  all: { name: keyof HostEvents; payload: unknown }[];
  of<K extends keyof HostEvents>(name: K): HostEvents[K][0][];
}

/** Records every event of `host` from now on. */
export function record(host: Host): Recorder {
  const all: Recorder['all'] = [];
  for (const name of HOST_EVENT_TYPES) {
    host.on(name, ((payload: unknown) => all.push({ name, payload })) as never);
  }
  return {
    all,
    of: <K extends keyof HostEvents>(name: K) => all.filter((e) => e.name === name).map((e) => e.payload as HostEvents[K][0]),
  };
}

/** How long a test's host may take to close before the test fails for it. */
const CLOSE_TIMEOUT_MS = 10_000;

/** Fd slack: the first spawn of a process may open lasting fds (libuv's signal pipe, ...). */
const FD_TOLERANCE = 3;

/**
 * Starts a real host (test/helpers/host.ts `startHost`: after the test it closes the host and
 * fails on any worker dir or process left) with one prepare and one execute worker unless told
 * otherwise, waits until every worker is idle, and fails the test if it leaves open file
 * descriptors behind. Tests using it should be `test.serial`: fds are per process.
 */
export async function startScheduler(
  t: ExecutionContext,
  options: HostOptions = {},
  { readyTimeoutMs = 15_000 }: { readyTimeoutMs?: number } = {},
): Promise<{ host: Host; cacheDir: string; events: Recorder }> {
  const before = openFds();
  // Teardowns run last-registered first: this one runs after startHost's has closed the host.
  t.teardown(async () => {
    const after = await waitFor(openFds, (n) => n <= before + FD_TOLERANCE, 3000);
    if (after > before + FD_TOLERANCE) throw new Error(`file descriptors left open: ${before} before the test, ${after} after`);
  });
  const { host, cacheDir } = await startHost(t, { executeWorkers: 1, prepareWorkers: 1, ...options });
  // Runs before startHost's teardown: a close() that hangs fails this test instead of stalling
  // the whole file until AVA's timeout. The stuck host's workers are killed so nothing leaks.
  t.teardown(async () => {
    if ((await within(host.close().then(() => 'settled', () => 'settled'), CLOSE_TIMEOUT_MS)) === 'settled') return;
    // Escalating to a forced close stops the pools (their respawn timers would keep this
    // process alive); its promise is the hung one, so it is not awaited.
    void host.close({ force: true });
    (host as { close: () => Promise<void> }).close = () => Promise.resolve();
    for (const pid of workerProcesses(cacheDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    throw new Error(`host.close() did not settle within ${CLOSE_TIMEOUT_MS} ms`);
  });
  const events = record(host);
  // Start from a ready host: every worker spawned (closing a host whose workers are still
  // spawning is a case of its own, in close.test.ts).
  await idleWorkers(host, 'prepare', host.options.prepareWorkers, readyTimeoutMs);
  await idleWorkers(host, 'execute', host.options.executeWorkers, readyTimeoutMs);
  return { host, cacheDir, events };
}

/** Resolves with the first `name` event whose payload satisfies `match`. */
export function nextEvent<K extends keyof HostEvents>(
  host: Host,
  name: K,
  match: (payload: HostEvents[K][0]) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<HostEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      host.off(name, listener as never);
      reject(new Error(`no ${name} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (payload: HostEvents[K][0]): void => {
      if (!match(payload)) return;
      clearTimeout(timer);
      host.off(name, listener as never);
      resolve(payload);
    };
    host.on(name, listener as never);
  });
}

/** The sandboxed node pid of a worker, as the host sees it. */
export function pidOf(host: Host, workerId: string): number {
  const pid = host.workers().find((w) => w.id === workerId)?.pid;
  if (pid === undefined) throw new Error(`worker ${workerId} has no pid (workers: ${JSON.stringify(host.workers())})`);
  return pid;
}

/** Waits until the pool of `kind` has `count` idle workers. */
export async function idleWorkers(host: Host, kind: 'prepare' | 'execute', count = 1, timeoutMs = 15_000): Promise<{ id: string; pid: number | undefined }[]> {
  const idle = () => host.workers().filter((w) => w.kind === kind && w.state === 'idle');
  const found = await waitFor(idle, (w) => w.length >= count, timeoutMs);
  if (found.length < count) throw new Error(`${count} idle ${kind} workers expected, have ${JSON.stringify(host.workers())}`);
  return found;
}

/** The rejection of `promise` as a WardenError; fails if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<WardenError> {
  try {
    await promise;
  } catch (error) {
    return error as WardenError;
  }
  throw new Error('expected the promise to reject, it resolved');
}

/** What `promise` settles to, or `'pending'` if it has not settled by the next macrotask. */
export async function settledBeforeMacrotask(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  const state = promise.then(
    () => 'resolved' as const,
    () => 'rejected' as const,
  );
  const tick = new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')));
  return Promise.race([state, tick]);
}

/** Flips one byte of a file in place (same inode), as a bit rot on disk would. */
export function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const at = offset < 0 ? size + offset : offset;
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    fs.writeSync(fd, byte, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** What `promise` resolves to, or `'timed out'` after `ms`: a hang fails an assertion instead of the run. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed out'>((resolve) => {
    timer = setTimeout(() => resolve('timed out'), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
