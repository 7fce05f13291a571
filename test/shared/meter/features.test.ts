/**
 * Every feature Node 20's V8 accepts by default, metered: the metered module computes what the
 * original computes, fuel is charged where the cost table says, and the logical stack count stays
 * right through returns, branches, tail calls and exceptions.
 */
import test from 'ava';
import initWabt from 'wabt';
import { instrument } from '../../../src/shared/meter/instrument.js';
import { runMetered, runPlain, sameResult } from '../../helpers/metered.js';

const wabt = await initWabt();
const FEATURES = { simd: true, exceptions: true, tail_call: true, multi_value: true, bulk_memory: true, reference_types: true, threads: true };

function wat(text: string): Uint8Array {
  const module = wabt.parseWat('feature.wat', text, FEATURES);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

/** Runs `f` with each argument list, plain and metered, and checks the outcomes agree. */
function agrees(t: import('ava').ExecutionContext, text: string, argLists: unknown[][], name = 'f'): void {
  const bytes = wat(text);
  t.true(WebAssembly.validate(instrument(bytes)));
  for (const args of argLists) {
    const call = (exports: WebAssembly.Exports) => (exports[name] as (...a: unknown[]) => unknown)(...args);
    const plain = runPlain(bytes, call);
    const metered = runMetered(bytes, call);
    t.true(sameResult(plain, metered), `${name}(${args.join(', ')}): plain ${JSON.stringify(plain)}, metered ${JSON.stringify(metered)}`);
    t.true(metered.fuelUsed! > 0);
  }
}

test('control flow: blocks, loops, if/else, br_table, return from nested blocks, select', (t) => {
  agrees(
    t,
    `(module
      (func $collatz (param $n i32) (result i32) (local $steps i32)
        (block $done (loop $next
          (br_if $done (i32.le_u (local.get $n) (i32.const 1)))
          (local.set $n (if (result i32) (i32.and (local.get $n) (i32.const 1))
            (then (i32.add (i32.mul (local.get $n) (i32.const 3)) (i32.const 1)))
            (else (i32.shr_u (local.get $n) (i32.const 1)))))
          (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
          (br $next)))
        (local.get $steps))
      (func $pick (param $k i32) (result i32)
        (block $c (block $b (block $a (br_table $a $b $c (local.get $k)))
          (return (i32.const 10)))
          (return (select (i32.const 20) (i32.const 21) (local.get $k))))
        (i32.const 30))
      (func (export "f") (param $x i32) (result i32)
        (i32.add (call $collatz (local.get $x)) (call $pick (i32.rem_u (local.get $x) (i32.const 4))))))`,
    [[1], [2], [3], [27], [97], [1000]],
  );
});

test('multi-value: functions and blocks with several results and block params', (t) => {
  agrees(
    t,
    `(module
      (func $divmod (param i32 i32) (result i32 i32)
        (i32.div_u (local.get 0) (local.get 1)) (i32.rem_u (local.get 0) (local.get 1)))
      (func $swap (param i64 i64) (result i64 i64) (local.get 1) (local.get 0) (return))
      (func (export "f") (param $a i32) (param $b i32) (result i32)
        (call $divmod (local.get $a) (local.get $b))
        (block (param i32 i32) (result i32) (i32.sub))
        (i64.extend_i32_u) (i64.const 7)
        (call $swap)
        (drop)
        (i32.wrap_i64)))`,
    [[100, 7], [5, 9], [123456, 1000]],
  );
});

test('SIMD: lane arithmetic, shuffles, loads and stores, v128 locals and results', (t) => {
  agrees(
    t,
    `(module (memory 1)
      (func $dot (param $p i32) (param $n i32) (result i32) (local $acc v128) (local $i i32)
        (block $done (loop $next
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (local.set $acc (i32x4.add (local.get $acc)
            (i32x4.mul (v128.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 4))))
                       (i32x4.splat (i32.add (local.get $i) (i32.const 1))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))
        (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
                 (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
      (func $fill (param $n i32) (local $i i32)
        (block $done (loop $next
          (br_if $done (i32.ge_u (local.get $i) (i32.mul (local.get $n) (i32.const 4))))
          (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.mul (local.get $i) (i32.const 7)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next))))
      (func $mix (result v128) (i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31 (v128.const i32x4 1 2 3 4) (v128.const i32x4 5 6 7 8)))
      (func (export "f") (param $n i32) (result i32)
        (call $fill (local.get $n))
        (i32.xor (call $dot (i32.const 0) (local.get $n)) (i32x4.extract_lane 3 (call $mix)))))`,
    [[1], [4], [64]],
  );
});

test('bulk memory: fill, copy, init and data.drop compute the same, and cost by their length', (t) => {
  const text = `(module (memory 2) (data $d "abcdefgh")
    (func (export "f") (param $len i32) (result i32)
      (memory.fill (i32.const 100) (i32.const 7) (local.get $len))
      (memory.copy (i32.const 70000) (i32.const 100) (local.get $len))
      (memory.init $d (i32.const 90000) (i32.const 0) (i32.const 8))
      (data.drop $d)
      (i32.add (i32.load8_u (i32.add (i32.const 69999) (local.get $len))) (i32.load (i32.const 90004)))))`;
  agrees(t, text, [[0], [1], [16], [4096], [60000]]);
  const bytes = wat(text);
  const fuel = (len: number) => runMetered(bytes, (e) => (e.f as (n: number) => number)(len)).fuelUsed!;
  // fill and copy each charge len >>> 1 more: 2 × 8000 for 16,000 bytes.
  t.is(fuel(16_000) - fuel(0), 16_000);
  t.is(fuel(16_001) - fuel(16_000), 0);
});

test('reference types and table operations: externref tables, grow, fill, copy, select t, ref.is_null', (t) => {
  agrees(
    t,
    `(module
      (table $t 2 externref) (table $f 4 funcref) (elem declare func $one)
      (func $one (result i32) (i32.const 1))
      (func (export "f") (param $x externref) (param $n i32) (result i32)
        (table.set $t (i32.const 0) (local.get $x))
        (drop (table.grow $t (ref.null extern) (local.get $n)))
        (table.fill $t (i32.const 1) (local.get $x) (i32.const 1))
        (table.copy $t $t (i32.const 0) (i32.const 1) (i32.const 1))
        (table.set $f (i32.const 2) (ref.func $one))
        (i32.add
          (i32.add (table.size $t) (ref.is_null (select (result externref) (table.get $t (i32.const 0)) (ref.null extern) (local.get $n))))
          (call_indirect $f (result i32) (i32.const 2)))))`,
    [
      [null, 0],
      ['x', 3],
      [{}, 100],
    ],
  );
});

test('tail calls: a million return_calls run in a small logical stack, and end with it balanced', (t) => {
  const bytes = wat(`(module
    (type $loop (func (param i32 i32) (result i32)))
    (table 1 funcref) (elem (i32.const 0) $down)
    (func $down (param $n i32) (param $acc i32) (result i32)
      (if (result i32) (i32.eqz (local.get $n)) (then (local.get $acc))
        (else (if (result i32) (i32.and (local.get $n) (i32.const 1))
          (then (return_call $down (i32.sub (local.get $n) (i32.const 1)) (i32.add (local.get $acc) (local.get $n))))
          (else (return_call_indirect (type $loop) (i32.sub (local.get $n) (i32.const 1)) (i32.xor (local.get $acc) (local.get $n)) (i32.const 0)))))))
    (func (export "f") (param $n i32) (result i32) (call $down (local.get $n) (i32.const 0))))`);
  const call = (exports: WebAssembly.Exports) => (exports.f as (n: number) => number)(1_000_000);
  const plain = runPlain(bytes, call);
  // A frame of $down is a few dozen units: 200 would not hold two of them at once.
  const metered = runMetered(bytes, (exports, meter) => {
    const value = call(exports);
    t.is(meter.stackLeft(), 200, 'every return_call released its frame');
    return value;
  }, { maxStackHeight: 200 });
  t.true(sameResult(plain, metered), JSON.stringify({ plain, metered }));
});

test('exceptions: frames unwound by a throw release their stack, through catch, catch_all, rethrow and delegate', (t) => {
  const bytes = wat(`(module
    (tag $boom (param i32))
    (func $dive (param $n i32)
      (if (i32.eqz (local.get $n)) (then (throw $boom (i32.const 7))))
      (call $dive (i32.sub (local.get $n) (i32.const 1))))
    (func $relay (param $n i32)
      (try (do (call $dive (local.get $n))) (delegate 0)))
    (func $again (param $n i32)
      (try (do (call $relay (local.get $n))) (catch_all (rethrow 0))))
    (func (export "f") (param $rounds i32) (result i32) (local $sum i32)
      (block $done (loop $next
        (br_if $done (i32.eqz (local.get $rounds)))
        (try (do (call $again (i32.const 50)))
          (catch $boom (local.set $sum (i32.add (local.get $sum))))
          (catch_all))
        (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
        (br $next)))
      (local.get $sum)))`);
  const call = (exports: WebAssembly.Exports) => (exports.f as (n: number) => number)(1000);
  const plain = runPlain(bytes, call);
  // 50 frames of $dive fit in 3000 units; a thousand rounds of them would not, had the unwound frames stayed counted.
  const metered = runMetered(bytes, (exports, meter) => {
    const value = call(exports);
    t.is(meter.stackLeft(), 3000);
    return value;
  }, { maxStackHeight: 3000 });
  t.true(sameResult(plain, metered), JSON.stringify({ plain, metered }));
  t.is(metered.value, 7000);
});

test('atomics on an unshared memory: the same results and the same traps', (t) => {
  agrees(
    t,
    `(module (memory 1)
      (func (export "f") (param $x i32) (result i32)
        (i32.atomic.store (i32.const 64) (local.get $x))
        (drop (i32.atomic.rmw.add (i32.const 64) (i32.const 5)))
        (drop (i64.atomic.rmw.cmpxchg (i32.const 128) (i64.const 0) (i64.extend_i32_u (local.get $x))))
        (atomic.fence)
        (i32.add (i32.atomic.load (i32.const 64)) (i32.wrap_i64 (i64.atomic.load (i32.const 128)))))
      (func (export "g") (result i32) (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 0))))`,
    [[1], [41]],
  );
  agrees(t, '(module (memory 1) (func (export "g") (result i32) (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 0))))', [[]], 'g');
});

test('the start function runs metered, after the counters are set', (t) => {
  const bytes = wat(`(module (global $g (mut i32) (i32.const 0))
    (func $init (local $i i32)
      (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
      (global.set $g (local.get $i)))
    (start $init)
    (func (export "f") (result i32) (global.get $g)))`);
  const plain = runPlain(bytes, (e) => (e.f as () => number)());
  const metered = runMetered(bytes, (e) => (e.f as () => number)());
  t.true(sameResult(plain, metered));
  t.true(metered.fuelUsed! > 1000 * 5, `the start function's loop was charged: ${metered.fuelUsed}`);
  const starved = runMetered(bytes, (e) => (e.f as () => number)(), { fuel: 100 });
  t.is(starved.error, 'E_OUT_OF_FUEL');
});
