/**
 * The host's check of a prepare reply's `exports`: the worker is untrusted, and the names reach
 * the caller's Artifact (and the ABI it implies). A reply whose exports are not a list of names
 * fails the job and the collect step with E_PROTOCOL (the pool then kills the worker), before
 * anything is installed.
 */
import test from 'ava';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ArtifactCache } from '../../src/actors/artifactCache.js';
import { PrepareJob, type JobCommon } from '../../src/actors/hostJobs.js';
import { ModuleChecker } from '../../src/actors/moduleCheck.js';
import { ProtocolError, type WardenError } from '../../src/index.js';
import { MessageType } from '../../src/protocol/messages.js';
import { DEFAULT_PREPARE_LIMITS } from '../../src/shared/limits.js';

const USAGE = { cpuTimeMs: 1, wallTimeMs: 1, peakRssBytes: 1 };

const FORGED_EXPORTS: Record<string, unknown> = {
  'a string': 'run',
  'an object': { length: 1, 0: 'run' },
  'a list with a number': ['run', 7],
  missing: undefined,
};

for (const [name, exports] of Object.entries(FORGED_EXPORTS)) {
  test(`a prepare reply whose exports are ${name} fails its job with E_PROTOCOL`, async (t) => {
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
    const job = new PrepareJob(common, 'key', '0'.repeat(64), new Uint8Array(8), DEFAULT_PREPARE_LIMITS, cache, checker);
    const header = { ok: true, artifactBytes: 8, moduleBytes: 8, exports, ...USAGE };
    const frame = { type: MessageType.PrepareResult, id: 1, header, body: new Uint8Array(0) };
    const collected = await t.throwsAsync(job.collect({ id: 'prepare-1', hostDir: dir, linked: undefined }, frame), { instanceOf: ProtocolError });
    t.regex(collected!.message, /exports are not a list of names/);
    await t.throwsAsync(job.promise, { instanceOf: ProtocolError });
    t.is(failures.length, 1);
    t.deepEqual(cache.list(), [], 'nothing was installed');
  });
}
