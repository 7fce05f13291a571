/**
 * The running side of metering: sets the fuel and logical stack counters an instrumented module
 * exports (src/shared/meter/instrument.ts) before any of its code runs, charges host functions
 * for their calls and the bytes they move, reads the fuel used, and tells a trap of the counters
 * from any other.
 */
import { FUEL_EXPORT, HOST_BYTES_PER_FUEL, HOST_CALL_FUEL, HOST_ITEM_FUEL, STACK_EXPORT, START_EXPORT } from '../../shared/meter/costs.js';
import { JobError } from '../../shared/jobError.js';

type HostFunction = (...args: never[]) => unknown;

export class Meter {
  #fuel: WebAssembly.Global | undefined;
  #stack: WebAssembly.Global | undefined;

  /**
   * @param budget the job's fuel, a positive safe integer
   * @param maxStackHeight the logical stack, in units of 8 bytes (src/shared/meter/costs.ts)
   */
  constructor(
    readonly budget: number,
    readonly maxStackHeight: number,
  ) {}

  /**
   * Finds the counters among the instance's exports and sets them. An artifact without them was
   * not prepared by this warden: E_CORRUPTED_ARTIFACT, and the host prepares it again.
   */
  attach(exports: WebAssembly.Exports): void {
    const fuel = exports[FUEL_EXPORT];
    const stack = exports[STACK_EXPORT];
    if (!(fuel instanceof WebAssembly.Global) || !(stack instanceof WebAssembly.Global)) {
      throw new JobError('E_CORRUPTED_ARTIFACT', 'the artifact module is not metered (no warden:fuel and warden:stack exports)');
    }
    fuel.value = BigInt(this.budget);
    stack.value = this.maxStackHeight;
    this.#fuel = fuel;
    this.#stack = stack;
  }

  /** Runs the module's start function, which the instrumenter turned into an export so that it runs metered. */
  start(exports: WebAssembly.Exports): void {
    const start = exports[START_EXPORT];
    if (typeof start === 'function') start();
  }

  /** Fuel used so far: the whole budget once it ran out. */
  fuelUsed(): number {
    if (this.#fuel === undefined) return 0;
    const left = this.#fuel.value as bigint;
    return left < 0n ? this.budget : this.budget - Number(left);
  }

  /** Logical stack left: `maxStackHeight` again whenever no call is in progress. */
  stackLeft(): number {
    return this.#stack === undefined ? this.maxStackHeight : (this.#stack.value as number);
  }

  get outOfFuel(): boolean {
    return this.#fuel !== undefined && (this.#fuel.value as bigint) < 0n;
  }

  get stackExhausted(): boolean {
    return this.#stack !== undefined && (this.#stack.value as number) < 0;
  }

  /**
   * Charges `fuel` from the host side. Out of fuel, the counter is left negative, so that the
   * module's next charge traps even if it caught this JobError (a wasm catch_all catches
   * exceptions from imports), and `check` fails the job if it returned anyway.
   */
  charge(fuel: number): void {
    if (this.#fuel === undefined || fuel <= 0) return;
    const left = (this.#fuel.value as bigint) - BigInt(fuel);
    this.#fuel.value = left;
    if (left < 0n) throw outOfFuel(this.budget);
  }

  /** Charges a host function for the bytes it moves between linear memory and the host. */
  chargeBytes(bytes: number): void {
    this.charge(Math.floor(bytes / HOST_BYTES_PER_FUEL));
  }

  /** Charges a host function for the items of work it does beyond copying bytes (`HOST_ITEM_FUEL`). */
  chargeItems(items: number): void {
    this.charge(items * HOST_ITEM_FUEL);
  }

  /** The import object with each host function charged `HOST_CALL_FUEL` per call, however it is reached. */
  meterImports<T extends Record<string, HostFunction>>(imports: T): T {
    const metered: Record<string, HostFunction> = {};
    for (const [name, fn] of Object.entries(imports)) {
      metered[name] = (...args: never[]) => {
        this.charge(HOST_CALL_FUEL);
        return fn(...args);
      };
    }
    return metered as T;
  }

  /** Fails a job that ran out of fuel but caught the host's exception and returned. */
  check(): void {
    if (this.outOfFuel) throw outOfFuel(this.budget);
  }
}

function outOfFuel(budget: number): JobError {
  return new JobError('E_OUT_OF_FUEL', `the job ran out of fuel (${budget})`);
}
