import fs from 'node:fs';
import path from 'node:path';
import { readElfDeps } from './elf.js';
import { OPTIONAL_WORKER_FILES, PACKAGE_ROOT, WORKER_FILES, sandboxPackagePath } from './paths.js';

/** One read-only bind: `source` on the host, `target` inside the new root. */
export interface Bind {
  source: string;
  target: string;
}

/**
 * Directories the dynamic loader searches, in the order the host's own loader found node's
 * libraries (read from /proc/self/maps), then the usual multiarch defaults.
 */
function librarySearchDirs(): string[] {
  const dirs: string[] = [];
  try {
    for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const file = line.slice(line.indexOf('/'));
      if (line.includes('/') && /\.so(\.|$)/.test(file)) dirs.push(path.dirname(file));
    }
  } catch {
    // no /proc: fall back to the defaults
  }
  const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  dirs.push(`/lib/${arch}`, `/usr/lib/${arch}`, '/lib64', '/usr/lib64', '/lib', '/usr/lib');
  return [...new Set(dirs)];
}

function findLibrary(name: string, dirs: string[]): string | undefined {
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

let cached: Bind[] | undefined;

/**
 * Everything node needs to start the worker, and nothing more: the node binary, its ELF
 * interpreter and the libraries it links against (transitively), each at its own path (the
 * dynamic loader looks for them there); and the worker's own files (its bundles and the addon)
 * under the neutral /warden, never the package's install path, its other files or its
 * package.json.
 */
export function runtimeBinds(): Bind[] {
  if (cached) return cached;
  const dirs = librarySearchDirs();
  const binds = new Map<string, string>();
  const add = (target: string): void => {
    if (!binds.has(target)) binds.set(target, fs.realpathSync(target));
  };
  const node = process.execPath;
  add(node);
  const queue = [node];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const file = queue.shift()!;
    const real = fs.realpathSync(file);
    if (seen.has(real)) continue;
    seen.add(real);
    const deps = readElfDeps(real);
    if (deps.interpreter) add(deps.interpreter);
    for (const name of deps.needed) {
      const found = findLibrary(name, dirs);
      if (!found) throw new Error(`cannot find ${name}, needed by ${file}`);
      add(found);
      queue.push(found);
    }
  }
  // Nothing of node_modules: the worker runs on node's own modules, its bundles and the addon.
  for (const file of Object.values(WORKER_FILES)) {
    binds.set(sandboxPackagePath(file), fs.realpathSync(path.join(PACKAGE_ROOT, file)));
  }
  // Bound only when the build made it: without one, its bundle compiles from source.
  for (const file of Object.values(OPTIONAL_WORKER_FILES)) {
    const source = path.join(PACKAGE_ROOT, file);
    if (fs.existsSync(source)) binds.set(sandboxPackagePath(file), fs.realpathSync(source));
  }
  cached = [...binds].map(([target, source]) => ({ source, target }));
  return cached;
}
