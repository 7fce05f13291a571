/**
 * The host's check of a prepared artifact (src/actors/moduleCheck.ts), on its real piscina threads:
 * an artifact is accepted only if it is the one derived from the code, the exports come from the
 * host's derivation, and a big check (a 30 MiB module) never holds up the event loop or the
 * checks behind it.
 */
import os from 'node:os';
import zlib from 'node:zlib';
import test from 'ava';
import { ModuleChecker } from '../../src/actors/moduleCheck.js';
import { checkArtifact, type ModuleCheckTask } from '../../src/actors/moduleCheckTask.js';
import { encodeArtifact } from '../../src/shared/artifact.js';
import { DEFAULT_PREPARE_LIMITS } from '../../src/shared/limits.js';
import { prepare } from '../../src/worker/jobs/prepare.js';
import { dataModule } from '../helpers/wasmModel.js';
import { fixtures, PARAMS_HASH } from '../helpers/wat.js';

const limits = DEFAULT_PREPARE_LIMITS;
const MiB = 1024 * 1024;

function task(code: Uint8Array, artifact: Uint8Array, overrides: Partial<ModuleCheckTask> = {}): ModuleCheckTask {
  return { code, limits, paramsHash: PARAMS_HASH, artifact, ...overrides };
}

test('an honest artifact is accepted, with the exports of the host derivation', (t) => {
  const { artifact } = prepare(fixtures.upper, limits, PARAMS_HASH);
  const verdict = checkArtifact(task(fixtures.upper, artifact));
  t.true(verdict.ok);
  t.deepEqual(verdict.ok && verdict.exports, ['memory', 'alloc', 'run']);
});

test("another module's valid artifact is refused: not derived from the code", (t) => {
  const { artifact } = prepare(fixtures.echoHeapBase, limits, PARAMS_HASH);
  t.like(checkArtifact(task(fixtures.upper, artifact)), { ok: false, reason: 'not-derived-from-code' });
});

test('the unclamped module of the right code is refused too: the artifact must be the derivation, byte for byte', (t) => {
  // upper declares no maximum: its derivation adds one, so the module as submitted is not it.
  t.like(checkArtifact(task(fixtures.upper, encodeArtifact(fixtures.upper, PARAMS_HASH))), { ok: false, reason: 'not-derived-from-code' });
});

test('an artifact for code that does not prepare is refused, naming why', (t) => {
  const { artifact } = prepare(fixtures.upper, limits, PARAMS_HASH);
  const verdict = checkArtifact(task(fixtures.forbiddenImport, artifact));
  t.like(verdict, { ok: false, reason: 'not-derived-from-code' });
  t.regex(!verdict.ok ? verdict.message : '', /E_PREVALIDATION: import "env"/);
});

test.serial('the host check never hands the bytes to V8: it runs with WebAssembly unusable', (t) => {
  const { artifact } = prepare(fixtures.wasiCat, limits, PARAMS_HASH);
  const saved = { validate: WebAssembly.validate, Module: WebAssembly.Module, compile: WebAssembly.compile, Instance: WebAssembly.Instance };
  const refuse = () => {
    throw new Error('V8 was handed the bytes');
  };
  Object.assign(WebAssembly, { validate: refuse, Module: refuse, compile: refuse, Instance: refuse });
  try {
    t.true(checkArtifact(task(fixtures.wasiCat, artifact)).ok);
    t.like(checkArtifact(task(fixtures.forbiddenImport, artifact)), { ok: false, reason: 'not-derived-from-code' });
  } finally {
    Object.assign(WebAssembly, saved);
  }
});

test('a bad format and another params hash are refused before anything is derived', (t) => {
  const { artifact } = prepare(fixtures.upper, limits, PARAMS_HASH);
  const flipped = Buffer.from(artifact);
  flipped[flipped.length - 1]! ^= 1;
  t.like(checkArtifact(task(fixtures.upper, flipped)), { ok: false, reason: 'bad-format' });
  t.like(checkArtifact(task(fixtures.upper, artifact, { paramsHash: 'cd'.repeat(32) })), { ok: false, reason: 'params-mismatch' });
});

/** A valid module of about `mib` MiB (a data segment), gzipped to a few KiB, and its honest artifact. */
function bigModule(mib: number): { code: Uint8Array; artifact: Buffer } {
  const code = zlib.gzipSync(dataModule(mib * MiB));
  return { code, artifact: prepare(code, limits, PARAMS_HASH).artifact };
}

test('a 30 MiB check runs off the event loop: the loop keeps turning, and a small check behind it is not held up', async (t) => {
  const checker = new ModuleChecker();
  t.teardown(() => checker.close());
  const big = bigModule(30);
  const small = prepare(fixtures.upper, limits, PARAMS_HASH).artifact;
  // Both threads started, so the small check does not wait for a thread to boot behind the big one.
  await Promise.all([checker.check(task(fixtures.upper, Buffer.from(small))), checker.check(task(fixtures.upper, Buffer.from(small)))]);
  let turns = 0;
  let spinning = true;
  const spin = (): void => {
    turns++;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  let bigDone = false;
  let smallBeforeBig = false;
  const bigCheck = checker.check(task(big.code, big.artifact)).then((verdict) => {
    bigDone = true;
    return verdict;
  });
  const smallCheck = checker.check(task(fixtures.upper, Buffer.from(small))).then((verdict) => {
    smallBeforeBig = !bigDone;
    return verdict;
  });
  const [bigVerdict, smallVerdict] = await Promise.all([bigCheck, smallCheck]);
  spinning = false;
  t.true(bigVerdict.ok, 'the big artifact is accepted');
  t.true(smallVerdict.ok);
  t.true(turns >= 10, `the event loop turned ${turns} times while the big check ran`);
  if (os.availableParallelism() > 1) t.true(smallBeforeBig, 'the small check finished first, on the other thread');
});

test('a closed checker refuses new checks with E_CACHE_IO', async (t) => {
  const checker = new ModuleChecker();
  await checker.close();
  await checker.close();
  const error = await t.throwsAsync(checker.check(task(fixtures.upper, new Uint8Array(8))));
  t.is((error as { code?: string }).code, 'E_CACHE_IO');
});
