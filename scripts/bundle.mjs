#!/usr/bin/env node
// Bundles the two entries that start inside every sandboxed worker process into one file each
// (run after tsc, from any cwd):
//
//   dist/worker/main.js        the worker process (node's argv entry), over tsc's output
//   dist/worker/jobThread.cjs  the job thread (a worker_threads Worker that src/worker/jobRunner.ts
//                              starts from the file beside it), CommonJS
//
// Why: a cold worker spends more time resolving and loading its ES module graph (a file, a
// stat and a compile per module) than running it (docs/performance.md, row 3). The job thread
// is CommonJS as well: a Worker whose entry is an ES module first boots the ESM loader in its
// new isolate, 3–5 ms more. The unbundled modules stay in dist for everything else (the
// host, the CLI, the tests' attacker workers).
//
// The bundles are self-contained: the worker has no node_modules inside its sandbox, so any
// package in the graph is an error here, not at run time. The native addon is not bundled: it
// is loaded with process.dlopen by a path relative to the bundle (dist/worker → build/Release),
// the same directory as the module it replaces, so the path still holds.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Source entry → its bundle in dist, and the bundle's module format. */
const ENTRIES = [
  { source: 'src/worker/main.ts', outfile: 'dist/worker/main.js', format: 'esm' },
  { source: 'src/worker/jobThread.ts', outfile: 'dist/worker/jobThread.cjs', format: 'cjs' },
];

async function bundle({ source, outfile, format }) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [source],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    // The worker runs on the host's node: the oldest warden supports (engines: >=20).
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning',
    // The probes (child_process, net) stay a module of their own, imported on the first probe:
    // a worker serving jobs never loads them.
    external: ['./probes.js'],
  });
  // A warning is a bundle that may not run as its modules did (e.g. `import.meta` in CommonJS).
  if (result.warnings.length > 0) throw new Error(`${source}: esbuild warned, see above`);
  const packages = Object.keys(result.metafile.inputs).filter((input) => input.includes('node_modules'));
  if (packages.length > 0) {
    throw new Error(`${source} must not bundle packages (the sandbox has no node_modules): ${packages.join(', ')}`);
  }
  await Promise.all(result.outputFiles.map((file) => fs.writeFile(file.path, file.contents)));
}

for (const entry of ENTRIES) await bundle(entry);
