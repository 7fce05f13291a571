import test from 'ava';
import { errorClasses, WardenError, LauncherError } from '../src/errors.js';

const expected: Record<string, { code: string; deterministic: boolean }> = {
  SandboxUnavailableError: { code: 'E_SANDBOX_UNAVAILABLE', deterministic: false },
  LauncherError: { code: 'E_LAUNCHER', deterministic: false },
  ProtocolError: { code: 'E_PROTOCOL', deterministic: false },
  WorkerDiedError: { code: 'E_WORKER_DIED', deterministic: false },
  WorkerDirError: { code: 'E_CLEAR_WORKER_DIR', deterministic: false },
  TimeoutError: { code: 'E_TIMEOUT', deterministic: false },
  InvalidOptionError: { code: 'E_INVALID_OPTION', deterministic: true },
  HostClosedError: { code: 'E_HOST_CLOSED', deterministic: false },
  CacheLockedError: { code: 'E_CACHE_LOCKED', deterministic: false },
  PrevalidationError: { code: 'E_PREVALIDATION', deterministic: true },
  DecompressError: { code: 'E_DECOMPRESS', deterministic: true },
  PreparationError: { code: 'E_PREPARATION', deterministic: true },
  TrapError: { code: 'E_TRAP', deterministic: true },
  ExitError: { code: 'E_EXIT', deterministic: true },
  OutOfMemoryError: { code: 'E_OUT_OF_MEMORY', deterministic: true },
  OutputTooLargeError: { code: 'E_OUTPUT_TOO_LARGE', deterministic: true },
  OutOfFuelError: { code: 'E_OUT_OF_FUEL', deterministic: true },
  StackOverflowError: { code: 'E_STACK_OVERFLOW', deterministic: true },
  NativeStackOverflowError: { code: 'E_NATIVE_STACK_OVERFLOW', deterministic: false },
  CorruptedArtifactError: { code: 'E_CORRUPTED_ARTIFACT', deterministic: false },
  QueueFullError: { code: 'E_QUEUE_FULL', deterministic: false },
  DeadlineError: { code: 'E_DEADLINE', deterministic: false },
  AbortedError: { code: 'E_ABORTED', deterministic: false },
  CacheIoError: { code: 'E_CACHE_IO', deterministic: false },
  PoolDegradedError: { code: 'E_POOL_DEGRADED', deterministic: false },
};

test('every error class has its name, stable code, deterministic flag and cause', (t) => {
  t.deepEqual(errorClasses.map((c) => c.name).sort(), Object.keys(expected).sort());
  for (const ErrorClass of errorClasses) {
    const cause = new Error('root cause');
    const error =
      ErrorClass === LauncherError
        ? new LauncherError('boom', 'rootfs', 'ENOENT', { cause })
        : new (ErrorClass as unknown as new (m: string, o: object) => WardenError)('boom', { cause });
    const want = expected[ErrorClass.name]!;
    t.true(error instanceof WardenError);
    t.true(error instanceof Error);
    t.is(error.name, ErrorClass.name);
    t.is(error.code, want.code, ErrorClass.name);
    t.is(error.deterministic, want.deterministic, ErrorClass.name);
    t.is(error.cause, cause);
    t.is(error.message, 'boom');
    t.like(error.toJSON(), { code: want.code, name: ErrorClass.name });
  }
});
