/**
 * An execute request's header is sent as JSON the job builds itself (its limits encoded once per
 * limits object, `executeHeaderJson`): the worker must read exactly the header the job holds,
 * whichever optional fields it has.
 */
import test from 'ava';
import { executeHeaderJson } from '../../src/actors/hostJobs.js';
import type { ExecuteRequest } from '../../src/protocol/messages.js';
import { executeLimitsOf, DEFAULT_LIMITS } from '../../src/options.js';

const limits = Object.freeze(executeLimitsOf(DEFAULT_LIMITS));

test('the header JSON says what the header holds, with and without each optional field', (t) => {
  const headers: ExecuteRequest[] = [
    { abi: 'run', limits, cpuTimeLimitMs: 2000, isolation: 'worker', fuel: 10_000_000_000 },
    { abi: 'wasi', limits, cpuTimeLimitMs: 1, isolation: 'job', fuel: 1, compileTimeoutMs: 30_000 },
    { abi: 'wasi', limits, cpuTimeLimitMs: 86_400_000, isolation: 'worker', fuel: 5, inputBytes: 12, artifactCopy: 3 },
    { abi: 'run', limits: { ...limits, maxFuel: 7, maxMemoryPages: 1 }, cpuTimeLimitMs: 5, fuel: 7, artifactCopy: 0 },
  ];
  for (const header of headers) {
    const json = executeHeaderJson(header);
    t.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(header)), json);
    t.is(executeHeaderJson(header), json, 'the same text again (the limits from the cache)');
  }
});

test('two limits objects are encoded apart: one host\'s limits never reach another\'s jobs', (t) => {
  const other = Object.freeze({ ...limits, maxOutputBytes: 1 });
  const base = { abi: 'run', cpuTimeLimitMs: 2000, isolation: 'worker', fuel: 1 } as const;
  t.is((JSON.parse(executeHeaderJson({ ...base, limits })) as ExecuteRequest).limits.maxOutputBytes, limits.maxOutputBytes);
  t.is((JSON.parse(executeHeaderJson({ ...base, limits: other })) as ExecuteRequest).limits.maxOutputBytes, 1);
});
