import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the installed package (this file is dist/sandbox/paths.js). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the package's own files are, once built. */
export const packagePaths = {
  root: PACKAGE_ROOT,
  packageJson: path.join(PACKAGE_ROOT, 'package.json'),
  dist: path.join(PACKAGE_ROOT, 'dist'),
  launcher: path.join(PACKAGE_ROOT, 'build', 'Release', 'launcher'),
  addon: path.join(PACKAGE_ROOT, 'build', 'Release', 'warden_addon.node'),
  /** The worker's entry, which runs its one-file bundle (scripts/bundle.mjs). */
  workerEntry: path.join(PACKAGE_ROOT, 'dist', 'worker', 'main.cjs'),
} as const;

/**
 * Where the package's files appear inside a worker's new root: a neutral path, so nothing in
 * the sandbox tells where the package is installed on the host. The layout below it mirrors
 * the package's, so the paths the worker code computes relative to itself (the addon from
 * dist/worker, the job thread beside the entry) hold in both places.
 */
export const SANDBOX_PACKAGE_ROOT = '/warden';

/**
 * The package files a worker runs, and nothing else of the package: the worker's three
 * bundles (scripts/bundle.mjs), the loaders in front of two of them, and the addon. Paths
 * relative to the package root, the same on the host and under {@link SANDBOX_PACKAGE_ROOT}.
 */
export const WORKER_FILES = {
  entry: 'dist/worker/main.cjs',
  entryBody: 'dist/worker/main.body.cjs',
  jobThread: 'dist/worker/jobThread.cjs',
  jobThreadBody: 'dist/worker/jobThread.body.cjs',
  probes: 'dist/worker/probes.cjs',
  addon: 'build/Release/warden_addon.node',
} as const;

/**
 * Package files a worker reads when they are there and does without otherwise: the V8 code
 * caches of its bundles, made at `npm run build` (scripts/codeCache.mjs).
 */
export const OPTIONAL_WORKER_FILES = {
  entryCache: 'dist/worker/main.cache',
  jobThreadCache: 'dist/worker/jobThread.cache',
} as const;

/** A package file's path inside the sandbox. */
export function sandboxPackagePath(relative: string): string {
  return path.posix.join(SANDBOX_PACKAGE_ROOT, relative);
}

/** The worker dir as every worker sees it inside its new root. */
export const SANDBOX_WORKER_DIR = '/worker';
