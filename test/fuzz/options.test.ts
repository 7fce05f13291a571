/**
 * Fuzzes host option validation. Contract: resolved options (every number a positive integer within
 * its bounds) or InvalidOptionError E_INVALID_OPTION whose `details.option` names an offending
 * option; never another error type.
 */
import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { InvalidOptionError } from '../../src/errors.js';
import { DEFAULT_LIMITS, MAX_HARD_TIMEOUT_FACTOR, MAX_JOB_TIMEOUT_MS, resolveHostOptions, type HostOptions } from '../../src/options.js';
import { params } from './_fuzz.js';

const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS);
const TOP_NUMBERS = ['prepareWorkers', 'executeWorkers', 'maxQueue', 'cacheMaxBytes', 'handshakeTimeoutMs'];
const FRAME = 64 * 1024 * 1024;
/** Names `Object.prototype` answers to with `in`: see the regression test below. */
const PROTOTYPE_NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', 'isPrototypeOf'];

/** JSON-ish values, weighted towards numbers near the interesting boundaries. Bigints are left out: see below. */
const value = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 100_000 }), weight: 4 },
  { arbitrary: fc.constantFrom(0, -1, 0.5, 1.5, NaN, Infinity, -Infinity, -0, 2 ** 53, FRAME, FRAME + 1, MAX_JOB_TIMEOUT_MS, MAX_JOB_TIMEOUT_MS + 1, 16, 17), weight: 2 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 1 }), weight: 1 },
  { arbitrary: fc.constantFrom(undefined, null, true, '1', [], {}), weight: 1 },
);

const limitsArb = fc.oneof(
  { arbitrary: fc.dictionary(fc.constantFrom(...LIMIT_NAMES), value, { maxKeys: 6 }), weight: 6 },
  { arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...LIMIT_NAMES), fc.string({ maxLength: 6 })), value, { maxKeys: 4 }), weight: 1 },
  { arbitrary: value, weight: 1 },
);

const optionsArb = fc.record(
  {
    cacheDir: fc.oneof(fc.constantFrom('/tmp/warden-fuzz', 'rel/dir', ''), value),
    allowInsecure: fc.oneof(fc.boolean(), value),
    prepareWorkers: value,
    executeWorkers: value,
    maxQueue: value,
    cacheMaxBytes: value,
    limits: limitsArb,
    handshakeTimeoutMs: value,
  },
  { requiredKeys: [] },
);

const options = fc.oneof(
  { arbitrary: optionsArb, weight: 8 },
  { arbitrary: fc.tuple(optionsArb, fc.string({ maxLength: 6 }), value).map(([o, k, v]) => ({ ...o, [k]: v })), weight: 1 },
);

const isPositiveInteger = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

function check(input: unknown): boolean {
  let resolved: ReturnType<typeof resolveHostOptions>;
  try {
    resolved = resolveHostOptions(input as HostOptions);
  } catch (error) {
    if (!(error instanceof InvalidOptionError) || error.code !== 'E_INVALID_OPTION') throw error;
    const option = error.details.option;
    assert.equal(typeof option, 'string', `details.option of "${error.message}"`);
    const given = input as Record<string, unknown>;
    if (Object.hasOwn(given, option as string)) return true;
    assert.ok((option as string).startsWith('limits.') && Object.hasOwn(given, 'limits'), `${String(option)} names a given option`);
    const name = (option as string).slice('limits.'.length);
    const givenLimits = given.limits as Record<string, unknown>;
    assert.ok(Object.hasOwn(givenLimits, name), `limits.${name} was given`);
    return true;
  }
  for (const name of TOP_NUMBERS) {
    const v = (resolved as unknown as Record<string, unknown>)[name];
    assert.ok(isPositiveInteger(v) || (name === 'maxQueue' && v === Infinity), `${name} = ${String(v)}`);
  }
  assert.equal(typeof resolved.cacheDir, 'string');
  assert.equal(typeof resolved.allowInsecure, 'boolean');
  const limits = resolved.limits as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(limits).sort(), [...LIMIT_NAMES].sort());
  for (const name of LIMIT_NAMES) {
    const v = limits[name];
    if (name === 'hardTimeoutFactor') assert.ok(typeof v === 'number' && v >= 1 && v <= MAX_HARD_TIMEOUT_FACTOR);
    else assert.ok(isPositiveInteger(v), `limits.${name} = ${String(v)}`);
  }
  const l = resolved.limits;
  assert.ok(l.maxCodeBytes <= FRAME && l.maxInputBytes <= FRAME && l.maxOutputBytes + l.maxLogBytes <= FRAME);
  assert.ok(l.prepareTimeoutMs <= MAX_JOB_TIMEOUT_MS && l.executeTimeoutMs <= MAX_JOB_TIMEOUT_MS);
  // A valid given value is kept as given.
  const givenLimits = (input as HostOptions).limits as Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(givenLimits ?? {})) if (v !== undefined) assert.equal(limits[k], v);
  return true;
}

test('arbitrary options resolve within bounds or fail with InvalidOptionError naming the option', (t) => {
  fc.assert(fc.property(options, check), params(3000));
  t.pass();
});

test('arbitrary non-object options fail with InvalidOptionError', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.boolean()), (input) => {
      assert.throws(() => resolveHostOptions(input as never), InvalidOptionError);
      return true;
    }),
    params(100),
  );
  t.pass();
});

// Regression (found by fuzzing, fixed): `describe()` formats a rejected value with JSON.stringify, which throws a TypeError on a
// bigint, so `{ maxQueue: 10n }` raises "Do not know how to serialize a BigInt" instead of
// E_INVALID_OPTION. Same for every positive-integer option and every `limits.*`.
test('regression: a bigint option value is an InvalidOptionError, not a TypeError', (t) => {
  t.throws(() => resolveHostOptions({ maxQueue: 10n } as never), { instanceOf: InvalidOptionError });
  t.throws(() => resolveHostOptions({ limits: { maxMemoryPages: 1n } } as never), { instanceOf: InvalidOptionError });
});

// Regression (found by fuzzing, fixed): unknown `limits.*` keys are detected with `key in DEFAULT_LIMITS`, which also sees
// Object.prototype, so `limits.constructor`, `limits.toString`, `limits.__proto__` (own key, as
// JSON.parse makes it) ... are silently accepted and ignored instead of refused.
test('regression: limits keys inherited from Object.prototype are unknown options', (t) => {
  for (const key of PROTOTYPE_NAMES) {
    const limits = JSON.parse(`{"${key}": 5}`) as Record<string, unknown>;
    const error = t.throws(() => resolveHostOptions({ limits } as never), { instanceOf: InvalidOptionError });
    t.is(error?.details.option, `limits.${key}`);
  }
});
