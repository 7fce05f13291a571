#!/usr/bin/env node
// Checks every built example (examples/build/*.wasm) against its expected output,
// with plain Node — no warden involved:
//   run ABI:  instantiate with no imports, alloc(len) (or __heap_base, growing memory
//             if needed), copy the input, run(ptr, len), unpack the i64 ptr | len << 32
//   wasi ABI: node:wasi (preview1) with temp files as stdin/stdout/stderr, no args,
//             no environment, no preopened directories
// Besides the checked-in input/expected pairs it runs a few generated cases per
// example (edge cases, large inputs, SHA-256 against node:crypto).
//
//   node examples/build.mjs && node examples/verify.mjs
//   node examples/verify.mjs --require-c    a missing C example is a failure, not a skip
//
// Exits 1 on any mismatch or error.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const requireC = process.argv.includes('--require-c') || process.env.WARDEN_EXAMPLES_REQUIRE_C === '1';
const manifest = JSON.parse(readFileSync(path.join(here, 'examples.json'), 'utf8'));

// node:wasi prints an ExperimentalWarning on Node 20; it is noise here.
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
  if (type === 'ExperimentalWarning') return;
  emitWarning.call(process, warning, ...rest);
};
const { WASI } = await import('node:wasi');

// ---------------------------------------------------------------------------- runners

/** Runs a `run`-ABI module on `input` (a Buffer); returns the output bytes. */
function runAbi(module, input) {
  const instance = new WebAssembly.Instance(module, {});
  const { memory, alloc, run, __heap_base: heapBase } = instance.exports;
  let ptr;
  if (typeof alloc === 'function') {
    ptr = alloc(input.length) >>> 0;
  } else {
    ptr = heapBase.value >>> 0;
    const need = ptr + input.length - memory.buffer.byteLength;
    if (need > 0) memory.grow(Math.ceil(need / 65536));
  }
  // read memory.buffer only now: alloc or grow may have replaced it
  if (ptr + input.length > memory.buffer.byteLength) throw new Error(`input region ${ptr}+${input.length} is outside memory`);
  new Uint8Array(memory.buffer, ptr, input.length).set(input);
  const packed = BigInt.asUintN(64, run(ptr, input.length));
  const outPtr = Number(packed & 0xffffffffn);
  const outLen = Number(packed >> 32n);
  if (outPtr + outLen > memory.buffer.byteLength) throw new Error(`output region ${outPtr}+${outLen} is outside memory (${memory.buffer.byteLength} bytes)`);
  return Buffer.from(memory.buffer.slice(outPtr, outPtr + outLen));
}

/** Runs a WASI command on `input`; returns { stdout, stderr, exitCode }. */
function runWasi(module, input) {
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-verify-'));
  const fds = [];
  try {
    writeFileSync(path.join(dir, 'stdin'), input);
    const stdin = openSync(path.join(dir, 'stdin'), 'r');
    fds.push(stdin);
    const stdout = openSync(path.join(dir, 'stdout'), 'w');
    fds.push(stdout);
    const stderr = openSync(path.join(dir, 'stderr'), 'w');
    fds.push(stderr);
    const wasi = new WASI({ version: 'preview1', args: [], env: {}, preopens: {}, stdin, stdout, stderr, returnOnExit: true });
    const instance = new WebAssembly.Instance(module, wasi.getImportObject());
    const exitCode = wasi.start(instance);
    for (const fd of fds.splice(0)) closeSync(fd);
    return {
      stdout: readFileSync(path.join(dir, 'stdout')),
      stderr: readFileSync(path.join(dir, 'stderr')),
      exitCode,
    };
  } finally {
    for (const fd of fds) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------- checks

let failures = 0;
let passes = 0;
let skips = 0;

const show = (buf) => {
  const s = JSON.stringify(buf.toString('utf8'));
  return s.length > 120 ? `${s.slice(0, 117)}..." (${buf.length} bytes)` : s;
};

function check(name, what, fn) {
  try {
    const problem = fn();
    if (problem) {
      failures++;
      console.log(`FAIL ${name}: ${what}\n     ${problem.replace(/\n/g, '\n     ')}`);
    } else {
      passes++;
      console.log(`ok   ${name}: ${what}`);
    }
  } catch (err) {
    failures++;
    console.log(`FAIL ${name}: ${what}\n     ${err?.stack ?? err}`);
  }
}

const diff = (label, got, want) => (Buffer.compare(got, want) === 0 ? null : `${label}: got ${show(got)}, want ${show(want)}`);

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function prng(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Text-like pseudo-random bytes: words, spaces, tabs, newlines, some non-ASCII. */
function prngText(n, seed) {
  const raw = prng(n, seed);
  const alphabet = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t\n\r\v\f.,\xe9');
  for (let i = 0; i < n; i++) raw[i] = raw[i] < 200 ? alphabet[raw[i] % 26] : alphabet[raw[i] % alphabet.length];
  return raw;
}

function wcOf(buf) {
  let lines = 0;
  let words = 0;
  let inWord = false;
  for (const c of buf) {
    if (c === 10) lines++;
    const space = c === 32 || (c >= 9 && c <= 13);
    if (space) inWord = false;
    else if (!inWord) {
      inWord = true;
      words++;
    }
  }
  return `${lines} ${words} ${buf.length}\n`;
}

const sha256hex = (buf) => createHash('sha256').update(buf).digest('hex');

/** Extra generated cases per example: [description, input, expected stdout]. */
const extra = {
  hello: () => [
    ['empty input greets the world', Buffer.alloc(0), Buffer.from('Hello, world!')],
    ['trailing \\r\\n is dropped', Buffer.from('warden\r\n'), Buffer.from('Hello, warden!')],
    ['200 KiB name (alloc grows memory)', Buffer.alloc(200 * 1024, 'x'), Buffer.concat([Buffer.from('Hello, '), Buffer.alloc(200 * 1024, 'x'), Buffer.from('!')])],
  ],
  upper: () => {
    const big = prngText(300 * 1024, 7);
    const up = Buffer.from(big.map((c) => (c >= 97 && c <= 122 ? c - 32 : c)));
    return [
      ['empty input', Buffer.alloc(0), Buffer.alloc(0)],
      ['300 KiB input (host grows memory before copying to __heap_base)', big, up],
    ];
  },
  sha256: () => {
    const cases = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000].map((n) => {
      const input = prng(n, n + 1);
      return [`${n} bytes vs node:crypto`, input, Buffer.from(sha256hex(input))];
    });
    cases.unshift(['"abc" (FIPS 180-2 vector)', Buffer.from('abc'), Buffer.from('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')]);
    const big = prng(4 * 1024 * 1024 + 13, 99);
    cases.push(['4 MiB + 13 bytes vs node:crypto', big, Buffer.from(sha256hex(big))]);
    return cases;
  },
  wordcount: () => {
    const big = prngText(1024 * 1024 + 5, 3);
    return [
      ['empty input', Buffer.alloc(0), Buffer.from('0 0 0\n')],
      ['no trailing newline', Buffer.from('a b\nc'), Buffer.from('1 3 5\n')],
      ['1 MiB of text (several reads) vs a JS count', big, Buffer.from(wcOf(big))],
    ];
  },
  calc: () => [
    ['empty input', Buffer.alloc(0), Buffer.alloc(0)],
    ['precedence and no trailing newline', Buffer.from('1 + 2 * 3 - 8 / 3 % 2'), Buffer.from('7\n')],
    ['variables and reassignment', Buffer.from('a = 2\nb = a * a\na = b + 1\na * b\n'), Buffer.from('20\n')],
    ['unknown input is an error, not a trap', Buffer.from('3 $ 4\n2 +\n)\n'), Buffer.from("error: line 1: unexpected character\nerror: line 2: unexpected end of line\nerror: line 3: unexpected character\n")],
    ['deep nesting is an error, not a stack overflow', Buffer.from(`${'('.repeat(100000)}1\n7\n`), Buffer.from('error: line 1: expression nested too deeply\n7\n')],
    ['number too large', Buffer.from('99999999999999999999\n9223372036854775809\n'), Buffer.from('error: line 1: number too large\nerror: line 2: number too large\n')],
  ],
};

function importsOf(module) {
  const imports = WebAssembly.Module.imports(module);
  return imports.length === 0 ? 'none' : imports.map((i) => `${i.module}.${i.name}`).join(', ');
}

for (const ex of manifest.examples) {
  const wasmPath = path.join(here, ex.wasm);
  const optional = ex.toolchain === 'clang' || ex.toolchain === 'clang-wasi';
  if (!existsSync(wasmPath)) {
    if (optional && !requireC) {
      skips++;
      console.log(`skip ${ex.name}: ${ex.wasm} not built (C toolchain missing? run node examples/build.mjs)`);
    } else {
      failures++;
      console.log(`FAIL ${ex.name}: ${ex.wasm} not built (run node examples/build.mjs)`);
    }
    continue;
  }
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  console.log(`---- ${ex.name} (${ex.abi} ABI, ${readFileSync(wasmPath).length} bytes, imports: ${importsOf(module)})`);

  const input = readFileSync(path.join(here, ex.input));
  const expected = readFileSync(path.join(here, ex.expected));
  const cases = [[`${ex.input} -> ${ex.expected}`, input, expected, true], ...(extra[ex.name]?.() ?? [])];

  for (const [what, inp, want, isFileCase] of cases) {
    if (ex.abi === 'run') {
      check(ex.name, what, () => diff('output', runAbi(module, inp), want));
    } else {
      check(ex.name, what, () => {
        const r = runWasi(module, inp);
        const problems = [];
        if (r.exitCode !== (ex.exitCode ?? 0)) problems.push(`exit code ${r.exitCode}, want ${ex.exitCode ?? 0}; stderr ${show(r.stderr)}`);
        const d = diff('stdout', r.stdout, want);
        if (d) problems.push(d);
        if (isFileCase && ex.expectedStderr) {
          const e = diff('stderr', r.stderr, readFileSync(path.join(here, ex.expectedStderr)));
          if (e) problems.push(e);
        }
        return problems.join('\n') || null;
      });
    }
  }

  if (ex.abi === 'run') {
    // The host may reuse nothing between jobs, but a module should still not depend on
    // being fresh: a second run() on the same instance gives the same output.
    check(ex.name, 'two runs on one instance give the same output', () => {
      const instance = new WebAssembly.Instance(module, {});
      const { memory, alloc, run, __heap_base: heapBase } = instance.exports;
      const once = () => {
        const ptr = typeof alloc === 'function' ? alloc(input.length) >>> 0 : heapBase.value >>> 0;
        new Uint8Array(memory.buffer, ptr, input.length).set(input);
        const packed = BigInt.asUintN(64, run(ptr, input.length));
        const p = Number(packed & 0xffffffffn);
        return Buffer.from(memory.buffer.slice(p, p + Number(packed >> 32n)));
      };
      const a = once();
      const b = once();
      return diff('first run', a, expected) ?? diff('second run', b, expected);
    });
  }
}

console.log(`\nverify: ${passes} passed, ${failures} failed, ${skips} skipped`);
process.exit(failures > 0 ? 1 : 0);
