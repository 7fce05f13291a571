/**
 * The host's reading of a prepare reply: the worker is untrusted, and what it reports reaches
 * the caller's Artifact (and the ABI it implies). The reply carries no export list (it could be
 * as long as the module, and headers are bounded): the names come from the host's own
 * derivation of the code, which the worker's artifact must match byte for byte, so a list a
 * worker forges in its reply changes nothing, and what a cache hit reports later comes from the
 * same bytes.
 */
import test from 'ava';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ArtifactCache } from '../../src/actors/artifactCache.js';
import { PrepareJob, type JobCommon } from '../../src/actors/hostJobs.js';
import { ModuleChecker } from '../../src/actors/moduleCheck.js';
import { exportsOfArtifactFile } from '../../src/artifactHandle.js';
import { PreparationError, type WardenError } from '../../src/index.js';
import { MessageType } from '../../src/protocol/messages.js';
import { encodeArtifact } from '../../src/shared/artifact.js';
import { deriveModule, preparationParamsHash } from '../../src/shared/derive.js';
import { DEFAULT_PREPARE_LIMITS } from '../../src/shared/limits.js';
import { wat } from '../helpers/wat.js';

const USAGE = { cpuTimeMs: 1, wallTimeMs: 1, peakRssBytes: 1 };
const PARAMS = preparationParamsHash(DEFAULT_PREPARE_LIMITS);
const CODE = wat('(module (memory (export "memory") 1) (func (export "run") (param i32 i32) (result i64) (i64.const 0)))');
/** What an honest prepare worker writes for CODE. */
const DERIVED = deriveModule(CODE, DEFAULT_PREPARE_LIMITS).module;

async function setup(t: import('ava').ExecutionContext) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-prepare-reply-'));
  t.teardown(() => fsp.rm(dir, { recursive: true, force: true }));
  const cache = await ArtifactCache.open(dir, { maxBytes: 2 ** 20 });
  const checker = new ModuleChecker();
  t.teardown(() => checker.close());
  const failures: WardenError[] = [];
  const common: JobCommon = {
    id: 'job-1',
    priority: 'normal',
    isolation: 'worker',
    signal: undefined,
    deadline: undefined,
    cpuTimeLimitMs: 1000,
    hardTimeoutMs: 2000,
    hooks: { started() {}, succeeded() {}, failed: (_job, error) => failures.push(error), resubmit() {} },
  };
  const key = ArtifactCache.keyFor(CODE, PARAMS);
  const job = new PrepareJob(common, key, PARAMS, CODE, DEFAULT_PREPARE_LIMITS, cache, checker);
  return { dir, cache, failures, job, key };
}

const FORGED_EXPORTS: Record<string, unknown> = {
  'a forged list of names': ['_start', 'forged'],
  'a string': 'run',
  'an object': { length: 1, 0: 'run' },
  missing: undefined,
};

for (const [name, exports] of Object.entries(FORGED_EXPORTS)) {
  test(`a prepare reply with ${name} as exports: the names come from the host's derivation`, async (t) => {
    const { dir, cache, failures, job, key } = await setup(t);
    await fsp.writeFile(path.join(dir, 'tmp-artifact'), encodeArtifact(DERIVED, PARAMS));
    const header = { ok: true, artifactBytes: 8, moduleBytes: 8, exports, ...USAGE };
    const frame = { type: MessageType.PrepareResult, id: 1, header, body: new Uint8Array(0) };
    await job.collect({ id: 'prepare-1', hostDir: dir, linked: undefined }, frame);
    const { entry, exports: got } = await job.promise;
    t.deepEqual(got, ['memory', 'run']);
    t.deepEqual(exportsOfArtifactFile(entry.path), got, 'a cache hit reads the same names');
    t.is(failures.length, 0);
    t.deepEqual(cache.list().map((e) => e.key), [key]);
  });
}

test('a prepare reply whose artifact has a malformed export section fails with E_PREPARATION, nothing installed', async (t) => {
  const { dir, cache, job } = await setup(t);
  // An export section (id 7) that claims one export and ends there.
  const module = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x07, 0x01, 0x01]);
  await fsp.writeFile(path.join(dir, 'tmp-artifact'), encodeArtifact(module, PARAMS));
  const frame = { type: MessageType.PrepareResult, id: 1, header: { ok: true, artifactBytes: 8, moduleBytes: 8, ...USAGE }, body: new Uint8Array(0) };
  await t.throwsAsync(job.collect({ id: 'prepare-1', hostDir: dir, linked: undefined }, frame), { instanceOf: PreparationError });
  await t.throwsAsync(job.promise, { instanceOf: PreparationError });
  t.deepEqual(cache.list(), [], 'nothing was installed');
});
