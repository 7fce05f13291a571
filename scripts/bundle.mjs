#!/usr/bin/env node
// Bundles the entries that run inside every sandboxed worker process into one CommonJS file
// each, beside tsc's output (run after tsc, from any cwd):
//
//   dist/worker/main.body.cjs  the worker process, run by main.cjs (node's argv entry,
//                              src/sandbox/paths.ts)
//   dist/worker/jobThread.body.cjs  a prepare worker's job thread (a worker_threads Worker that
//                              src/worker/jobRunner.ts starts from jobThread.cjs beside it)
//   dist/worker/probes.cjs     the sandbox probes, which main.cjs loads on the first probe
//
// main.cjs and jobThread.cjs are copies of scripts/bundleLoader.cjs, which compiles the bundle
// beside it with its V8 code cache (main.cache, jobThread.cache), made here, see codeCache.mjs.
//
// These, the loaders, the caches and the addon are all of the package a worker sees (src/sandbox/runtime.ts): no
// package.json, so nothing may need one; CommonJS throughout.
//
// Why: a cold worker spends more time resolving and loading its ES module graph (a file, a
// stat and a compile per module) than running it (docs/performance.md, row 3). CommonJS, not an
// ES module bundle: node boots its ESM loader for an ES module entry, 3–5 ms more per process
// and per thread. The unbundled modules stay in dist for everything else (the host, the CLI,
// the tests' attacker workers).
//
// The bundles are self-contained: the worker has no node_modules inside its sandbox, so any
// package in the graph is an error here, not at run time. The native addon is not bundled: it
// is loaded with process.dlopen by a path relative to the bundle (dist/worker → build/Release),
// the same directory as the module it came from, so the path still holds; `import.meta.url` is
// the bundle's own file URL.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildCodeCache, buildWorkerCodeCache } from './codeCache.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Source entry → its bundle in dist. */
const ENTRIES = {
  'src/worker/main.ts': 'dist/worker/main.body.cjs',
  'src/worker/jobThread.ts': 'dist/worker/jobThread.body.cjs',
  'src/worker/probes.ts': 'dist/worker/probes.cjs',
};

/** The probes stay a module of their own, loaded on the first probe: its bundle, beside. */
const probesAsBundle = {
  name: 'probes-as-bundle',
  setup(plugin) {
    plugin.onResolve({ filter: /^\.\/probes\.c?js$/ }, () => ({ path: './probes.cjs', external: true }));
  },
};

/**
 * The warm-up module (src/worker/jobs/warmUpModule.ts) prepared by tsc's output of this build,
 * base64: the worker's bundle carries it (`__WARDEN_WARM_UP_ARTIFACT__`), so that an execute
 * worker warms its job path up without preparing anything (prepare's code is not in its bundle).
 */
async function warmUpArtifact() {
  const load = (file) => import(path.join(root, 'dist', file));
  const [{ prepare }, { WARM_UP_MODULE }, { DEFAULT_PREPARE_LIMITS }] = await Promise.all([load('worker/jobs/prepare.js'), load('worker/jobs/warmUpModule.js'), load('shared/limits.js')]);
  const { artifact } = prepare(WARM_UP_MODULE, DEFAULT_PREPARE_LIMITS, '0'.repeat(64));
  return Buffer.from(artifact);
}

/**
 * Bundles `source` (a path relative to the package root) into `outfile` as the worker bundles
 * are built (`defines`: more identifiers replaced). Exported for the test suite, which bundles
 * its attacker workers the same way.
 */
export async function bundle(source, outfile, defines = {}) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [source],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    // CommonJS has no import.meta: the modules that locate files by it (the addon, the job
    // thread) get the bundle's URL instead. The banner goes first, so it repeats the strict
    // mode directive that must open the file (ES modules are strict).
    banner: { js: '"use strict";\nconst __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
    define: { 'import.meta.url': '__bundleUrl', ...defines },
    // The worker runs on the host's node: the oldest warden supports (engines: >=20).
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning',
    // The probes (child_process, net) stay a module of their own, imported on the first probe:
    // a worker serving jobs never loads them.
    plugins: [probesAsBundle],
  });
  // A warning is a bundle that may not run as its modules did (e.g. `import.meta` in CommonJS).
  if (result.warnings.length > 0) throw new Error(`${source}: esbuild warned, see above`);
  const packages = Object.keys(result.metafile.inputs).filter((input) => input.includes('node_modules'));
  if (packages.length > 0) {
    throw new Error(`${source} must not bundle packages (the sandbox has no node_modules): ${packages.join(', ')}`);
  }
  await Promise.all(result.outputFiles.map((file) => fs.writeFile(file.path, file.contents)));
}

/**
 * Puts `scripts/bundleLoader.cjs` in front of a bundle (`name`.cjs, running `name`.body.cjs) and
 * makes its code cache with `make`. The cache is an optimisation only: without it the bundle
 * compiles from source, as it would with a cache V8 rejects. The install goes on; the reason is said.
 */
async function withLoader(name, make) {
  const loader = path.join(root, `dist/worker/${name}.cjs`);
  await fs.copyFile(path.join(root, 'scripts/bundleLoader.cjs'), loader);
  const cacheFile = path.join(root, `dist/worker/${name}.cache`);
  try {
    const bytes = await make(loader, cacheFile);
    console.log(`bundle: dist/worker/${name}.cache, the V8 code cache of ${name}.body.cjs, ${bytes} B`);
  } catch (error) {
    await fs.rm(cacheFile, { force: true });
    console.warn(`bundle: no code cache for ${name}.body.cjs (${error.message}); it will compile from source`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const artifact = await warmUpArtifact();
  const mainDefines = { __WARDEN_WARM_UP_ARTIFACT__: JSON.stringify(artifact.toString('base64')) };
  for (const [source, outfile] of Object.entries(ENTRIES)) await bundle(source, outfile, source === 'src/worker/main.ts' ? mainDefines : {});
  const dist = path.join(root, 'dist');
  await withLoader('main', (loader, cacheFile) => buildWorkerCodeCache(loader, cacheFile, { dist, artifact }));
  // Last: it sets V8 flags in this process (a prepare worker's, under which its thread runs).
  await withLoader('jobThread', (loader, cacheFile) => buildCodeCache(loader, cacheFile, { dist }));
}
