/**
 * Runs a module as written and as metered, in this process, to compare what each computes. The
 * metered run goes through the worker's own `Meter` (counters set, start function run metered)
 * and its own classification of traps.
 */
import { instrument } from '../../src/shared/meter/instrument.js';
import { JobError } from '../../src/shared/jobError.js';
import { classifyError } from '../../src/worker/jobs/classify.js';
import { Meter } from '../../src/worker/jobs/meter.js';

export interface Outcome {
  /** What the call returned (bigints as strings), or undefined when it threw. */
  value?: unknown;
  /** The error's code (JobError) or message (anything else). */
  error?: string;
  fuelUsed?: number;
}

export interface RunOptions {
  fuel?: number;
  maxStackHeight?: number;
  imports?: WebAssembly.Imports;
}

function normalize(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(normalize);
  return value;
}

function describeError(error: unknown): string {
  if (error instanceof JobError) return error.code;
  if (error instanceof WebAssembly.RuntimeError) return `trap: ${error.message}`;
  return `${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`;
}

/** Instantiates `bytes` as is (its start function runs at instantiation) and calls `call`. */
export function runPlain(bytes: Uint8Array, call: (exports: WebAssembly.Exports) => unknown, imports: WebAssembly.Imports = {}): Outcome {
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
    return { value: normalize(call(instance.exports)) };
  } catch (error) {
    return { error: describeError(error) };
  }
}

/** Instantiates `instrument(bytes)` with its counters set, runs its start function, then `call`. */
export function runMetered(bytes: Uint8Array, call: (exports: WebAssembly.Exports, meter: Meter) => unknown, options: RunOptions = {}): Outcome {
  return runInstrumented(instrument(bytes), call, options);
}

/** As `runMetered`, for bytes already instrumented. */
export function runInstrumented(metered: Uint8Array, call: (exports: WebAssembly.Exports, meter: Meter) => unknown, options: RunOptions = {}): Outcome {
  const meter = new Meter(options.fuel ?? 1e12, options.maxStackHeight ?? 262_144);
  try {
    const wrapped = Object.fromEntries(
      Object.entries(options.imports ?? {}).map(([module, fns]) => [module, meter.meterImports(fns as Record<string, (...args: never[]) => unknown>)]),
    );
    const instance = new WebAssembly.Instance(new WebAssembly.Module(metered), wrapped);
    meter.attach(instance.exports);
    meter.start(instance.exports);
    const value = normalize(call(instance.exports, meter));
    meter.check();
    return { value, fuelUsed: meter.fuelUsed() };
  } catch (error) {
    // The metering traps are told apart by the worker's own classification; any other error is
    // described as the plain run describes it.
    const classified = classifyError(error, { memory: undefined, maxPages: undefined }, meter);
    const metering = classified instanceof JobError && ['E_OUT_OF_FUEL', 'E_STACK_OVERFLOW'].includes(classified.code);
    return { error: describeError(metering ? classified : error), fuelUsed: meter.fuelUsed() };
  }
}

/** The same outcome, fuel aside. */
export function sameResult(plain: Outcome, metered: Outcome): boolean {
  return JSON.stringify({ value: plain.value, error: plain.error }) === JSON.stringify({ value: metered.value, error: metered.error });
}
