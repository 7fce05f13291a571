/**
 * Real WebAssembly for tests: `wat()` assembles text with wabt, and `fixtures` names the modules the
 * job tests run. No mocks: every module here is compiled and run by V8 exactly as a user's would be.
 */
import initWabt from 'wabt';
import { DEFAULT_PREPARE_LIMITS, type PrepareLimits } from '../../src/shared/limits.js';
import { prepare } from '../../src/worker/jobs/prepare.js';

const wabt = await initWabt();

/** Assembles WebAssembly text into a binary module; `features` names wabt features beyond the default ones. */
export function wat(text: string, features: Record<string, boolean> = {}): Uint8Array {
  const module = wabt.parseWat('fixture.wat', text, features);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

/** `ptr | (len << 32)` from two i32 locals, the result of `run`. */
const PACK = (ptr: string, len: string) =>
  `(i64.or (i64.extend_i32_u ${ptr}) (i64.shl (i64.extend_i32_u ${len}) (i64.const 32)))`;

/** A run-ABI module with a memory, `__heap_base` and the given `run` body (params $ptr $len, i64 result). */
function runModule(body: string, { memory = '(memory (export "memory") 1)', extra = '' } = {}): string {
  return `(module
    ${memory}
    (global (export "__heap_base") i32 (i32.const 1024))
    ${extra}
    (func (export "run") (param $ptr i32) (param $len i32) (result i64) ${body}))`;
}

const WASI_IMPORTS = `
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))`;

/**
 * A WASI command that sleeps `ns` nanoseconds on the monotonic clock with `poll_oneoff` (as
 * wasi-libc's `nanosleep` does), then writes the errno (4 bytes), the event count (4 bytes) and the
 * first event (32 bytes) to stdout.
 */
export function wasiSleepSource(ns: bigint): string {
  return `(module ${WASI_IMPORTS}
    (memory (export "memory") 1)
    (func (export "_start")
      (i64.store (i32.const 0) (i64.const 42))
      (i32.store8 (i32.const 8) (i32.const 0))
      (i32.store (i32.const 16) (i32.const 1))
      (i64.store (i32.const 24) (i64.const ${ns}))
      (i32.store (i32.const 200) (call $poll_oneoff (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 204)))
      (i64.store (i32.const 208) (i64.load (i32.const 100)))
      (i64.store (i32.const 216) (i64.load (i32.const 108)))
      (i64.store (i32.const 224) (i64.load (i32.const 116)))
      (i64.store (i32.const 232) (i64.load (i32.const 124)))
      (i32.store (i32.const 300) (i32.const 200))
      (i32.store (i32.const 304) (i32.const 40))
      (drop (call $fd_write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 308)))))`;
}

/** The WAT source of every fixture, for tests that vary one. */
export const sources = {
  /** Uppercases its input in place; input placed by `alloc`, which grows memory as needed. */
  upper: `(module
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 1024))
    (func (export "alloc") (param $len i32) (result i32)
      (local $ptr i32) (local $end i32) (local $size i32)
      (local.set $ptr (global.get $bump))
      (local.set $end (i32.add (local.get $ptr) (local.get $len)))
      (local.set $size (i32.mul (memory.size) (i32.const 65536)))
      (if (i32.gt_u (local.get $end) (local.get $size))
        (then (if (i32.eq (memory.grow (i32.div_u (i32.add (i32.sub (local.get $end) (local.get $size)) (i32.const 65535)) (i32.const 65536))) (i32.const -1))
          (then unreachable))))
      (global.set $bump (local.get $end))
      (local.get $ptr))
    (func (export "run") (param $ptr i32) (param $len i32) (result i64)
      (local $i i32) (local $c i32)
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
          (then (i32.store8 (i32.add (local.get $ptr) (local.get $i)) (i32.sub (local.get $c) (i32.const 32)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      ${PACK('(local.get $ptr)', '(local.get $len)')}))`,
  /** Echoes its input, placed at `__heap_base` (no `alloc`). */
  echoHeapBase: runModule(PACK('(local.get $ptr)', '(local.get $len)')),
  trap: runModule('unreachable'),
  infiniteLoop: runModule('(loop $forever (br $forever)) (i64.const 0)'),
  /**
   * Grows memory until it fails, then traps, as a module with a failed malloc would: 1 MiB at a time,
   * then a page at a time to reach the maximum exactly (V8 runs a GC per grow past 64 MiB, so a
   * page at a time all the way is slow and cannot be terminated).
   */
  memoryBomb: runModule(`
    (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable`),
  /** Counts the pages `memory.grow(1)` adds before it returns -1; returns the count as 4 bytes at 0. */
  growCount: runModule(`
    (local $n i32)
    (loop $grow (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1))
      (then (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $grow))))
    (i32.store (i32.const 0) (local.get $n))
    ${PACK('(i32.const 0)', '(i32.const 4)')}`, { memory: '(memory (export "memory") 1 65536)' }),
  /** Returns its whole 16-page memory (1 MiB) as output. */
  hugeOutput: runModule(PACK('(i32.const 0)', '(i32.const 1048576)'), { memory: '(memory (export "memory") 16)' }),
  /** Returns an output that runs past the end of memory. */
  outOfBoundsOutput: runModule(PACK('(i32.const 65000)', '(i32.const 1000)')),
  stackOverflow: runModule('(call $recurse) (i64.const 0)', { extra: '(func $recurse (call $recurse))' }),
  forbiddenImport: `(module
    (import "env" "something" (func $something))
    (memory (export "memory") 1)
    (func (export "run") (param i32 i32) (result i64) (call $something) (i64.const 0)))`,
  tooMuchMemory: runModule('(i64.const 0)', { memory: '(memory (export "memory") 5000)' }),
  /** Two tables of 60,000 elements: each fits the default 100,000, together they do not. */
  twoTables: runModule('(i64.const 0)', { extra: '(table 60000 funcref) (table 60000 funcref)' }),
  /** Counts the `table.grow(1000)` calls on table 0 (10 elements, no maximum) that succeed; 4 bytes at 0. */
  tableGrowCount: runModule(`
    (local $n i32)
    (loop $grow (if (i32.ne (table.grow $t0 (ref.null func) (i32.const 1000)) (i32.const -1))
      (then (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $grow))))
    (i32.store (i32.const 0) (local.get $n))
    ${PACK('(i32.const 0)', '(i32.const 4)')}`, { extra: '(table $t0 10 funcref) (table $t1 5 5 funcref)' }),
  /** A WASI command that copies stdin to stdout and to stderr, 64 KiB at a time. */
  wasiCat: `(module ${WASI_IMPORTS}
    (memory (export "memory") 2)
    (func (export "_start")
      (local $n i32)
      (i32.store (i32.const 0) (i32.const 65536))
      (i32.store (i32.const 4) (i32.const 65536))
      (block $eof (loop $next
        (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $eof (i32.eqz (local.get $n)))
        (i32.store (i32.const 4) (local.get $n))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 12)))
        (i32.store (i32.const 4) (i32.const 65536))
        (br $next)))))`,
  wasiExit3: `(module ${WASI_IMPORTS}
    (memory (export "memory") 1)
    (func (export "_start") (call $proc_exit (i32.const 3))))`,
  wasiExit0: `(module ${WASI_IMPORTS}
    (memory (export "memory") 1)
    (func (export "_start") (call $proc_exit (i32.const 0)) unreachable))`,
} as const;

export type FixtureName = keyof typeof sources;

/** Every fixture assembled once. */
export const fixtures = Object.fromEntries(Object.entries(sources).map(([name, text]) => [name, wat(text)])) as Record<FixtureName, Uint8Array>;

/** Bytes that are no WebAssembly, gzip or brotli. */
export const INVALID_BYTES = new TextEncoder().encode('#!/bin/sh\necho this is not a WebAssembly module\n');

/** A module with the right header and a section that runs past the end. */
export const TRUNCATED_MODULE = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x7f, 0x00]);

/** A fixed params hash for tests that do not care which parameters an artifact was prepared under. */
export const PARAMS_HASH = 'ab'.repeat(32);

/** Prepares `code` and returns its artifact; for tests whose subject is execution. */
export function artifactOf(code: Uint8Array, limits: Partial<PrepareLimits> = {}): Buffer {
  return prepare(code, { ...DEFAULT_PREPARE_LIMITS, ...limits }, PARAMS_HASH).artifact;
}

/** A WASI command with `functions` functions of `ops` additions each: costly to compile, trivial to run (`_start` is function 0). */
export function bigModule(functions: number, ops: number, salt: number): Uint8Array {
  const leb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let byte = n & 0x7f;
      n >>>= 7;
      if (n) byte |= 0x80;
      out.push(byte);
    } while (n);
    return out;
  };
  const section = (id: number, bytes: number[]): number[] => [id, ...leb(bytes.length), ...bytes];
  const name = (s: string): number[] => [...leb(s.length), ...Buffer.from(s)];
  const body = [0];
  for (let i = 0; i < ops; i++) body.push(0x41, (i + salt) & 0x3f, 0x41, 1, 0x6a, 0x1a);
  body.push(0x0b);
  const code = [...leb(functions)];
  for (let i = 0; i < functions; i++) code.push(...leb(body.length), ...body);
  return Uint8Array.from([
    ...[0, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, [1, 0x60, 0, 0]),
    ...section(3, [...leb(functions), ...new Array<number>(functions).fill(0)]),
    ...section(5, [1, 0, 1]),
    ...section(7, [2, ...name('_start'), 0, 0, ...name('memory'), 2, 0]),
    ...section(10, code),
  ]);
}

/** `bigModule(10_000, 150, salt)` as an artifact (about 9 MB of code): seconds of compile, nothing to run. */
export function bigArtifact(salt: number): Buffer {
  return artifactOf(bigModule(10_000, 150, salt), { maxCodeBytes: 64 << 20, maxDecompressedBytes: 64 << 20, maxArtifactBytes: 64 << 20 });
}
