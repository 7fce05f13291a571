/**
 * Every failure warden reports is a `WardenError` subclass with a stable `code`.
 * Match on `code`, not on the class or the message.
 *
 * `deterministic` follows the PVF host's distinction: `true` when the outcome depends only
 * on the submitted code and input (retrying cannot help), `false` when the machine, the
 * host or the sandbox caused it.
 */
export interface WardenErrorOptions {
  cause?: unknown;
  /** Extra machine-readable facts (worker id, launcher step, ...). */
  details?: Record<string, unknown>;
}

export abstract class WardenError extends Error {
  abstract readonly code: string;
  abstract readonly deterministic: boolean;
  readonly details: Record<string, unknown>;

  constructor(message: string, options: WardenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details ?? {};
    this.name = new.target.name;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      deterministic: this.deterministic,
      message: this.message,
      details: jsonDetails(this.details),
    };
  }
}

/** Details for JSON: bytes (a failed job's output, log and files) become their length, not a key per byte. */
function jsonDetails(details: Record<string, unknown>): Record<string, unknown> {
  const bytes = (value: unknown): unknown => (value instanceof Uint8Array ? { byteLength: value.byteLength } : value);
  return Object.fromEntries(
    Object.entries(details).map(([key, value]) => [
      key,
      value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && Object.values(value).some((v) => v instanceof Uint8Array)
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bytes(v)]))
        : bytes(value),
    ]),
  );
}

/** A required sandbox layer is missing and `allowInsecure` was not set. */
export class SandboxUnavailableError extends WardenError {
  readonly code = 'E_SANDBOX_UNAVAILABLE';
  readonly deterministic = false;
}

/** The launcher failed at one of its steps before node started. */
export class LauncherError extends WardenError {
  readonly code = 'E_LAUNCHER';
  readonly deterministic = false;
  constructor(
    message: string,
    readonly step: string,
    readonly errno: string,
    options: WardenErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** A worker sent something that breaks the protocol (bad frame, bad handshake, unknown reply). */
export class ProtocolError extends WardenError {
  readonly code = 'E_PROTOCOL';
  readonly deterministic = false;
}

/** The worker process exited or was killed while the host still needed it. */
export class WorkerDiedError extends WardenError {
  readonly code = 'E_WORKER_DIED';
  readonly deterministic = false;
}

/** The worker dir could not be created, populated or cleared. */
export class WorkerDirError extends WardenError {
  readonly code = 'E_CLEAR_WORKER_DIR';
  readonly deterministic = false;
}

/** A worker did not answer in time (handshake, ping). */
export class TimeoutError extends WardenError {
  readonly code = 'E_TIMEOUT';
  readonly deterministic = false;
}

/** An option passed to a public function is invalid. */
export class InvalidOptionError extends WardenError {
  readonly code = 'E_INVALID_OPTION';
  readonly deterministic = true;
}

/** The host was closed before the request could complete. */
export class HostClosedError extends WardenError {
  readonly code = 'E_HOST_CLOSED';
  readonly deterministic = false;
}

/** Another host holds the cache dir lock. */
export class CacheLockedError extends WardenError {
  readonly code = 'E_CACHE_LOCKED';
  readonly deterministic = false;
}

/** The code failed structural validation or a limit (size, memory pages, imports...). */
export class PrevalidationError extends WardenError {
  readonly code = 'E_PREVALIDATION';
  readonly deterministic = true;
}

/** Compressed code is corrupt, or decompresses beyond the limit (a decompression bomb). */
export class DecompressError extends WardenError {
  readonly code = 'E_DECOMPRESS';
  readonly deterministic = true;
}

/** The module is valid but does not compile. */
export class PreparationError extends WardenError {
  readonly code = 'E_PREPARATION';
  readonly deterministic = true;
}

/** The module trapped while running (unreachable, out of bounds, bad ABI use). */
export class TrapError extends WardenError {
  readonly code = 'E_TRAP';
  readonly deterministic = true;
}

/**
 * A WASI module exited with a code other than 0 (`exit(N)`, `proc_exit`): the program said it
 * failed. `exitCode` is that code; `details.output`, `details.log` and `details.files` hold what the
 * program wrote before it exited.
 */
export class ExitError extends WardenError {
  readonly code = 'E_EXIT';
  readonly deterministic = true;
  readonly exitCode: number;

  constructor(message: string, options: WardenErrorOptions & { exitCode?: number } = {}) {
    super(message, options);
    this.exitCode = options.exitCode ?? (typeof options.details?.exitCode === 'number' ? options.details.exitCode : 1);
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), exitCode: this.exitCode };
  }
}

/** The job exceeded its memory limit (wasm memory growth, or a prepare's job thread heap). */
export class OutOfMemoryError extends WardenError {
  readonly code = 'E_OUT_OF_MEMORY';
  readonly deterministic = true;
}

/** The job's output or log exceeded its limit. */
export class OutputTooLargeError extends WardenError {
  readonly code = 'E_OUTPUT_TOO_LARGE';
  readonly deterministic = true;
}

/** The job used all its fuel (`fuel`, or `limits.maxFuel`): the same code and input always stop at the same point. */
export class OutOfFuelError extends WardenError {
  readonly code = 'E_OUT_OF_FUEL';
  readonly deterministic = true;
}

/** The job's calls went deeper than `limits.maxStackHeight`, warden's logical stack (counted the same on every machine). */
export class StackOverflowError extends WardenError {
  readonly code = 'E_STACK_OVERFLOW';
  readonly deterministic = true;
}

/**
 * V8's own stack ran out before warden's logical limit: the bound between the two (docs/architecture.md,
 * "Metering") did not hold on this machine. Not expected to happen; not deterministic, so retrying elsewhere may help.
 */
export class NativeStackOverflowError extends WardenError {
  readonly code = 'E_NATIVE_STACK_OVERFLOW';
  readonly deterministic = false;
}

/** An artifact failed its checksum or format check; the host deletes it and prepares again. */
export class CorruptedArtifactError extends WardenError {
  readonly code = 'E_CORRUPTED_ARTIFACT';
  readonly deterministic = false;
}

/** The queue is at `maxQueue`: backpressure, try again later. */
export class QueueFullError extends WardenError {
  readonly code = 'E_QUEUE_FULL';
  readonly deterministic = false;
}

/** The job's deadline passed before it could finish. */
export class DeadlineError extends WardenError {
  readonly code = 'E_DEADLINE';
  readonly deterministic = false;
}

/** The job's AbortSignal fired. */
export class AbortedError extends WardenError {
  readonly code = 'E_ABORTED';
  readonly deterministic = false;
}

/** The artifact cache could not read or write its own files (disk full, EIO, ...). */
export class CacheIoError extends WardenError {
  readonly code = 'E_CACHE_IO';
  readonly deterministic = false;
}

/** The pool's workers keep dying (a crash loop): it stopped respawning for a cooldown. */
export class PoolDegradedError extends WardenError {
  readonly code = 'E_POOL_DEGRADED';
  readonly deterministic = false;
}

/** Every error class, for table-driven tests and documentation. @internal */
export const errorClasses = [
  SandboxUnavailableError,
  LauncherError,
  ProtocolError,
  WorkerDiedError,
  WorkerDirError,
  TimeoutError,
  InvalidOptionError,
  HostClosedError,
  CacheLockedError,
  PrevalidationError,
  DecompressError,
  PreparationError,
  TrapError,
  ExitError,
  OutOfMemoryError,
  OutputTooLargeError,
  OutOfFuelError,
  StackOverflowError,
  NativeStackOverflowError,
  CorruptedArtifactError,
  QueueFullError,
  DeadlineError,
  AbortedError,
  CacheIoError,
  PoolDegradedError,
] as const;

const byCode = new Map<string, new (message: string, options?: WardenErrorOptions) => WardenError>(
  errorClasses.filter((c) => c !== LauncherError).map((c) => [new (c as unknown as new (m: string) => WardenError)('').code, c as never]),
);

/** Rebuilds a typed error from a failure that crossed the IPC channel (`{ code, message }`). */
export function errorFromFailure(failure: { code: string; message: string }, details: Record<string, unknown> = {}): WardenError {
  const ErrorClass = byCode.get(failure.code);
  if (ErrorClass) return new ErrorClass(failure.message, { details });
  return new ProtocolError(`worker reported an unknown error code ${failure.code}: ${failure.message}`, { details });
}
