import fs from 'node:fs';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import type { NativeAddon } from '../shared/addon.js';
import type { ProbeResult } from '../protocol/messages.js';

/**
 * Fixed sandbox probes the host can ask a worker to try, to verify its confinement from
 * inside (the security tests and `warden security --verify` use them). Each one *attempts*
 * something the sandbox should refuse and reports what happened; none takes code or paths
 * to execute beyond a path or number to aim at.
 */
type Probe = (arg: string, addon: NativeAddon) => ProbeResult | Promise<ProbeResult>;

function attempt(action: () => string | void): ProbeResult {
  try {
    const detail = action();
    return detail === undefined ? { ok: true } : { ok: true, detail };
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    return { ok: false, code: err.code ?? err.name, detail: err.message };
  }
}

/** Converts an errno name from the addon into a probe result ('OK' means the call went through). */
function fromErrno(errno: string): ProbeResult {
  return errno === 'OK' ? { ok: true } : { ok: false, code: errno };
}

function fileType(mode: number): string {
  const type = mode & fs.constants.S_IFMT;
  if (type === fs.constants.S_IFREG) return 'file';
  if (type === fs.constants.S_IFDIR) return 'dir';
  if (type === fs.constants.S_IFIFO) return 'fifo';
  if (type === fs.constants.S_IFSOCK) return 'socket';
  if (type === fs.constants.S_IFCHR) return 'char';
  if (type === fs.constants.S_IFLNK) return 'symlink';
  return 'other';
}

const probes: Record<string, Probe> = {
  readFile: (path) => attempt(() => `${fs.readFileSync(path).length} bytes`),
  readDir: (path) => attempt(() => fs.readdirSync(path).join(',')),
  stat: (path) => attempt(() => fileType(fs.statSync(path).mode)),
  writeFile: (path) => attempt(() => fs.writeFileSync(path, 'warden-probe')),
  createFile: (path) =>
    attempt(() => {
      fs.closeSync(fs.openSync(path, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY));
    }),
  mkdir: (path) => attempt(() => fs.mkdirSync(path)),
  unlink: (path) => attempt(() => fs.unlinkSync(path)),
  symlink: (path) => attempt(() => fs.symlinkSync('/', path)),
  syscall: (name, addon) => fromErrno(addon.probeSyscall(name)),
  execve: (_arg, addon) => fromErrno(addon.probeExecve()),
  fork: (_arg, addon) => fromErrno(addon.probeFork()),
  spawn: (path) =>
    attempt(() => {
      const result = spawnSync(path, [], { stdio: 'ignore' });
      if (result.error) throw result.error;
      return `exit ${result.status}`;
    }),
  env: () => ({ ok: true, detail: JSON.stringify(process.env) }),
  kill: (arg) =>
    attempt(() => {
      const [pid, signal] = arg.split(':');
      process.kill(Number(pid), (signal ?? 'SIGTERM') as NodeJS.Signals);
    }),
  /** fstat every fd below 256: `fd:type:dev:ino` for each open one. */
  fds: () => {
    const open: string[] = [];
    for (let fd = 0; fd < 256; fd++) {
      try {
        const st = fs.fstatSync(fd);
        open.push(`${fd}:${fileType(st.mode)}:${st.dev}:${st.ino}`);
      } catch {
        // closed
      }
    }
    return { ok: true, detail: open.join(' ') };
  },
  connectTcp: (arg) =>
    new Promise<ProbeResult>((resolve) => {
      const [host, port] = arg.split(':');
      let socket: net.Socket;
      try {
        socket = net.connect({ host: host ?? '127.0.0.1', port: Number(port) });
      } catch (error) {
        const err = error as NodeJS.ErrnoException;
        resolve({ ok: false, code: err.code ?? err.name, detail: err.message });
        return;
      }
      socket.once('connect', () => {
        socket.destroy();
        resolve({ ok: true });
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, code: err.code ?? err.name, detail: err.message }));
    }),
};

export async function runProbe(name: string, arg: string, addon: NativeAddon): Promise<ProbeResult> {
  const probe = probes[name];
  if (!probe) return { ok: false, code: 'E_UNKNOWN_PROBE', detail: `no probe named ${name}` };
  return probe(arg, addon);
}
