/**
 * The corpus of real C programs in test/fixtures/wasi-programs, built with clang and Debian's
 * wasi-libc (the packages `.ci/run` installs) into a cache dir keyed by the sources and the
 * compiler, and node:wasi as the reference to compare them with, run in a child process.
 */
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PROGRAMS_DIR = path.resolve(here, '../fixtures/wasi-programs');
const NODE_WASI_CHILD = path.join(here, 'nodeWasiChild.mjs');

/** Link flags a program needs: `oom` has its own 16 MiB memory maximum, so both runtimes stop it at the same place. */
const LINK_FLAGS: Record<string, string[]> = { oom: ['-Wl,--max-memory=16777216'] };

/**
 * clang runs `wasm-opt` after linking when one is on PATH; node_modules/.bin has binaryen's, which
 * runs in node and takes many seconds a program. The corpus is built without it.
 */
function clangEnv(): NodeJS.ProcessEnv {
  const PATH = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => !dir.includes('node_modules')).join(path.delimiter);
  return { ...process.env, PATH };
}

/** Builds every program (or reuses a build of the same sources); the reason when the toolchain is missing. */
export function buildWasiPrograms(): { programs: Map<string, Uint8Array> } | { reason: string } {
  const sources = fs.readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith('.c')).sort();
  let version: string;
  try {
    version = execFileSync('clang', ['--version'], { encoding: 'utf8', env: clangEnv() });
  } catch (error) {
    return { reason: `clang is not available: ${(error as Error).message.split('\n')[0]}` };
  }
  const hash = crypto.createHash('sha256').update(version).update(JSON.stringify(LINK_FLAGS));
  for (const file of sources) hash.update(file).update(fs.readFileSync(path.join(PROGRAMS_DIR, file)));
  const outDir = path.join(os.tmpdir(), `warden-wasi-programs-${hash.digest('hex').slice(0, 16)}`);
  const programs = new Map<string, Uint8Array>();
  try {
    fs.mkdirSync(outDir, { recursive: true });
    for (const file of sources) {
      const name = file.slice(0, -2);
      const wasm = path.join(outDir, `${name}.wasm`);
      if (!fs.existsSync(wasm)) {
        const tmp = `${wasm}.${process.pid}.tmp`;
        execFileSync('clang', ['--target=wasm32-wasi', '-O2', '-Wall', '-o', tmp, path.join(PROGRAMS_DIR, file), ...(LINK_FLAGS[name] ?? [])], { stdio: 'pipe', env: clangEnv() });
        fs.renameSync(tmp, wasm);
      }
      programs.set(name, fs.readFileSync(wasm));
    }
  } catch (error) {
    return { reason: `clang with wasi-libc cannot build the corpus: ${(error as Error).message.split('\n')[0]}` };
  }
  return { programs };
}

/** What node:wasi did with a program: stdout, stderr, and how it ended. */
export interface NodeWasiRun {
  stdout: Buffer;
  stderr: Buffer;
  /** The exit code (0 for a normal end), or undefined when the module trapped. */
  exitCode: number | undefined;
  /** The trap's message when it trapped (node:wasi lets a RuntimeError through). */
  trap: string | undefined;
  /** Every file in the preopened directory afterwards, by relative path. */
  files: Map<string, Buffer>;
}

/** Every regular file under `dir`, by path relative to it. */
export function filesUnder(dir: string, prefix = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const entry of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) for (const [k, v] of filesUnder(dir, rel)) out.set(k, v);
    else if (entry.isFile()) out.set(rel, fs.readFileSync(path.join(dir, rel)));
  }
  return out;
}

/**
 * Runs `wasm` under node:wasi in a child process (Node 20's node:wasi can crash its process under
 * a GC inside the fd_write fast API call, hence --no-turbo-fast-api-calls), with a temp dir
 * holding `files` preopened as `/`, as warden preopens the job's directory.
 */
export async function runNodeWasi(
  wasm: Uint8Array,
  { args, env = {}, files = {}, stdin = '' }: { args: string[]; env?: Record<string, string>; files?: Record<string, string | Uint8Array>; stdin?: string | Uint8Array },
): Promise<NodeWasiRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-node-wasi-'));
  try {
    const root = path.join(dir, 'root');
    for (const [name, data] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      fs.writeFileSync(path.join(root, name), data);
    }
    fs.mkdirSync(root, { recursive: true });
    fs.writeFileSync(path.join(dir, 'module.wasm'), wasm);
    const resultFile = path.join(dir, 'result.json');
    const { stdout, stderr } = await new Promise<{ stdout: Buffer; stderr: Buffer }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--no-turbo-fast-api-calls', '--no-warnings', NODE_WASI_CHILD, path.join(dir, 'module.wasm'), root, JSON.stringify(args), JSON.stringify(env), resultFile],
        { encoding: 'buffer', env: {}, maxBuffer: 64 << 20 },
        (_error, out, err) => resolve({ stdout: out, stderr: err }),
      );
      child.stdin!.end(stdin);
    });
    const result = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as { exitCode?: number; trap?: string };
    return { stdout, stderr, exitCode: result.exitCode, trap: result.trap, files: filesUnder(root) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
