import { InvalidOptionError } from '../errors.js';
import { DEFAULT_STABLE_MS, type SupervisorMachineContext, type SupervisorMachineInput } from './supervisorTypes.js';

function describe(value: unknown): string {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\` (${typeof value})`;
}

function check(name: string, value: unknown, ok: (value: number) => boolean, expected: string): void {
  if (typeof value !== 'number' || !ok(value)) {
    throw new InvalidOptionError(`Expected the \`${name}\` option to be ${expected}, got ${describe(value)}`, {
      details: { option: name },
    });
  }
}

const nonNegativeInteger = (value: number) => Number.isSafeInteger(value) && value >= 0;
const positiveFinite = (value: number) => Number.isFinite(value) && value > 0;
const nonNegativeFinite = (value: number) => Number.isFinite(value) && value >= 0;

/** Whether `size` is a pool size the supervisor accepts (also the guard of RESIZE). */
export function isPoolSize(size: unknown): size is number {
  return typeof size === 'number' && nonNegativeInteger(size);
}

/**
 * Validates a supervisor's input at the boundary and builds its first context. Throws
 * `E_INVALID_OPTION` naming the option: a bad policy is the caller's mistake, found before
 * any worker is spawned.
 *
 * @example
 * const context = resolveSupervisorInput({
 *   kind: 'execute', size: 4, cooldownMs: 30_000,
 *   backoff: { initialMs: 100, maxMs: 10_000, factor: 2 },
 *   crashLoop: { maxFailures: 5, windowMs: 60_000 },
 * });
 */
export function resolveSupervisorInput(input: SupervisorMachineInput): SupervisorMachineContext {
  if (input.kind !== 'prepare' && input.kind !== 'execute') {
    throw new InvalidOptionError(`Expected the \`kind\` option to be 'prepare' or 'execute', got ${describe(input.kind)}`, {
      details: { option: 'kind' },
    });
  }
  check('size', input.size, nonNegativeInteger, 'a non-negative integer');
  check('backoff.initialMs', input.backoff?.initialMs, positiveFinite, 'a positive number');
  check('backoff.maxMs', input.backoff?.maxMs, (v) => Number.isFinite(v) && v >= input.backoff.initialMs, 'a number ≥ `backoff.initialMs`');
  check('backoff.factor', input.backoff?.factor, (v) => Number.isFinite(v) && v >= 1, 'a number ≥ 1');
  check('crashLoop.maxFailures', input.crashLoop?.maxFailures, nonNegativeInteger, 'a non-negative integer');
  check('crashLoop.windowMs', input.crashLoop?.windowMs, positiveFinite, 'a positive number');
  check('cooldownMs', input.cooldownMs, nonNegativeFinite, 'a non-negative number');
  const stableMs = input.stableMs ?? DEFAULT_STABLE_MS;
  check('stableMs', stableMs, nonNegativeFinite, 'a non-negative number');
  return {
    kind: input.kind,
    size: input.size,
    backoff: { ...input.backoff },
    crashLoop: { ...input.crashLoop },
    cooldownMs: input.cooldownMs,
    stableMs,
    workers: [],
    spawning: 0,
    retiring: 0,
    recentFailures: 0,
    failureEpoch: 0,
    backoffMs: input.backoff.initialMs,
    lastFailure: undefined,
  };
}
