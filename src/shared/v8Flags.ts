/**
 * The V8 flags a prepare worker sets at Hello, before its job thread starts. A prepare worker
 * compiles every function up front (V8 otherwise compiles each on its first call): the compile
 * it measures against compileTimeoutMs is then the whole module's, more than any execute's
 * (lazy) compile of the same module needs. The job thread's code cache is made under them
 * (scripts/codeCache.mjs): V8 accepts a cache only under the flags it was made with.
 */
export const PREPARE_WORKER_V8_FLAGS = '--no-wasm-lazy-compilation';
