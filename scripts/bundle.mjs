#!/usr/bin/env node
// Bundles the two entries that start inside every sandboxed worker process into one file each,
// over what tsc emitted at the same paths (run after tsc, from any cwd):
//
//   dist/worker/main.js       the worker process (node's argv entry)
//   dist/worker/jobThread.js  the job thread (a worker_threads Worker started beside it)
//
// Why: a cold worker spends more time resolving and loading its ES module graph (a file, a
// stat and a compile per module) than running it; one file per entry starts the job thread in
// 28.5 ms instead of 41.6 ms (docs/performance.md, row 3). The unbundled modules stay in dist
// for everything else (the host, the CLI, the tests' attacker workers).
//
// The bundles are self-contained: the worker has no node_modules inside its sandbox, so any
// package in the graph is an error here, not at run time. The native addon is not bundled: it
// is loaded with process.dlopen by a path relative to the bundle (dist/worker → build/Release),
// the same directory as the module it replaces, so the path still holds.
//
// Without this step (tsc alone) dist still works, just with the slower start.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Source entry → the file it replaces in dist. */
const ENTRIES = {
  'src/worker/main.ts': 'dist/worker/main.js',
  'src/worker/jobThread.ts': 'dist/worker/jobThread.js',
};

async function bundle(source, outfile) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [source],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    // The worker runs on the host's node (engines: >=20); tsc's target, so the code is the same.
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning',
    // The probes (child_process, net) stay a module of their own, imported on the first probe:
    // a worker serving jobs never loads them.
    external: ['./probes.js'],
  });
  const packages = Object.keys(result.metafile.inputs).filter((input) => input.includes('node_modules'));
  if (packages.length > 0) {
    throw new Error(`${source} must not bundle packages (the sandbox has no node_modules): ${packages.join(', ')}`);
  }
  await Promise.all(result.outputFiles.map((file) => fs.writeFile(file.path, file.contents)));
}

for (const [source, outfile] of Object.entries(ENTRIES)) await bundle(source, outfile);
