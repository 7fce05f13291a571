import createDebug from 'debug';
import type { ExecuteOptions } from '../host/types.js';
import type { Priority } from '../actors/jobQueue.js';

const debug = createDebug('warden:demo');

/**
 * The demo's module, a run-ABI module whose input's first byte picks what it does:
 * `s` spins forever (its fuel ends it with E_OUT_OF_FUEL), `t` traps after a busy loop
 * (E_TRAP), anything else echoes the input after the busy loop (a hundred million rounds, about
 * 0.9 × 10^9 fuel, a fraction of a second of CPU), so the inspector shows workers running.
 */
export const DEMO_WAT = `(module
  (memory (export "memory") 1)
  (global (export "__heap_base") i32 (i32.const 1024))
  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $op i32) (local $i i32)
    (if (local.get $len) (then (local.set $op (i32.load8_u (local.get $ptr)))))
    (if (i32.eq (local.get $op) (i32.const 115)) (then (loop $forever (br $forever))))
    (local.set $i (i32.const 100000000))
    (loop $busy (br_if $busy (local.tee $i (i32.sub (local.get $i) (i32.const 1)))))
    (if (i32.eq (local.get $op) (i32.const 116)) (then unreachable))
    (i64.or (i64.extend_i32_u (local.get $ptr)) (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)))))
`;

/**
 * `DEMO_WAT` assembled (the CLI cannot use wabt, a dev dependency, at run time; a test checks
 * that these bytes are what wabt makes of the source).
 */
export const DEMO_WASM_BASE64 =
  'AGFzbQEAAAABBwFgAn9/AX4DAgEABQMBAAEGBwF/AEGACAsHHgMGbWVtb3J5AgALX19oZWFwX2Jhc2UDAANydW4AAApHAUUBAn8gAQRAIAAtAAAhAgsgAkHzAEYEQANADAALC0GAwtcvIQMDQCADQQFrIgMNAAsgAkH0AEYEQAALIACtIAGtQiCGhAs=';

export function demoModule(): Uint8Array {
  return new Uint8Array(Buffer.from(DEMO_WASM_BASE64, 'base64'));
}

/** One demo job: what it sends, and how it is expected to end. */
interface DemoJob {
  input: string;
  priority: Priority;
  timeoutMs?: number;
  /** Not a module at all: the preparation fails (E_PREVALIDATION). */
  badCode?: boolean;
}

/** The rotation: mostly good jobs, a trap, a job out of fuel, a timeout and a module that is not WebAssembly. */
const ROTATION: readonly DemoJob[] = [
  { input: 'ok', priority: 'normal' },
  { input: 'ok', priority: 'high' },
  { input: 'trap', priority: 'normal' },
  { input: 'ok', priority: 'background' },
  { input: 'spin', priority: 'normal' },
  { input: 'ok', priority: 'normal', timeoutMs: 5 },
  { input: 'ok', priority: 'critical' },
  { input: 'ok', priority: 'normal', badCode: true },
  { input: 'ok', priority: 'background' },
];

/** What the demo needs of a host: to know when it closed, and to execute. */
export interface DemoHost {
  readonly closed: boolean;
  execute(code: Uint8Array, input: Uint8Array, options?: ExecuteOptions): Promise<unknown>;
}

export interface DemoOptions {
  /** Time between two submissions, ms. */
  intervalMs?: number;
  /** Jobs in flight at most (the rest of the time the demo waits). */
  maxInFlight?: number;
}

/**
 * Feeds the host a steady mix of good and failing jobs until `stop()` is called. Failures
 * are the point of the demo: they are logged at debug level, never thrown.
 */
export function startDemo(host: DemoHost, options: DemoOptions = {}): { stop(): Promise<void> } {
  const intervalMs = options.intervalMs ?? 150;
  const maxInFlight = options.maxInFlight ?? 8;
  const code = demoModule();
  const notWasm = new TextEncoder().encode('this is not WebAssembly');
  const inFlight = new Set<Promise<void>>();
  let next = 0;
  const submit = (): void => {
    if (host.closed || inFlight.size >= maxInFlight) return;
    const job = ROTATION[next++ % ROTATION.length]!;
    const run = host
      .execute(job.badCode ? notWasm : code, new TextEncoder().encode(job.input), {
        priority: job.priority,
        ...(job.timeoutMs === undefined ? {} : { timeoutMs: job.timeoutMs }),
      })
      .then(
        () => {},
        (error: Error) => debug('demo job failed as planned: %s', error.message),
      );
    inFlight.add(run);
    void run.finally(() => inFlight.delete(run));
  };
  const timer = setInterval(submit, intervalMs);
  submit();
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
    },
  };
}
