/**
 * warden nodes and producers for tests, on a real Redis (test/helpers/redis.ts): nodes in this
 * process (the library) or as `warden serve` processes (each its own cache dir, standing for a
 * machine), each closed or killed after the test with no worker process left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { WardenQueue, createWardenWorker, type WardenQueueOptions, type WardenWorker, type WardenWorkerOptions } from '../../src/bullmq/index.js';
import { cliPath } from './cli.js';
import { tempCacheDir, waitFor, workerProcesses } from './host.js';
import type { TestRedis } from './redis.js';

/** An example module with its input and expected output. */
export interface ExampleModule {
  name: string;
  code: Buffer;
  input: Buffer;
  expected: Buffer;
}

/** The examples of the `run` ABI (built by `npm run build`). */
export function exampleModules(names = ['hello', 'upper', 'sha256', 'calc']): ExampleModule[] {
  const dir = path.resolve('examples');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'examples.json'), 'utf8')) as {
    examples: { name: string; wasm: string; input: string; expected: string }[];
  };
  return names.map((name) => {
    const entry = manifest.examples.find((e) => e.name === name);
    if (!entry) throw new Error(`no example ${name}`);
    return {
      name,
      code: fs.readFileSync(path.join(dir, entry.wasm)),
      input: fs.readFileSync(path.join(dir, entry.input)),
      expected: fs.readFileSync(path.join(dir, entry.expected)),
    };
  });
}

/** Short locks and stall checks for tests, long enough for a loaded 2-core machine (renewed every 2.5 s). */
export const TEST_LOCKS = { lockDurationMs: 5000, stalledIntervalMs: 2000, maxStalledCount: 5 };

/** A node in this process on a fresh cache dir; closed after the test, its workers checked gone. */
export async function startNode(
  t: ExecutionContext,
  redis: TestRedis,
  queue: string,
  options: Partial<WardenWorkerOptions> = {},
): Promise<{ node: WardenWorker; cacheDir: string }> {
  const cacheDir = await tempCacheDir('warden-node-');
  const node = await createWardenWorker(queue, {
    connection: redis.url,
    ...TEST_LOCKS,
    ...options,
    host: { executeWorkers: 1, prepareWorkers: 1, ...options.host, cacheDir },
  });
  t.teardown(async () => {
    await node.close({ graceMs: 0 });
    const left = await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0);
    await fsp.rm(cacheDir, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`worker processes left behind: ${left.join(', ')}`);
  });
  return { node, cacheDir };
}

/** A producer on the queue, closed after the test. */
export function producer(t: ExecutionContext, redis: TestRedis, queue: string, options: Partial<WardenQueueOptions> = {}): WardenQueue {
  const wardenQueue = new WardenQueue(queue, { connection: redis.url, ...options });
  t.teardown(() => wardenQueue.close());
  return wardenQueue;
}

/** A `warden serve` process. */
export interface NodeProcess {
  name: string;
  cacheDir: string;
  child: ChildProcess;
  /** The inspector's address (its /metrics carries the node's labels). */
  url: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * Starts `warden serve` as its own process with its own cache dir (a machine of its own),
 * resolved once it takes jobs. Killed after the test if still running; no worker of it may
 * outlive it.
 */
export async function spawnNode(t: ExecutionContext, redis: TestRedis, queue: string, name: string, extra: string[] = []): Promise<NodeProcess> {
  const cacheDir = await tempCacheDir(`warden-${name}-`);
  const args = [
    cliPath,
    'serve',
    '--redis',
    redis.url,
    '--queue',
    queue,
    '--node',
    name,
    '--cache-dir',
    cacheDir,
    '--inspect-port',
    '0',
    '--lock-duration',
    `${TEST_LOCKS.lockDurationMs}ms`,
    '--stalled-interval',
    `${TEST_LOCKS.stalledIntervalMs}ms`,
    '--max-stalled-count',
    String(TEST_LOCKS.maxStalledCount),
    ...extra,
  ];
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    // The launcher's parent-death signal takes the workers down with the node.
    const left = await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0, 10_000);
    await fsp.rm(cacheDir, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`worker processes of ${name} left behind: ${left.join(', ')}`);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${name} did not start within 60 s:\n${stderr}`)), 60_000);
    child.stdout!.on('data', () => {
      const match = /inspector (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(new Error(`node ${name} exited (${code ?? signal}) before it started:\n${stderr}`));
    });
  });
  return { name, cacheDir, child, url, stdout: () => stdout, stderr: () => stderr, exited };
}

/** A node's metrics as `name{labels} value` lines. */
export async function scrape(url: string): Promise<string[]> {
  const response = await fetch(new URL('/metrics', url));
  return (await response.text()).split('\n').filter((line) => line && !line.startsWith('#'));
}

/** The sum of the series whose line contains every fragment (0 when none): other labels (priority, ...) add up. */
export function metric(lines: string[], name: string, ...fragments: string[]): number {
  return lines
    .filter((l) => l.startsWith(`${name}{`) && fragments.every((f) => l.includes(f)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/**
 * A WASI command that reads its input (up to 60,000 bytes), sleeps `ms` on the monotonic clock
 * (`poll_oneoff`, no CPU used), then writes the input back: a job that stays in flight a while
 * and whose result is still exact.
 */
export function sleepEchoSource(ms: number): string {
  return `(module
    (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 2)
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 60000))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (i64.store (i32.const 65536) (i64.const 7))
      (i32.store8 (i32.const 65544) (i32.const 0))
      (i32.store (i32.const 65552) (i32.const 1))
      (i64.store (i32.const 65560) (i64.const ${BigInt(ms) * 1_000_000n}))
      (drop (call $poll_oneoff (i32.const 65536) (i32.const 65600) (i32.const 1) (i32.const 65640)))
      (i32.store (i32.const 65700) (i32.const 1024))
      (i32.store (i32.const 65704) (i32.load (i32.const 8)))
      (drop (call $fd_write (i32.const 1) (i32.const 65700) (i32.const 1) (i32.const 65708)))))`;
}
