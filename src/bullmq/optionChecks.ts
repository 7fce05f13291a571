/** Option checks shared by the node and the producer: each message names its option. */
import type { KeepJobs } from 'bullmq';
import { InvalidOptionError } from '../errors.js';
import { describe } from '../options.js';

export function nonEmptyString(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionError(`Expected the \`${name}\` option to be a non-empty string, got ${describe(value)}`, { details: { option: name } });
  }
  return value;
}

export function keepJobs(name: string, value: unknown, fallback: KeepJobs): KeepJobs {
  if (value === undefined) return fallback;
  const v = value as { age?: unknown; count?: unknown };
  const ok =
    value !== null &&
    typeof value === 'object' &&
    (v.age !== undefined || v.count !== undefined) &&
    [v.age, v.count].every((n) => n === undefined || (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0));
  if (!ok) {
    throw new InvalidOptionError(`Expected the \`${name}\` option to be { age?: seconds, count?: jobs } with at least one, got ${describe(value)}`, {
      details: { option: name },
    });
  }
  return value as KeepJobs;
}

export function nonNegativeInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(`Expected the \`${name}\` option to be a non-negative integer, got ${describe(value)}`, { details: { option: name } });
  }
  return value;
}

