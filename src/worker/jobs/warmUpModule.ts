/**
 * An 83-byte `run`-ABI module that echoes its input (memory, `__heap_base`, `run`). Preparing
 * and running it once when a worker starts takes the first job's one-time costs (lazy
 * compilation of the job code on both threads, V8's first wasm compile and instantiation) off
 * the critical path: with `isolation: 'job'` every job is some process's first.
 */
export const WARM_UP_MODULE = Uint8Array.from([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 126, 3, 2, 1, 0, 5, 3, 1, 0, 1, 6, 7, 1, 127, 0, 65, 128, 8, 11, 7, 30, 3, 6,
  109, 101, 109, 111, 114, 121, 2, 0, 11, 95, 95, 104, 101, 97, 112, 95, 98, 97, 115, 101, 3, 0, 3, 114, 117, 110, 0, 0, 10, 14, 1, 12,
  0, 32, 0, 173, 32, 1, 173, 66, 32, 134, 132, 11,
]);

/** The input the warm-up runs on, and so the output it must give back. */
export const WARM_UP_INPUT = Uint8Array.of(1, 2, 3);
