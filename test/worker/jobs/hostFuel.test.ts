/**
 * Issue 14, item 2: a job cannot do unbounded work through the host at no cost. Each pattern of
 * WASI calls below is a loop a hostile module can run; each must burn CPU no faster per unit of
 * fuel than the tightest wasm loop does (docs/api.md, "Picking a fuel value": fuel = T × 4 M
 * bounds a job to about T ms whatever it does). Otherwise the default fuel would outlast the CPU
 * limit and such a job would end as E_TIMEOUT, not the deterministic E_OUT_OF_FUEL.
 *
 * Rates are fuel per CPU ms of this thread, the pattern's measured beside the tight loop's in the
 * same run, best of three: the test checks a ratio (within 10×, a margin for load and for other CPUs; the bugs it guards against were 70× to 8,000×), never a speed.
 */
import test from 'ava';
import { execute } from '../../../src/worker/jobs/execute.js';
import { loadAddon } from '../../../src/shared/addon.js';
import { JobError } from '../../../src/shared/jobError.js';
import { DEFAULT_EXECUTE_LIMITS } from '../../../src/shared/limits.js';
import { artifactOf, wat } from '../../helpers/wat.js';

const addon = loadAddon();
const clock = addon.threadCpuClock();
const threadNs = () => addon.cpuClockNs(clock);

const W = 'wasi_snapshot_preview1';
const IMPORTS = `
  (import "${W}" "sched_yield" (func $yield (result i32)))
  (import "${W}" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "${W}" "fd_readdir" (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "${W}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "${W}" "random_get" (func $random (param i32 i32) (result i32)))
  (import "${W}" "args_get" (func $args (param i32 i32) (result i32)))
  (import "${W}" "environ_sizes_get" (func $envSizes (param i32 i32) (result i32)))
  (import "${W}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "${W}" "fd_pwrite" (func $pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "${W}" "fd_filestat_set_size" (func $setSize (param i32 i64) (result i32)))
  (import "${W}" "fd_filestat_get" (func $fstat (param i32 i32) (result i32)))
  (import "${W}" "path_filestat_get" (func $pstat (param i32 i32 i32 i32 i32) (result i32)))
  (import "${W}" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "${W}" "path_rename" (func $rename (param i32 i32 i32 i32 i32 i32) (result i32)))`;

/** A WASI command that runs `setup` once, then `body` forever (until its fuel runs out). */
function spin(setup: string, body: string, pages = 16): Uint8Array {
  return wat(`(module ${IMPORTS} (memory (export "memory") ${pages})
    (data (i32.const 60000) "a/b")
    (func (export "_start") (local $i i32) ${setup} (loop $l ${body} (br $l))))`);
}

/** Stores `value` at `at + n * stride` for n below `count` (subscriptions, iovecs). */
function fill(count: number, stride: number, at: number, value: string): string {
  return `(local.set $i (i32.const 0)) (loop $f (i32.store (i32.add (i32.const ${at}) (i32.mul (local.get $i) (i32.const ${stride}))) ${value})
    (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $f (i32.lt_u (local.get $i) (i32.const ${count}))))`;
}

const names = (count: number, name: (n: number) => string) => Array.from({ length: count }, (_, n) => [name(n), new Uint8Array(0)] as const);
/** A directory 900 levels deep (a/a/a/...): within maxFiles and maxPathBytes. */
const deep = Array.from({ length: 900 }, () => 'a').join('/');
const OPEN_DEEP = `(drop (call $open (i32.const 3) (i32.const 0) (i32.const 1000) (i32.const ${deep.length}) (i32.const 2) (i64.const 0x4000) (i64.const 0x4000) (i32.const 0) (i32.const 900)))`;
const OPEN_FILE = `(drop (call $open (i32.const 3) (i32.const 0) (i32.const 60002) (i32.const 1) (i32.const 1) (i64.const 0x400046) (i64.const 0) (i32.const 0) (i32.const 900)))`;

interface Pattern {
  code: Uint8Array;
  files?: readonly (readonly [string, Uint8Array])[];
  args?: string[];
  env?: string[];
  /** Fuel for each run, 400 M unless the pattern's set-up (64 MiB of fresh memory to fault in) needs more to be amortized. */
  fuel?: number;
}

const PATTERNS: Record<string, Pattern> = {
  'sched_yield': { code: spin('', '(drop (call $yield))') },
  'a call that fails (EBADF)': { code: spin('', '(drop (call $setSize (i32.const 99) (i64.const 0)))') },
  'a call that faults (EFAULT)': { code: spin('', '(drop (call $write (i32.const 1) (i32.const 2000000) (i32.const 1) (i32.const 8)))') },
  'clock_time_get of a CPU clock (a system call)': { code: spin('', '(drop (call $clock (i32.const 2) (i64.const 0) (i32.const 0)))') },
  'fd_readdir of 1,000 entries into no buffer (the listing is taken each time)': {
    code: spin('', '(drop (call $readdir (i32.const 3) (i32.const 0) (i32.const 0) (i64.const 0) (i32.const 8)))'),
    files: names(999, (n) => `f${n}`),
  },
  'fd_readdir of 1,000 entries into 64 KiB': {
    code: spin('', '(drop (call $readdir (i32.const 3) (i32.const 0) (i32.const 65000) (i64.const 0) (i32.const 65000)))'),
    files: names(999, (n) => `f${n}`),
  },
  'poll_oneoff of 10,000 fd subscriptions': {
    code: spin(`${fill(10_000, 48, 8, '(i32.const 2)')} ${fill(10_000, 48, 16, '(i32.const 1)')}`, '(drop (call $poll (i32.const 0) (i32.const 500000) (i32.const 10000) (i32.const 8)))'),
  },
  'poll_oneoff of 10,000 CPU-clock subscriptions': {
    code: spin(fill(10_000, 48, 16, '(i32.const 2)'), '(drop (call $poll (i32.const 0) (i32.const 500000) (i32.const 10000) (i32.const 8)))'),
  },
  'random_get of 64 KiB': { code: spin('', '(drop (call $random (i32.const 0) (i32.const 65536)))') },
  'args_get of 50,000 empty strings': { code: spin('', '(drop (call $args (i32.const 0) (i32.const 500000)))'), args: Array.from({ length: 50_000 }, () => '') },
  'environ_sizes_get of 50,000 strings': { code: spin('', '(drop (call $envSizes (i32.const 0) (i32.const 4)))'), env: Array.from({ length: 50_000 }, () => 'A=') },
  'fd_write of 100,000 empty iovecs': { code: spin('', '(drop (call $write (i32.const 1) (i32.const 0) (i32.const 100000) (i32.const 900000)))') },
  'path_filestat_get of a 4,000-byte path of ./': {
    code: spin(fill(1000, 4, 0, '(i32.const 0x2f2e2f2e)'), '(drop (call $pstat (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 3999) (i32.const 8000)))'),
  },
  'path_filestat_get below a directory 900 deep': {
    code: spin(`(memory.fill (i32.const 1000) (i32.const 0x61) (i32.const ${deep.length})) ${fill(899, 2, 1001, '(i32.const 0x612f)')} ${OPEN_DEEP} (i32.store8 (i32.const 50) (i32.const 0x78))`, '(drop (call $pstat (i32.load (i32.const 900)) (i32.const 0) (i32.const 50) (i32.const 1) (i32.const 8000)))'),
    files: [[`${deep}/x`, new Uint8Array(0)]],
  },
  'fd_filestat_get of a directory of 1,000 subdirectories': { code: spin('', '(drop (call $fstat (i32.const 3) (i32.const 0)))'), files: names(499, (n) => `d${n}/x`) },
  'fd_filestat_set_size to 16 MiB and back': {
    code: spin(OPEN_FILE, '(drop (call $setSize (i32.load (i32.const 900)) (i64.const 16000000))) (drop (call $setSize (i32.load (i32.const 900)) (i64.const 0)))'),
    files: [['b', new Uint8Array(0)]],
  },
  'fd_pwrite of one byte at 15 MiB, then truncate': {
    code: spin(`${OPEN_FILE} (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 1))`, '(drop (call $pwrite (i32.load (i32.const 900)) (i32.const 0) (i32.const 1) (i64.const 15000000) (i32.const 8))) (drop (call $setSize (i32.load (i32.const 900)) (i64.const 0)))'),
    files: [['b', new Uint8Array(0)]],
  },
  'memory.fill of 64 MiB (a bulk operation, charged by its length)': { code: spin('', '(memory.fill (i32.const 0) (i32.const 1) (i32.const 67108864))', 1024), fuel: 1_600_000_000 },
  'memory.copy of 32 MiB': { code: spin('', '(memory.copy (i32.const 0) (i32.const 33554432) (i32.const 33554432))', 1024), fuel: 1_600_000_000 },
  'path_rename of a directory holding 999 entries, back and forth': {
    code: spin('(i32.store8 (i32.const 0) (i32.const 0x64)) (i32.store8 (i32.const 1) (i32.const 0x65))', '(drop (call $rename (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 3) (i32.const 1) (i32.const 1))) (drop (call $rename (i32.const 3) (i32.const 1) (i32.const 1) (i32.const 3) (i32.const 0) (i32.const 1)))'),
    files: names(998, (n) => `d/f${n}`),
  },
};

const TIGHT_LOOP = wat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))');

/** Fuel per CPU ms of this thread, from the job's start to its end out of fuel. */
async function rate(code: Uint8Array, pattern: Omit<Pattern, 'code'>, fuel: number): Promise<number> {
  const artifact = artifactOf(code);
  let start = 0;
  const error = await execute(artifact, new Uint8Array(0), 'wasi', { ...DEFAULT_EXECUTE_LIMITS, maxFuel: fuel }, { ...pattern, fuel, cpuNs: () => BigInt(Math.round(threadNs())), started: () => { start = threadNs(); return undefined; } }).catch((e: unknown) => e);
  const ms = (threadNs() - start) / 1e6;
  if (!(error instanceof JobError) || error.code !== 'E_OUT_OF_FUEL') throw new Error(`expected E_OUT_OF_FUEL, got ${String(error)}: ${Buffer.from((error as JobError).partial?.output ?? []).toString()}`);
  return fuel / ms;
}

for (const [name, { code, fuel = 400_000_000, ...pattern }] of Object.entries(PATTERNS)) {
  test.serial(`a loop of ${name} burns fuel at least as fast (within 10×) as the tightest wasm loop`, async (t) => {
    const ratios: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const loop = await rate(TIGHT_LOOP, {}, 400_000_000);
      const own = await rate(code, pattern, fuel);
      ratios.push(own / loop);
      if (own / loop >= 0.1) break;
    }
    t.log(`fuel per CPU ms, against the tight loop: ${ratios.map((r) => r.toFixed(2)).join(', ')}`);
    t.true(Math.max(...ratios) >= 0.1, `${name}: ${Math.max(...ratios).toFixed(3)} of the tight loop's rate`);
  });
}
