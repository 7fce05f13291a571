/**
 * The instrumenter as a function over bytes: deterministic and pinned, semantics preserved on the
 * examples and fixtures and on generated programs, fuel impossible to reach or escape, and every
 * malformed or unmeterable input refused with E_PREVALIDATION.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { hashParams } from '../../../src/shared/artifact.js';
import { DERIVATION_VERSION, preparationParamsHash } from '../../../src/shared/derive.js';
import { JobError } from '../../../src/shared/jobError.js';
import { DEFAULT_PREPARE_LIMITS } from '../../../src/shared/limits.js';
import { FUEL_EXPORT, METER_VERSION, STACK_EXPORT, START_EXPORT } from '../../../src/shared/meter/costs.js';
import { instrument } from '../../../src/shared/meter/instrument.js';
import { PACKAGE_ROOT } from '../../../src/sandbox/paths.js';
import { WARM_UP_MODULE } from '../../../src/worker/jobs/warmUpModule.js';
import { fixtures, wat } from '../../helpers/wat.js';
import { encodeModule, u32 } from '../../helpers/wasmBinary.js';
import { runMetered, runPlain, sameResult } from '../../helpers/metered.js';
import { LogSink, OutputSink } from '../../../src/worker/jobs/sinks.js';
import { ProcExit, WasiShim } from '../../../src/worker/jobs/wasi.js';

const sha256 = (bytes: Uint8Array) => crypto.createHash('sha256').update(bytes).digest('hex');

function refused(t: import('ava').ExecutionContext, bytes: Uint8Array, message: RegExp): void {
  const error = t.throws(() => instrument(bytes), { instanceOf: JobError });
  t.is(error?.code, 'E_PREVALIDATION');
  t.regex(error?.message ?? '', message);
}

test('the same bytes give the same output, and the output is valid WebAssembly', (t) => {
  for (const [name, bytes] of Object.entries(fixtures)) {
    const once = instrument(bytes);
    t.deepEqual(instrument(new Uint8Array(bytes)), once, name);
    t.true(WebAssembly.validate(once), name);
  }
});

/**
 * The output is pinned: any change to the cost table or to the instrumenter changes these hashes,
 * and must come with a new METER_VERSION (it is part of every artifact's key: a cached artifact
 * metered the old way must never be reused as if metered the new way). The inputs are bytes
 * written here, not assembled by a tool whose version could change them.
 */
const PINNED_INPUTS: Record<string, Uint8Array> = {
  warmUp: WARM_UP_MODULE,
  // Every kind of edit: a loop with br_if, if/else, return, a call, memory.fill, try/catch_all
  // with a throw, return_call, a v128 local.
  everyEdit: encodeModule({
    memoryPages: 1,
    tags: [{ params: [] }],
    functions: [
      {
        params: [0x7f],
        results: [0x7f],
        locals: [0x7b],
        export: 'f',
        body: [
          0x03, 0x40, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b, // loop: local.tee 0 (local.get 0 - 1); br_if 0
          0x20, 0x00, 0x04, 0x7f, 0x41, 0x01, 0x0f, 0x05, 0x41, 0x02, 0x0b, 0x1a, // if (result i32) return 1 else 2; drop
          0x41, 0x00, 0x41, 0x00, 0x41, 0x10, 0xfc, 0x0b, 0x00, // memory.fill
          0x06, 0x40, 0x08, 0x00, 0x19, 0x0b, // try throw 0 catch_all end
          0x20, 0x00, 0x12, 0x01, // return_call 1
        ],
      },
      { params: [0x7f], results: [0x7f], body: [0x20, 0x00, 0x10, 0x02] },
      { params: [0x7f], results: [0x7f], body: [0x20, 0x00] },
    ],
  }),
};

const GOLDEN: Record<string, string> = {
  warmUp: 'a117322be1115b65f0a0cda43cea177d6833a1f3006e202e62a3e06bdd15e6a8',
  everyEdit: 'cd8bc2187029021b9e4e36da5842e0579144ec14a6401d4e02ddcf5b6797f069',
};

test(`the output of METER_VERSION ${METER_VERSION} is pinned`, (t) => {
  t.is(METER_VERSION, 2, 'a new version needs new golden hashes below');
  for (const [name, bytes] of Object.entries(PINNED_INPUTS)) {
    t.true(WebAssembly.validate(bytes), name);
    t.is(sha256(instrument(bytes)), GOLDEN[name] ?? `no golden hash for ${name}`, name);
  }
});

test('the cost table version is part of every artifact key', (t) => {
  const limits = DEFAULT_PREPARE_LIMITS;
  t.is(preparationParamsHash(limits), hashParams({ ...limits, derivation: DERIVATION_VERSION, meterVersion: METER_VERSION }));
  t.not(preparationParamsHash(limits), hashParams({ ...limits, derivation: DERIVATION_VERSION, meterVersion: METER_VERSION + 1 }));
  t.not(preparationParamsHash(limits), hashParams({ ...limits, derivation: DERIVATION_VERSION }));
});

test('metering adds only the counters and the start export, and keeps the imports', (t) => {
  const bytes = wat(`(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1) (func $s) (start $s) (func (export "run") (param i32 i32) (result i64) (i64.const 0)))`);
  const before = new WebAssembly.Module(bytes);
  const after = new WebAssembly.Module(instrument(bytes));
  t.deepEqual(WebAssembly.Module.imports(after), WebAssembly.Module.imports(before));
  t.deepEqual(WebAssembly.Module.exports(after), [
    ...WebAssembly.Module.exports(before),
    { name: FUEL_EXPORT, kind: 'global' },
    { name: STACK_EXPORT, kind: 'global' },
    { name: START_EXPORT, kind: 'function' },
  ]);
});

test('the examples compute the same metered and unmetered', (t) => {
  const examples = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'examples', 'examples.json'), 'utf8')).examples as { name: string; abi: string; wasm: string; input: string }[];
  let compared = 0;
  for (const example of examples.filter((e) => e.abi === 'run')) {
    const file = path.join(PACKAGE_ROOT, 'examples', example.wasm);
    if (!fs.existsSync(file)) continue;
    const bytes = new Uint8Array(fs.readFileSync(file));
    const input = fs.readFileSync(path.join(PACKAGE_ROOT, 'examples', example.input));
    const call = (exports: WebAssembly.Exports) => {
      const e = exports as { memory: WebAssembly.Memory; run: (p: number, l: number) => bigint; alloc?: (l: number) => number; __heap_base?: WebAssembly.Global };
      const ptr = e.alloc ? e.alloc(input.byteLength) : Number(e.__heap_base!.value);
      new Uint8Array(e.memory.buffer, ptr, input.byteLength).set(input);
      const packed = e.run(ptr, input.byteLength);
      return Buffer.from(e.memory.buffer, Number(packed & 0xffffffffn), Number(packed >> 32n)).toString('base64');
    };
    const plain = runPlain(bytes, call);
    const metered = runMetered(bytes, call);
    t.true(plain.value !== undefined, `${example.name} runs`);
    t.true(sameResult(plain, metered), example.name);
    compared++;
  }
  t.true(compared >= 3);
});

test('the fixtures compute the same metered and unmetered: run ABI outputs and traps, WASI stdout, stderr and exit codes', (t) => {
  const input = Buffer.from('Metered and unmetered, the same.');
  const runAbi = (exports: WebAssembly.Exports) => {
    const e = exports as { memory: WebAssembly.Memory; run: (p: number, l: number) => bigint; alloc?: (l: number) => number; __heap_base?: WebAssembly.Global };
    const ptr = e.alloc ? e.alloc(input.byteLength) : Number(e.__heap_base!.value);
    new Uint8Array(e.memory.buffer, ptr, input.byteLength).set(input);
    const packed = e.run(ptr, input.byteLength);
    return Buffer.from(e.memory.buffer, Number(packed & 0xffffffffn), Number(packed >> 32n)).toString('base64');
  };
  // Those that end: not the endless loop, the unbounded recursion or the 4 GiB memory growers.
  for (const name of ['upper', 'echoHeapBase', 'trap', 'hugeOutput', 'outOfBoundsOutput', 'twoTables', 'tooMuchMemory'] as const) {
    const plain = runPlain(fixtures[name], runAbi);
    const metered = runMetered(fixtures[name], runAbi);
    t.true(sameResult(plain, metered), `${name}: ${JSON.stringify({ plain, metered })}`);
  }
  for (const name of ['wasiCat', 'wasiExit0', 'wasiExit3'] as const) {
    const outcomes = [false, true].map((metered) => {
      const stdout = new OutputSink(1 << 20);
      const stderr = new LogSink(1 << 20);
      const shim = new WasiShim({ stdin: input, stdout, stderr });
      let exitCode = -1;
      const call = (exports: WebAssembly.Exports) => {
        shim.memory.attach(exports.memory as WebAssembly.Memory);
        try {
          (exports._start as () => void)();
          exitCode = 0;
        } catch (error) {
          if (!(error instanceof ProcExit)) throw error;
          exitCode = error.exitCode;
        }
        return [Buffer.from(stdout.contents()).toString(), Buffer.from(stderr.contents()).toString(), exitCode];
      };
      const imports = { wasi_snapshot_preview1: shim.imports() };
      return metered ? runMetered(fixtures[name], call, { imports }) : runPlain(fixtures[name], call, imports);
    });
    t.true(sameResult(outcomes[0]!, outcomes[1]!), `${name}: ${JSON.stringify(outcomes)}`);
  }
});

test('a spin loop runs out of fuel at exactly the same point every time', (t) => {
  const outcomes = new Set<string>();
  for (let n = 0; n < 20; n++) {
    outcomes.add(JSON.stringify(runMetered(fixtures.infiniteLoop, (e) => (e.run as (a: number, b: number) => bigint)(0, 0), { fuel: 1_000_003 })));
  }
  t.deepEqual([...outcomes], [JSON.stringify({ error: 'E_OUT_OF_FUEL', fuelUsed: 1_000_003 })]);
});

test('recursion overflows the logical stack at the same depth every time, proportional to the limit', (t) => {
  const bytes = wat(`(module (global $depth (export "depth") (mut i32) (i32.const 0))
    (func $down (param $n i64) (result i64)
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (i64.add (call $down (i64.add (local.get $n) (i64.const 1))) (i64.const 1)))
    (func (export "f") (result i64) (call $down (i64.const 0))))`);
  const depth = (maxStackHeight: number) => {
    let reached = -1;
    const outcome = runMetered(bytes, (e) => {
      try {
        return (e.f as () => bigint)();
      } finally {
        reached = (e.depth as WebAssembly.Global).value as number;
      }
    }, { maxStackHeight });
    t.is(outcome.error, 'E_STACK_OVERFLOW');
    return reached;
  };
  const first = depth(100_000);
  for (let n = 0; n < 5; n++) t.is(depth(100_000), first);
  // Every frame of $down costs the same: twice the stack, twice the depth (within one frame).
  t.true(Math.abs(depth(200_000) - 2 * first) <= 1, `${depth(200_000)} vs 2 × ${first}`);
});

test('no instruction of the module can name the counters: an index past its own globals, locals, types or labels is refused', (t) => {
  const oneGlobal = '(global $g (mut i32) (i32.const 0))';
  // Binary, since the text format would refuse these: each names exactly the index the
  // instrumenter gives to something of its own.
  const globalSet = encodeModule({ functions: [{ params: [], results: [], body: [0x42, 0x00, 0x24, ...u32(0)] }] });
  refused(t, globalSet, /global 0 .* does not exist/);
  const globalGet = encodeModule({ functions: [{ params: [], results: [0x7e], body: [0x23, ...u32(1)] }] });
  refused(t, globalGet, /global 1 .* does not exist/);
  const localGet = encodeModule({ functions: [{ params: [0x7f], results: [0x7f], body: [0x20, ...u32(1)] }] });
  refused(t, localGet, /local 1 .* does not exist/);
  const branchOut = encodeModule({ functions: [{ params: [], results: [], body: [0x0c, ...u32(1)] }] });
  refused(t, branchOut, /branch depth 1 .* names no enclosing block/);
  const typeIndex = encodeModule({ functions: [{ params: [], results: [], body: [0x02, ...u32(1), 0x0b] }] });
  refused(t, typeIndex, /block type index 1/);
  const callIndirect = encodeModule({ functions: [{ params: [], results: [], body: [0x41, 0x00, 0x11, ...u32(5), 0x00] }], tableSize: 1 });
  refused(t, callIndirect, /names type 5/);
  // And V8 agrees each is invalid: nothing valid is refused.
  for (const bytes of [globalSet, globalGet, localGet, branchOut, typeIndex, callIndirect]) t.false(WebAssembly.validate(bytes));
  t.true(WebAssembly.validate(instrument(wat(`(module ${oneGlobal} (func (global.set $g (i32.const 1))))`))));
});

test('an export named like a counter is refused, so the host never reads a value the module chose', (t) => {
  for (const name of [FUEL_EXPORT, STACK_EXPORT, START_EXPORT, 'warden:other']) {
    refused(t, wat(`(module (global (export "${name}") (mut i64) (i64.const 0)) (func (export "run")))`), /reserved/);
  }
});

test('every entry point pays: exported functions, table entries called from outside, call_indirect', (t) => {
  const bytes = wat(`(module (table (export "table") 2 funcref) (elem (i32.const 0) $spin $indirect)
    (type $v (func))
    (func $spin (loop $l (br $l)))
    (func $indirect (call_indirect (type $v) (i32.const 0)))
    (func (export "spin") (call $spin)))`);
  const viaExport = runMetered(bytes, (e) => (e.spin as () => void)(), { fuel: 10_000 });
  const viaTable = runMetered(bytes, (e) => ((e.table as WebAssembly.Table).get(0) as () => void)(), { fuel: 10_000 });
  const viaIndirect = runMetered(bytes, (e) => ((e.table as WebAssembly.Table).get(1) as () => void)(), { fuel: 10_000 });
  for (const outcome of [viaExport, viaTable, viaIndirect]) t.deepEqual(outcome, { error: 'E_OUT_OF_FUEL', fuelUsed: 10_000 });
});

test('host functions pay per call and by the bytes they move, and a module that catches the out-of-fuel exception still fails', (t) => {
  const bytes = wat(`(module (import "host" "f" (func $f (param i32)))
    (func (export "calls") (param $n i32) (loop $l (call $f (i32.const 0)) (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
    (func (export "swallow") (param $n i32)
      (loop $l (try (do (call $f (i32.const 4096))) (catch_all)) (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`, { exceptions: true });
  let meterRef: { chargeBytes(n: number): void } | undefined;
  const imports = { host: { f: (bytes: number) => meterRef?.chargeBytes(bytes) } };
  const run = (name: string, n: number, fuel = 1e9) =>
    runMetered(bytes, (e, meter) => {
      meterRef = meter;
      (e[name] as (n: number) => void)(n);
    }, { imports, fuel });
  const ten = run('calls', 10).fuelUsed!;
  const twenty = run('calls', 20).fuelUsed!;
  t.true(twenty - ten >= 10 * 64, `a host call costs at least 64: ${ten}, ${twenty}`);
  // 4096 bytes cost 1024 more per call; the module catches the host's exception and carries on.
  t.deepEqual(run('swallow', 1000, 50_000), { error: 'E_OUT_OF_FUEL', fuelUsed: 50_000 });
});

test('features V8 11.3 has only behind flags are refused by name', (t) => {
  refused(t, encodeModule({ functions: [{ params: [], results: [], body: [0xfd, ...u32(0x100)] }] }), /relaxed SIMD/);
  refused(t, encodeModule({ functions: [{ params: [], results: [], body: [0x14, 0x00] }] }), /typed function references/);
  refused(t, encodeModule({ functions: [{ params: [], results: [], body: [0xfb, 0x00] }] }), /garbage collection/);
  refused(t, encodeModule({ functions: [{ params: [], results: [], body: [0x1f, 0x40, 0x00, 0x0b] }] }), /exnref/);
  // i32.load with the multi-memory bit in its alignment.
  refused(t, encodeModule({ functions: [{ params: [], results: [], body: [0x41, 0x00, 0x28, 0x40, 0x00, 0x00, 0x1a] }], memoryPages: 1 }), /multi-memory/);
  // A global initialized by i32.add (extended constant expressions).
  const extended = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 6, 9, 1, 0x7f, 0x00, 0x41, 0x01, 0x41, 0x02, 0x6a, 0x0b]);
  refused(t, extended, /extended constant expressions/);
});

test('truncated and malformed bodies are refused, never crash or hang', (t) => {
  const bytes = instrument(fixtures.upper);
  t.true(bytes.byteLength > 0);
  const source = fixtures.wasiCat;
  for (let cut = 8; cut < source.byteLength; cut += 7) {
    try {
      instrument(source.subarray(0, cut));
    } catch (error) {
      t.true(error instanceof JobError && error.code === 'E_PREVALIDATION', String(error));
    }
  }
});

test('fuzzed bytes: the instrumenter refuses with E_PREVALIDATION or yields a module V8 accepts exactly when it accepts the original', (t) => {
  const base = fixtures.upper;
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(base.byteLength - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
      const bytes = new Uint8Array(base);
      for (const [at, value] of flips) bytes[at] = value;
      let out: Uint8Array;
      try {
        out = instrument(bytes);
      } catch (error) {
        return error instanceof JobError && error.code === 'E_PREVALIDATION';
      }
      // Instrumenting never turns an invalid module into a valid one.
      return !WebAssembly.validate(out) || WebAssembly.validate(bytes);
    }),
    { numRuns: Number(process.env.WARDEN_FUZZ_RUNS ?? 2000) },
  );
  t.pass();
});

/** A small structured program over i32 locals: assignments, ifs, bounded loops, blocks with br_if, calls. */
const statement: fc.Memo<string> = fc.memo((depth) => {
  const expr = expression(3);
  const local = fc.constantFrom('$a', '$b', '$c');
  const leaf = fc.tuple(local, expr).map(([l, e]) => `(local.set ${l} ${e})`);
  if (depth <= 1) return leaf;
  const body = fc.array(statement(depth - 1), { minLength: 1, maxLength: 3 }).map((s) => s.join(' '));
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    fc.tuple(expr, body, body).map(([c, a, b]) => `(if ${c} (then ${a}) (else ${b}))`),
    // Each nesting depth has its own counter, so an inner loop never resets an outer one's.
    fc.tuple(fc.integer({ min: 0, max: 6 }), body).map(
      ([n, s]) =>
        `(local.set $i${depth} (i32.const ${n})) (block $out (loop $again (br_if $out (i32.eqz (local.get $i${depth}))) ${s} (local.set $i${depth} (i32.sub (local.get $i${depth}) (i32.const 1))) (br $again)))`,
    ),
    fc.tuple(body, expr, body).map(([a, c, b]) => `(block $skip ${a} (br_if $skip ${c}) ${b})`),
    fc.tuple(local, expr).map(([l, e]) => `(local.set ${l} (call $mix ${e} (local.get ${l})))`),
    fc.tuple(expr).map(([e]) => `(if ${e} (then (return (i32.const 77))))`),
  );
});

function expression(depth: number): fc.Arbitrary<string> {
  const leaf = fc.oneof(fc.integer().map((n) => `(i32.const ${n})`), fc.constantFrom('(local.get $a)', '(local.get $b)', '(local.get $c)', '(local.get $p)'));
  if (depth <= 1) return leaf;
  const sub = expression(depth - 1);
  return fc.oneof(
    { weight: 2, arbitrary: leaf },
    fc.tuple(fc.constantFrom('add', 'sub', 'mul', 'xor', 'and', 'or', 'shl', 'shr_u', 'rotl', 'lt_u', 'eq'), sub, sub).map(([op, a, b]) => `(i32.${op} ${a} ${b})`),
    fc.tuple(sub, sub, sub).map(([a, b, c]) => `(select ${a} ${b} ${c})`),
    fc.tuple(sub).map(([a]) => `(i32.load8_u (i32.and ${a} (i32.const 1023)))`),
  );
}

test('generated programs compute the same metered and unmetered, and use the same fuel on every run', (t) => {
  fc.assert(
    fc.property(fc.array(statement(4), { minLength: 1, maxLength: 6 }), fc.integer(), (statements, input) => {
      const bytes = wat(`(module (memory 1) (data (i32.const 0) "warden metering property test")
        (func $mix (param i32 i32) (result i32) (i32.xor (i32.mul (local.get 0) (i32.const 0x9e3779b1)) (i32.rotl (local.get 1) (i32.const 5))))
        (func (export "f") (param $p i32) (result i32) (local $a i32) (local $b i32) (local $c i32) (local $i2 i32) (local $i3 i32) (local $i4 i32)
          ${statements.join('\n')}
          (i32.add (local.get $a) (i32.xor (local.get $b) (local.get $c)))))`);
      const call = (exports: WebAssembly.Exports) => (exports.f as (p: number) => number)(input);
      const plain = runPlain(bytes, call);
      const metered = runMetered(bytes, call);
      const again = runMetered(bytes, call);
      // With too little fuel: the same result, or out of fuel at exactly the budget.
      const starved = runMetered(bytes, call, { fuel: 50 });
      return (
        sameResult(plain, metered) &&
        metered.fuelUsed === again.fuelUsed &&
        (sameResult(plain, starved) ? starved.fuelUsed === metered.fuelUsed : starved.error === 'E_OUT_OF_FUEL' && starved.fuelUsed === 50)
      );
    }),
    { numRuns: Number(process.env.WARDEN_FUZZ_RUNS ?? 300) },
  );
  t.pass();
});

test('bounds on what one function may hold: nesting, operand stack, frame, body size', (t) => {
  const nested = (depth: number) => encodeModule({ functions: [{ params: [], results: [], body: [...Array(depth).fill([0x02, 0x40]).flat(), ...Array(depth).fill(0x0b)] }] });
  t.true(WebAssembly.validate(instrument(nested(1000))));
  refused(t, nested(70_000), /nests blocks more than 65536 deep/);
  const pushes = (n: number) => encodeModule({ functions: [{ params: [], results: [], body: [...Array(n).fill([0x41, 0x00]).flat(), ...Array(n).fill(0x1a)] }] });
  t.true(WebAssembly.validate(instrument(pushes(20_000))));
  refused(t, pushes(40_000), /operand stack of more than 32768 units/);
  const locals = (n: number) => encodeModule({ functions: [{ params: [], results: [], locals: Array(n).fill(0x7e), body: [] }] });
  t.true(WebAssembly.validate(instrument(locals(30_000))));
  refused(t, locals(33_000), /stack frame of \d+ units .* more than 32768/);
  // V8 agrees the first two are valid: these are warden's own bounds, named in the message.
  t.true(WebAssembly.validate(nested(70_000)));
  t.true(WebAssembly.validate(pushes(40_000)));
});
