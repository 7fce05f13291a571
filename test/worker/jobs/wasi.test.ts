import test from 'ava';
import { execute } from '../../../src/worker/jobs/execute.js';
import { WASI_FUNCTIONS, WASI_MODULE } from '../../../src/shared/hostFunctions.js';
import { JobError } from '../../../src/shared/jobError.js';
import { DEFAULT_EXECUTE_LIMITS, type ExecuteLimits } from '../../../src/shared/limits.js';
import { Errno } from '../../../src/worker/jobs/wasiTypes.js';
import { artifactOf, fixtures, wasiSleepSource, wat } from '../../helpers/wat.js';

async function wasi(code: Uint8Array, input: Uint8Array | string = '', limits: Partial<ExecuteLimits> = {}) {
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  return execute(artifactOf(code), bytes, 'wasi', { ...DEFAULT_EXECUTE_LIMITS, ...limits });
}

test('stdin is the input, stdout the output, stderr the log', async (t) => {
  const { output, log, logTruncated } = await wasi(fixtures.wasiCat, 'to stdout and stderr');
  t.is(Buffer.from(output).toString(), 'to stdout and stderr');
  t.is(Buffer.from(log).toString(), 'to stdout and stderr');
  t.false(logTruncated);
});

test('a large input streams through in chunks', async (t) => {
  const input = Buffer.alloc(1 << 20);
  for (let i = 0; i < input.byteLength; i++) input[i] = i % 251;
  const { output } = await wasi(fixtures.wasiCat, input, { maxLogBytes: 16 });
  t.deepEqual(Buffer.from(output), input);
});

test('stdout beyond maxOutputBytes is E_OUTPUT_TOO_LARGE', async (t) => {
  const error = await t.throwsAsync(wasi(fixtures.wasiCat, 'x'.repeat(101), { maxOutputBytes: 100 }), { instanceOf: JobError });
  t.is(error?.code, 'E_OUTPUT_TOO_LARGE');
});

test('a module that catches E_OUTPUT_TOO_LARGE still fails with it, whatever it does after', async (t) => {
  // A wasm catch_all catches what an import throws: the overflow must not be undone by the module.
  const write = (fd: number) => `(try (do (drop (call $write (i32.const ${fd}) (i32.const 0) (i32.const 1) (i32.const 8)))) (catch_all))`;
  const module = (after: string) =>
    wat(`(module (import "${WASI_MODULE}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 100))
      ${write(1)}
      (i32.store (i32.const 4) (i32.const 5))
      ${after}))`, { exceptions: true });
  // Returns normally; writes a little more (which would fit) and returns; traps; spins out of fuel.
  for (const after of ['', write(1), `${write(2)} (unreachable)`, '(loop $l (br $l))']) {
    const error = await t.throwsAsync(wasi(module(after), '', { maxOutputBytes: 10 }), { instanceOf: JobError }, after);
    t.is(error?.code, 'E_OUTPUT_TOO_LARGE', after);
    t.is(error?.partial?.output.byteLength, 0, 'nothing was written after the overflow');
    t.is(error?.partial?.log.byteLength, 0, 'nor to stderr');
  }
});

test('stderr beyond maxLogBytes is cut and marked, the job still succeeds', async (t) => {
  const { output, log, logTruncated } = await wasi(fixtures.wasiCat, 'abcdefghij', { maxLogBytes: 4 });
  t.is(Buffer.from(output).toString(), 'abcdefghij');
  t.is(Buffer.from(log).toString(), 'abcd');
  t.true(logTruncated);
});

test('proc_exit(3) is E_EXIT with the exit code, and keeps what the module wrote', async (t) => {
  const error = await t.throwsAsync(wasi(fixtures.wasiExit3), { instanceOf: JobError });
  t.is(error?.code, 'E_EXIT');
  t.is(error?.exitCode, 3);
  t.true(error?.deterministic);
  t.regex(error!.message, /exited with code 3/);
  t.truthy(error?.partial, 'the failure carries the output, log and files');
  t.is(error?.partial?.files.length, 0);
});

test('proc_exit(0) is success', async (t) => {
  t.is((await wasi(fixtures.wasiExit0)).output.byteLength, 0);
});

test('a module that catches its own proc_exit still exits with that code, and writes nothing after it', async (t) => {
  // A wasm catch_all catches what an import throws: the exit must not be undone by the module.
  const code = wat(`(module
    (import "${WASI_MODULE}" "proc_exit" (func $exit (param i32)))
    (import "${WASI_MODULE}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "after")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 5))
      (try (do (call $exit (i32.const 7))) (catch_all))
      ;; A second exit, caught too: the first code stands.
      (try (do (call $exit (i32.const 0))) (catch_all))
      ;; Any WASI call after the exit unwinds again; a catch here and a normal return change nothing.
      (try (do (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))) (catch_all))))`, { exceptions: true });
  const error = await t.throwsAsync(wasi(code), { instanceOf: JobError });
  t.is(error?.code, 'E_EXIT');
  t.is(error?.exitCode, 7);
  t.is(error?.partial?.output.byteLength, 0, 'nothing was written after the exit');
  // An exit with 0 that the module swallows, then returns: success, as a real exit(0) would be.
  const zero = wat(`(module (import "${WASI_MODULE}" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (try (do (call $exit (i32.const 0))) (catch_all)) (unreachable)))`, { exceptions: true });
  t.is((await wasi(zero)).output.byteLength, 0);
});

test('proc_exit under the run ABI is E_TRAP', async (t) => {
  const code = wat(`(module (import "${WASI_MODULE}" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1) (global (export "__heap_base") i32 (i32.const 0))
    (func (export "run") (param i32 i32) (result i64) (call $exit (i32.const 0)) (i64.const 0)))`);
  const error = await t.throwsAsync(execute(artifactOf(code), new Uint8Array(), 'run', DEFAULT_EXECUTE_LIMITS), { instanceOf: JobError });
  t.regex(error!.message, /proc_exit\(0\) instead of returning/);
});

test('poll_oneoff on a clock sleeps, then reports the clock event', async (t) => {
  const start = performance.now();
  const { output } = await wasi(wat(wasiSleepSource(30_000_000n)));
  t.true(performance.now() - start >= 29);
  const result = Buffer.from(output);
  t.is(result.readUInt32LE(0), Errno.SUCCESS);
  t.is(result.readUInt32LE(4), 1);
  t.is(result.readBigUInt64LE(8), 42n); // userdata
  t.is(result.readUInt16LE(16), Errno.SUCCESS);
  t.is(result.readUInt8(18), 0); // eventtype clock
});

/** WASI calls and the errno the shim must answer; scratch memory from 512, path bytes at 700. */
const PROBES: [string, string, number][] = [
  ['the job directory is preopened at fd 3', 'fd_prestat_get (i32.const 3) (i32.const 512)', Errno.SUCCESS],
  ['no other preopen', 'fd_prestat_get (i32.const 4) (i32.const 512)', Errno.BADF],
  ['stdin is no preopen', 'fd_prestat_get (i32.const 0) (i32.const 512)', Errno.INVAL],
  ['path_open on a closed fd', 'path_open (i32.const 9) (i32.const 0) (i32.const 700) (i32.const 4) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 512)', Errno.BADF],
  ['path_open of a missing file', 'path_open (i32.const 3) (i32.const 0) (i32.const 700) (i32.const 4) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 512)', Errno.NOENT],
  ['path_open on stdin', 'path_open (i32.const 0) (i32.const 0) (i32.const 700) (i32.const 4) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 512)', Errno.NOTCAPABLE],
  ['path_open of an absolute path', 'path_open (i32.const 3) (i32.const 0) (i32.const 710) (i32.const 5) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 512)', Errno.NOTCAPABLE],
  ['".." at the root stays there (the preopen is "/")', 'path_open (i32.const 3) (i32.const 0) (i32.const 720) (i32.const 7) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 512)', Errno.NOENT],
  ['seek on stdout (a pipe: no seek right, as node:wasi answers)', 'fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 512)', Errno.NOTCAPABLE],
  ['tell on stdin', 'fd_tell (i32.const 0) (i32.const 512)', Errno.NOTCAPABLE],
  ['read from stdout', 'fd_read (i32.const 1) (i32.const 600) (i32.const 1) (i32.const 512)', Errno.BADF],
  ['write to stdin', 'fd_write (i32.const 0) (i32.const 600) (i32.const 1) (i32.const 512)', Errno.BADF],
  ['write to a closed fd', 'fd_write (i32.const 5) (i32.const 600) (i32.const 1) (i32.const 512)', Errno.BADF],
  ['environ sizes', 'environ_sizes_get (i32.const 3000) (i32.const 3004)', Errno.SUCCESS],
  ['args sizes', 'args_sizes_get (i32.const 3008) (i32.const 3012)', Errno.SUCCESS],
  ['args', 'args_get (i32.const 3016) (i32.const 3020)', Errno.SUCCESS],
  ['fdstat of stdout', 'fd_fdstat_get (i32.const 1) (i32.const 3032)', Errno.SUCCESS],
  ['realtime clock', 'clock_time_get (i32.const 0) (i64.const 0) (i32.const 3056)', Errno.SUCCESS],
  ['monotonic clock', 'clock_time_get (i32.const 1) (i64.const 0) (i32.const 3064)', Errno.SUCCESS],
  ['process CPU-time clock', 'clock_time_get (i32.const 2) (i64.const 0) (i32.const 512)', Errno.SUCCESS],
  ['thread CPU-time clock', 'clock_time_get (i32.const 3) (i64.const 0) (i32.const 512)', Errno.SUCCESS],
  ['no fifth clock', 'clock_time_get (i32.const 4) (i64.const 0) (i32.const 512)', Errno.INVAL],
  ['clock resolution', 'clock_res_get (i32.const 1) (i32.const 3088)', Errno.SUCCESS],
  ['random bytes', 'random_get (i32.const 3072) (i32.const 16)', Errno.SUCCESS],
  ['random bytes outside memory', 'random_get (i32.const 65530) (i32.const 100)', Errno.FAULT],
  ['an iovec outside memory', 'fd_write (i32.const 2) (i32.const 65532) (i32.const 1) (i32.const 512)', Errno.FAULT],
  ['sched_yield', 'sched_yield', Errno.SUCCESS],
  ['sockets on stdio', 'sock_send (i32.const 1) (i32.const 600) (i32.const 1) (i32.const 0) (i32.const 512)', Errno.NOTSOCK],
  ['sockets on a closed fd', 'sock_accept (i32.const 9) (i32.const 0) (i32.const 512)', Errno.BADF],
  ['filestat of a closed fd', 'fd_filestat_get (i32.const 7) (i32.const 512)', Errno.BADF],
  ['proc_raise', 'proc_raise (i32.const 9)', Errno.NOSYS],
  ['poll with no subscription', 'poll_oneoff (i32.const 512) (i32.const 800) (i32.const 0) (i32.const 516)', Errno.INVAL],
  ['close a closed fd', 'fd_close (i32.const 9)', Errno.BADF],
  ['close stdin', 'fd_close (i32.const 0)', Errno.SUCCESS],
  ['read a closed stdin', 'fd_read (i32.const 0) (i32.const 600) (i32.const 1) (i32.const 512)', Errno.BADF],
];

/** A command that makes each probe call, then writes the errnos and memory [3000, 3100) to stdout. */
function probeModule(): Uint8Array {
  const used = new Set(PROBES.map(([, call]) => call.split(' ')[0]!));
  used.add('fd_write');
  const imports = [...used].map((name) => {
    const [params, result] = WASI_FUNCTIONS.get(name)!.slice(1).split(')->');
    const param = params ? `(param ${params.replaceAll(',', ' ')})` : '';
    return `(import "${WASI_MODULE}" "${name}" (func $${name} ${param} ${result ? `(result ${result})` : ''}))`;
  });
  const calls = PROBES.map(([, call], n) => `(i32.store (i32.const ${2048 + 4 * n}) (call $${call}))`);
  return wat(`(module ${imports.join('\n')}
    (memory (export "memory") 1)
    (data (i32.const 600) "\\bc\\02\\00\\00\\04\\00\\00\\00")
    (data (i32.const 700) "file")
    (data (i32.const 710) "/file")
    (data (i32.const 720) "../file")
    (func (export "_start")
      ${calls.join('\n')}
      (i32.store (i32.const 400) (i32.const 2048)) (i32.store (i32.const 404) (i32.const ${4 * PROBES.length}))
      (i32.store (i32.const 408) (i32.const 3000)) (i32.store (i32.const 412) (i32.const 100))
      (drop (call $fd_write (i32.const 1) (i32.const 400) (i32.const 2) (i32.const 416)))))`);
}

test('the shim answers stdio, preopen, path, socket and bad-pointer calls with the right errno', async (t) => {
  const out = Buffer.from((await wasi(probeModule())).output);
  PROBES.forEach(([what, , errno], n) => t.is(out.readUInt32LE(4 * n), errno, what));
  const memory = out.subarray(4 * PROBES.length);
  const at = (address: number) => address - 3000;
  t.deepEqual([memory.readUInt32LE(at(3000)), memory.readUInt32LE(at(3004))], [0, 0], 'no environment');
  t.deepEqual([memory.readUInt32LE(at(3008)), memory.readUInt32LE(at(3012))], [1, 5], 'argc 1, "main\\0"');
  t.is(memory.readUInt32LE(at(3016)), 3020, 'argv[0] points into the buffer');
  t.is(memory.subarray(at(3020), at(3025)).toString('latin1'), 'main\0');
  t.is(memory.readUInt8(at(3032)), 0, 'stdout is a pipe (filetype unknown), not a character device');
  t.is(memory.readBigUInt64LE(at(3040)) & ((1n << 2n) | (1n << 5n)), 0n, 'stdout has no seek or tell right');
  t.not(memory.readBigUInt64LE(at(3040)) & (1n << 6n), 0n, 'stdout has the fd_write right');
  const realtimeMs = Number(memory.readBigUInt64LE(at(3056)) / 1_000_000n);
  t.true(Math.abs(realtimeMs - Date.now()) < 60_000, 'realtime is the epoch time');
  t.true(memory.readBigUInt64LE(at(3064)) > 0n);
  t.false(memory.subarray(at(3072), at(3088)).every((byte) => byte === 0), 'random bytes were written');
  t.is(memory.readBigUInt64LE(at(3088)), 1n, 'clock resolution is 1 ns, as node:wasi says');
});
