/**
 * Shared fast-check parameters of the fuzz tests.
 *
 * `npm test` runs every property with a FIXED seed and a modest number of runs, so the suite is
 * deterministic and fast. `WARDEN_FUZZ_RUNS=20000` (and optionally `WARDEN_FUZZ_SEED=<int>`) scale
 * it up for `npm run fuzz`; without `WARDEN_FUZZ_SEED` a scaled-up run picks a random seed, which
 * fast-check prints on failure so the case can be replayed.
 */
import fs from 'node:fs';
import fc, { type Parameters } from 'fast-check';

const DEFAULT_SEED = 0x5eed_f022;

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got ${raw}`);
  return value;
}

const runs = envInt('WARDEN_FUZZ_RUNS');
const seed = envInt('WARDEN_FUZZ_SEED');

/** True when `WARDEN_FUZZ_RUNS` asks for the long run. */
export const LONG_RUN = runs !== undefined;

/** fast-check parameters: `defaultRuns` with the fixed seed, or the environment's runs and seed. */
export function params<T>(defaultRuns: number): Parameters<T> {
  if (runs === undefined) return { seed: seed ?? DEFAULT_SEED, numRuns: defaultRuns };
  return { seed: seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0, numRuns: runs };
}

/** The example modules of `examples/build/`, when they were built. */
export function exampleModules(): Uint8Array[] {
  const dir = new URL('../../examples/build/', import.meta.url);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((name) => name.endsWith('.wasm'));
  } catch {
    return [];
  }
  return names.sort().map((name) => new Uint8Array(fs.readFileSync(new URL(name, dir))));
}


type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  const n = bytes.byteLength;
  const at = n === 0 ? 0 : m.at % (n + (m.kind === 'insert' || m.kind === 'truncate' ? 1 : 0));
  switch (m.kind) {
    case 'set': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      out[at] = m.value;
      return out;
    }
    case 'flip': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      out[at] = out[at]! ^ (1 << m.bit);
      return out;
    }
    case 'insert':
      return Uint8Array.from([...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at)]);
    case 'delete':
      return Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + m.length)]);
    case 'truncate':
      return bytes.slice(0, at);
  }
}

/** `base` with 1 to `max` random byte-level mutations (set, bit flip, insert, delete, truncate). */
export function mutationsOf(base: fc.Arbitrary<Uint8Array>, max = 4): fc.Arbitrary<Uint8Array> {
  return fc.tuple(base, fc.array(mutation, { minLength: 1, maxLength: max })).map(([bytes, ms]) => ms.reduce(apply, bytes));
}
