/**
 * A real Redis for tests: Debian's redis-server on a free 127.0.0.1 port, with a temp dir and
 * no persistence, stopped (and its dir removed) after the test. Never a mock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';

export interface TestRedis {
  url: string;
  port: number;
  process: ChildProcess;
  /** Stops the server (idempotent); teardown calls it too. */
  stop(): Promise<void>;
}

/** A port the kernel just handed out on 127.0.0.1 (free unless someone takes it meanwhile). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once the server logs that it accepts connections; rejects when it exits first. */
function ready(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`redis-server not ready after ${timeoutMs} ms:\n${log}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code} before it was ready:\n${log}`));
    });
  });
}

async function startOnce(dir: string): Promise<TestRedis> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'notice'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr!.resume();
  try {
    await ready(child, 20_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: child,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/**
 * Starts a redis-server on a free 127.0.0.1 port with a temp dir and no persistence; `stop()`
 * ends it and removes the dir. For tests use `startRedis(t)`; the benchmark uses this.
 */
export async function launchRedis(): Promise<TestRedis> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-redis-'));
  let redis: TestRedis | undefined;
  let lastError: unknown;
  // Another process may take the free port between our probe and redis' bind: try again.
  for (let attempt = 0; attempt < 3 && !redis; attempt++) {
    try {
      redis = await startOnce(dir);
    } catch (error) {
      lastError = error;
    }
  }
  if (!redis) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw lastError;
  }
  const started = redis;
  return {
    ...started,
    async stop() {
      await started.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a redis-server for this test; it is stopped and its dir removed in teardown. */
export async function startRedis(t: ExecutionContext): Promise<TestRedis> {
  const redis = await launchRedis();
  t.teardown(() => redis.stop());
  return redis;
}
