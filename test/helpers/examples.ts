/**
 * The example modules that need the C toolchain. `npm ci` builds the others anywhere (wabt and
 * AssemblyScript are npm packages) and skips `wordcount` and `calc` where clang, lld, wasi-libc
 * or compiler-rt are missing; the tests that run them skip there too, saying why in their
 * title. CI sets WARDEN_EXAMPLES_REQUIRE_C=1: then nothing skips, and a module that was not
 * built fails its tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SerialFn, TestFn } from 'ava';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

/** What to install on Debian for the C examples (examples/README.md). */
export const C_PACKAGES = 'clang lld wasi-libc libclang-rt-14-dev-wasm32';

/** CI's switch: every example must be there. */
export const REQUIRE_C = process.env.WARDEN_EXAMPLES_REQUIRE_C === '1';

interface ManifestEntry {
  name: string;
  toolchain: string;
  wasm: string;
}

/** examples/examples.json's list. */
export const manifest: ManifestEntry[] = (JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'examples.json'), 'utf8')) as { examples: ManifestEntry[] }).examples;

/** Whether an example's module is in examples/build/. */
export function isBuilt(name: string): boolean {
  const entry = manifest.find((e) => e.name === name);
  if (!entry) throw new Error(`no example named ${name} in examples/examples.json`);
  return fs.existsSync(path.join(EXAMPLES, entry.wasm));
}

/** Why tests of these examples skip, or undefined when they run (built, or required by CI). */
export function skipReason(names: readonly string[]): string | undefined {
  const missing = names.filter((name) => !isBuilt(name));
  if (missing.length === 0 || REQUIRE_C) return undefined;
  return `skipped: ${missing.join(', ')} not built — the C examples need: apt-get install ${C_PACKAGES}`;
}

/**
 * `declare` (test, test.serial) for a test that runs the C examples `names`, or, where they
 * were not built, its `.skip` with the reason appended to the title.
 *
 * @example
 * needsExamples(['wordcount'], test.serial)('WASI ABI: wordcount', async (t) => { ... });
 */
export function needsExamples<Declare extends TestFn | SerialFn>(names: readonly string[], declare: Declare): Declare {
  const why = skipReason(names);
  if (why === undefined) return declare;
  return ((title: string, ...rest: unknown[]) => (declare.skip as (...args: unknown[]) => void)(`${title} (${why})`, ...rest)) as unknown as Declare;
}

/** The examples whose modules are there (all of them under WARDEN_EXAMPLES_REQUIRE_C=1, built or not). */
export function availableExamples(): ManifestEntry[] {
  return manifest.filter((e) => REQUIRE_C || isBuilt(e.name));
}
