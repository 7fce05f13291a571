/**
 * The launcher process of a worker, started without forking the host. node's child_process
 * forks (libuv's uv_spawn): the kernel copies the host's page tables while the host's thread
 * waits, ~1.4 ms at 45 MB of RSS and ~7 ms at 100 MB on the bench machine, for every worker
 * started (one per job under `isolation: 'job'`), and it grows with the embedding application.
 * The addon's `spawn` is posix_spawn (CLONE_VM | CLONE_VFORK): ~0.4 ms whatever the host's size.
 *
 * `LauncherProcess` is what `WorkerProcess` uses of a child: node's `ChildProcess` (where the
 * addon is not loaded) has it, and so does `SpawnedLauncher`.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import createDebug from 'debug';
import type { NativeAddon } from '../shared/addon.js';

const debug = createDebug('warden:worker');

export interface LauncherProcess {
  readonly pid?: number | undefined;
  readonly stdout: NodeJS.ReadableStream | null;
  readonly stderr: NodeJS.ReadableStream | null;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
  /** After the exit and the end of stdout and stderr. */
  once(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'error', listener: (error: Error) => void): this;
}

const SIGNAL_NAMES = new Map(Object.entries(os.constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

/**
 * A child started by the addon, with stdout and stderr read through pipes and fd 3 given. Its
 * exit is seen by a thread of the addon that waits for it without reaping it: the pid stays the
 * child's until `exitCode` or `signalCode` is set here, so a `kill` can never reach another process.
 */
export class SpawnedLauncher extends EventEmitter implements LauncherProcess {
  readonly pid: number;
  readonly stdout: net.Socket;
  readonly stderr: net.Socket;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  #exited = false;

  /** Starts `file` with `args` in `cwd`, `channelFd` as its fd 3 if given (the caller still owns and closes it). */
  constructor(addon: NativeAddon, file: string, args: readonly string[], cwd: string, channelFd?: number) {
    super();
    const out = addon.pipe();
    let err: [number, number] | undefined;
    let pid: number;
    try {
      err = addon.pipe();
      pid = addon.spawn(file, [file, ...args], cwd, channelFd === undefined ? [out[1], err[1]] : [out[1], err[1], channelFd]);
    } catch (error) {
      for (const fd of [out[0], err?.[0]]) if (fd !== undefined) fs.closeSync(fd);
      throw error;
    } finally {
      for (const fd of [out[1], err?.[1]]) if (fd !== undefined) fs.closeSync(fd);
    }
    this.pid = pid;
    this.stdout = new net.Socket({ fd: out[0], readable: true, writable: false });
    this.stderr = new net.Socket({ fd: err[0], readable: true, writable: false });
    let open = 2;
    const closed = (): void => {
      open -= 1;
      this.#closeIfDone(open);
    };
    this.stdout.once('close', closed);
    this.stderr.once('close', closed);
    try {
      addon.waitExit(pid, (code, signal) => {
        this.exitCode = code;
        this.signalCode = signal === null ? null : (SIGNAL_NAMES.get(signal) ?? null);
        this.#exited = true;
        addon.reap(pid);
        this.emit('exit', this.exitCode, this.signalCode);
        this.#closeIfDone(open);
      });
    } catch (error) {
      // No watch (no thread could be made): nothing of it may be left running or unreaped.
      this.stdout.destroy();
      this.stderr.destroy();
      process.kill(pid, 'SIGKILL');
      addon.reap(pid, true);
      throw error;
    }
  }

  #closeIfDone(open: number): void {
    if (open === 0 && this.#exited) this.emit('close', this.exitCode, this.signalCode);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.#exited) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * `file` started by the addon, or undefined where it cannot be (no addon, or the addon refused:
 * the caller then starts it through node's child_process, which reports what went wrong).
 */
export function spawnWithAddon(
  addon: NativeAddon | null | undefined,
  file: string,
  args: readonly string[],
  cwd: string,
  channelFd?: number,
): SpawnedLauncher | undefined {
  if (typeof addon?.spawn !== 'function') return undefined;
  try {
    return new SpawnedLauncher(addon, file, args, cwd, channelFd);
  } catch (error) {
    debug('the addon cannot start %s (%s): node starts it', file, (error as Error).message);
    return undefined;
  }
}

/**
 * Runs `file` to its end as `execFile` would, output collected, killed past `timeoutMs`, through
 * the addon where it is loaded (no fork of the host on its way to its first job: the security
 * check runs at every `createHost`), else through node.
 */
export function runToEnd(
  addon: NativeAddon | null | undefined,
  file: string,
  args: readonly string[],
  options: { cwd: string; timeoutMs: number },
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const child = spawnWithAddon(addon, file, args, options.cwd);
  if (!child) {
    return new Promise((resolve) => {
      execFile(file, [...args], { cwd: options.cwd, env: {}, timeout: options.timeoutMs }, (error, stdout, stderr) => {
        resolve({ ok: !error, stdout: String(stdout), stderr: String(stderr) || (error ? error.message : '') });
      });
    });
  }
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const ok = code === 0;
      resolve({ ok, stdout, stderr: stderr || (ok ? '' : `${file} exited with ${code ?? signal}`) });
    });
  });
}
