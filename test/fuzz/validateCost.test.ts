/**
 * Bounds what prevalidation costs (issue 11, item 6): on any bytes, prepare's derivation visits
 * each byte a bounded number of times and keeps a bounded number of sections, so a malformed module
 * fails with E_PREVALIDATION in time linear in its size. The property counts work (bytes the reader
 * visits, sections it keeps) rather than time, so it holds however loaded the machine is; one test
 * also holds the whole worker pipeline (V8 included) to a generous CPU-time budget per MiB.
 */
import zlib from 'node:zlib';
import test from 'ava';
import fc from 'fast-check';
import { deriveModule } from '../../src/shared/derive.js';
import { JobError } from '../../src/shared/jobError.js';
import { DEFAULT_PREPARE_LIMITS } from '../../src/shared/limits.js';
import { readSections, readerWork } from '../../src/shared/wasmReader.js';
import { prepare } from '../../src/worker/jobs/prepare.js';
import { fixtures, PARAMS_HASH } from '../helpers/wat.js';
import { exampleModules, mutationsOf, params } from './_fuzz.js';

const HEADER = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const REAL = [...Object.values(fixtures), ...exampleModules()];
const MiB = 1024 * 1024;
/**
 * Bytes the reader may visit per byte of module: prevalidation's section walk, then one read of
 * each section it checks (a custom name twice); then metering's own walk of the sections and of
 * the module's declarations, and its one decode of each function body (src/shared/meter/).
 */
const VISITS_PER_BYTE = 4;
const limits = { ...DEFAULT_PREPARE_LIMITS, maxCodeBytes: 64 * MiB };

/** `unit` repeated to `length` bytes. */
function repeat(unit: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += unit.length) out.set(unit.subarray(0, length - at), at);
  return out;
}

/** A u32 as unsigned LEB128 of exactly 4 bytes (so sizes can be written before what they measure is known). */
function leb(value: number): number[] {
  return [(value & 0x7f) | 0x80, ((value >>> 7) & 0x7f) | 0x80, ((value >>> 14) & 0x7f) | 0x80, (value >>> 21) & 0x7f];
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Adversarial shapes: a short unit (zero pairs, tiny custom sections, a repeated section header...) repeated after a header or a real module. */
const repeated = fc
  .record({
    prefix: fc.oneof(fc.constant(HEADER), fc.constantFrom(...REAL)),
    unit: fc.oneof(
      fc.constantFrom([0, 0], [0, 1, 0], [1, 1, 0], [0, 2, 1, 0x41], [2, 5, 0xff, 0xff, 0xff, 0xff, 0x0f], [0, 0x80, 0x80, 0x80, 0x80, 0x00]).map((u) => Uint8Array.from(u)),
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
    ),
    length: fc.integer({ min: 0, max: 256 * 1024 }),
  })
  .map(({ prefix, unit, length }) => concat(prefix, repeat(unit, length)));

const input = fc.oneof(repeated, fc.uint8Array({ maxLength: 4096 }).map((rest) => concat(HEADER, rest)), mutationsOf(fc.constantFrom(...REAL)));

/** The derivation of `bytes`: what the reader visited and kept. Throws anything but a JobError. */
function measure(bytes: Uint8Array): { visited: number; kept: number } {
  const before = readerWork.bytes;
  try {
    deriveModule(bytes, limits);
  } catch (error) {
    if (!(error instanceof JobError)) throw error;
  }
  const visited = readerWork.bytes - before;
  let kept = 0;
  try {
    kept = readSections(bytes).length;
  } catch (error) {
    if (!(error instanceof JobError)) throw error;
  }
  return { visited, kept };
}

test('the derivation visits each byte at most four times and keeps at most 13 sections, whatever the bytes', (t) => {
  fc.assert(
    fc.property(input, (bytes) => {
      const { visited, kept } = measure(bytes);
      return visited <= VISITS_PER_BYTE * bytes.byteLength + 16 && kept <= 13;
    }),
    params(300),
  );
  t.pass();
});

/** The cases of the issue and their kin, at the size that took 10 s before: 8 MiB. */
const LARGE: Record<string, Uint8Array> = {
  'a valid module then zeros': concat(fixtures.upper, new Uint8Array(8 * MiB)),
  'named empty custom sections': concat(fixtures.upper, repeat(Uint8Array.from([0, 1, 0]), 8 * MiB)),
  'a type section, again and again': concat(HEADER, repeat(Uint8Array.from([1, 1, 0]), 8 * MiB)),
  // V8 must walk it to find the bad opcode at its end (a body of 7 MiB: V8's bound on one is 7,654,321 bytes).
  'one function of 7 MiB of nops, then an invalid opcode': ((body: number) =>
    concat(
      HEADER,
      Uint8Array.from([1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 10, 1, 6, ...Buffer.from('_start'), 0, 0]),
      Uint8Array.from([10, ...leb(body + 5), 1, ...leb(body)]),
      Uint8Array.from([0]),
      repeat(Uint8Array.from([1]), body - 3),
      Uint8Array.from([0xff, 0x0b]),
    ))(7 * MiB),
};

/** CPU time of `run` in this process, ms (user + system): unlike wall time, a loaded machine barely inflates it. */
function cpuMs(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

test('7 to 8 MiB malformed modules: the derivation visits at most four times their bytes, and prepare (V8 included) stays within 250 ms of CPU per MiB', (t) => {
  for (const [name, bytes] of Object.entries(LARGE)) {
    const { visited, kept } = measure(bytes);
    t.true(visited <= VISITS_PER_BYTE * bytes.byteLength + 16, `${name}: visited ${visited} bytes of ${bytes.byteLength}`);
    t.true(kept <= 13, name);
    let code: string | undefined;
    const used = cpuMs(() => {
      try {
        prepare(zlib.gzipSync(bytes, { level: 1 }), limits, PARAMS_HASH);
      } catch (error) {
        if (!(error instanceof JobError)) throw error;
        code = error.code;
      }
    });
    t.is(code, 'E_PREVALIDATION', name);
    t.true(used <= 250 * (bytes.byteLength / MiB), `${name}: ${used.toFixed(0)} ms of CPU`);
    t.log(`${name}: ${used.toFixed(0)} ms of CPU (${(used / (bytes.byteLength / MiB)).toFixed(1)} ms/MiB, gzip included)`);
  }
});
