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
  /** The worker's one-file bundle (scripts/bundle.mjs). */
  workerEntry: path.join(PACKAGE_ROOT, 'dist', 'worker', 'main.cjs'),
} as const;

/** The worker dir as every worker sees it inside its new root. */
export const SANDBOX_WORKER_DIR = '/worker';
