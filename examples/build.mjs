#!/usr/bin/env node
// Builds every example in examples/examples.json into examples/build/<name>.wasm.
//
//   node examples/build.mjs                 build all (from any cwd)
//   node examples/build.mjs hello sha256    build only these
//   node examples/build.mjs --require-c     a missing C toolchain is an error, not a skip
//                                           (same as WARDEN_EXAMPLES_REQUIRE_C=1)
//
// Toolchains: WAT with the `wabt` npm package, AssemblyScript with the
// `assemblyscript` npm package (both devDependencies, offline), C with clang +
// wasm-ld (+ wasi-libc and compiler-rt for the WASI example) when they are installed.
// Without them the C examples are skipped with one line saying why, and the script
// still exits 0. Override the compiler with CLANG=/path/to/clang and the WASI sysroot
// with WASI_SYSROOT=/path/to/wasi-sysroot (e.g. a wasi-sdk install).
//
// Every output is checked before it is written: it must compile, and its imports and
// exports must match its ABI (run: no imports; wasi: only wasi_snapshot_preview1).
// Outputs are written atomically (temp file + rename). The build is deterministic: the
// same sources and tool versions give byte-identical files.

import { execFile as execFileCb } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, constants, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);
const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, 'build');

const C_PACKAGES = 'clang lld wasi-libc libclang-rt-14-dev-wasm32';

// ---------------------------------------------------------------------------- args

const argv = process.argv.slice(2);
const requireC = argv.includes('--require-c') || process.env.WARDEN_EXAMPLES_REQUIRE_C === '1';
const only = argv.filter((a) => !a.startsWith('--'));

const manifest = JSON.parse(await readFile(path.join(here, 'examples.json'), 'utf8'));
const known = new Set(manifest.examples.map((e) => e.name));
for (const name of only) {
  if (!known.has(name)) {
    console.error(`examples: unknown example '${name}' (known: ${[...known].join(', ')})`);
    process.exit(2);
  }
}
const selected = manifest.examples.filter((e) => only.length === 0 || only.includes(e.name));

// ---------------------------------------------------------------------------- helpers

async function exists(p, mode = constants.F_OK) {
  try {
    await access(p, mode);
    return true;
  } catch {
    return false;
  }
}

async function findInPath(cmd) {
  if (cmd.includes('/')) return (await exists(cmd, constants.X_OK)) ? cmd : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    if (await exists(p, constants.X_OK)) return p;
  }
  return null;
}

/** Write atomically so a concurrent reader never sees a half-written module. */
async function writeOutput(file, bytes) {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
}

/** Checks that `bytes` compiles and that its interface matches the ABI. Returns the imports. */
function checkInterface(example, bytes) {
  const mod = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(mod);
  const exports = WebAssembly.Module.exports(mod);
  const has = (name, kind) => exports.some((e) => e.name === name && e.kind === kind);
  const problems = [];
  if (!has('memory', 'memory')) problems.push("no exported memory 'memory'");
  if (example.abi === 'run') {
    if (imports.length > 0) problems.push(`run ABI must have no imports, has ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}`);
    if (!has('run', 'function')) problems.push("no exported function 'run'");
    if (!has('alloc', 'function') && !has('__heap_base', 'global')) problems.push("neither 'alloc' nor '__heap_base' is exported");
  } else if (example.abi === 'wasi') {
    const bad = imports.filter((i) => i.module !== 'wasi_snapshot_preview1');
    if (bad.length > 0) problems.push(`wasi ABI allows only wasi_snapshot_preview1 imports, has ${bad.map((i) => `${i.module}.${i.name}`).join(', ')}`);
    if (!has('_start', 'function')) problems.push("no exported function '_start'");
  } else {
    problems.push(`unknown abi '${example.abi}'`);
  }
  if (problems.length > 0) throw new Error(`${example.name}: ${problems.join('; ')}`);
  return imports;
}

// ---------------------------------------------------------------------------- toolchains

let wabtPromise;
function wabt() {
  wabtPromise ??= import('wabt').then((m) => (m.default ?? m)());
  return wabtPromise;
}

async function buildWat(example) {
  const file = path.join(here, example.source);
  const text = await readFile(file, 'utf8');
  const w = await wabt();
  // Only default (finalized) features: the examples use MVP instructions.
  const mod = w.parseWat(example.source, text);
  try {
    mod.resolveNames();
    mod.validate();
    return Buffer.from(mod.toBinary({ log: false, write_debug_names: true }).buffer);
  } finally {
    mod.destroy();
  }
}

async function buildAsc(example) {
  const { default: asc } = await import('assemblyscript/asc');
  const entry = example.source; // relative to baseDir: fixes the internal path used below
  const internal = entry.replace(/\.ts$/, '');
  let binary = null;
  let log = '';
  const sink = { write: (s) => { log += typeof s === 'string' ? s : Buffer.from(s).toString(); return true; } };
  const { error } = await asc.main(
    [
      entry,
      '--baseDir', here,
      '--outFile', `${example.name}.wasm`,
      '--runtime', 'stub', // bump allocator, never frees: the output outlives run()
      '-O3',
      '--noAssert',
      // replace the default `env.abort` import by a function that traps
      '--use', `abort=${internal}/wardenAbort`,
      '--noColors',
    ],
    {
      stdout: sink,
      stderr: sink,
      writeFile: (name, contents) => {
        if (name.endsWith('.wasm')) binary = Buffer.from(contents);
      },
    },
  );
  if (error) throw new Error(`${example.name}: asc failed: ${error.message}\n${log}`);
  if (!binary) throw new Error(`${example.name}: asc produced no binary\n${log}`);
  return binary;
}

/**
 * Finds clang, wasm-ld and (for WASI) the wasi-libc sysroot and compiler-rt.
 * Returns { clang, sysrootArgs, missing: { clang?: reason, 'clang-wasi'?: reason } }.
 */
async function probeClang() {
  const clang = await findInPath(process.env.CLANG || 'clang');
  if (!clang) {
    const reason = `${process.env.CLANG || 'clang'} not found in PATH`;
    return { missing: { clang: reason, 'clang-wasi': reason } };
  }
  const ask = async (...args) => {
    try {
      return (await execFile(clang, args, { timeout: 10_000 })).stdout.trim();
    } catch {
      return '';
    }
  };
  const missing = {};
  const ld = await ask('--target=wasm32', '-print-prog-name=wasm-ld');
  if (!path.isAbsolute(ld) || !(await exists(ld, constants.X_OK))) {
    const reason = 'wasm-ld not found (Debian package lld)';
    return { clang, missing: { clang: reason, 'clang-wasi': reason } };
  }

  // WASI sysroot: $WASI_SYSROOT, else whatever clang finds by itself (Debian's
  // wasi-libc installs into /usr/{include,lib}/wasm32-wasi, found without --sysroot),
  // else the usual wasi-sdk locations.
  const candidates = process.env.WASI_SYSROOT
    ? [[`--sysroot=${process.env.WASI_SYSROOT}`]]
    : [[], ['--sysroot=/usr/share/wasi-sysroot'], ['--sysroot=/opt/wasi-sdk/share/wasi-sysroot']];
  let sysrootArgs = null;
  for (const args of candidates) {
    const libc = await ask('--target=wasm32-wasi', ...args, '-print-file-name=libc.a');
    if (path.isAbsolute(libc) && (await exists(libc))) {
      sysrootArgs = args;
      break;
    }
  }
  if (!sysrootArgs) {
    missing['clang-wasi'] = process.env.WASI_SYSROOT
      ? `no libc.a for wasm32-wasi under WASI_SYSROOT=${process.env.WASI_SYSROOT}`
      : 'wasi-libc not found (Debian package wasi-libc, or set WASI_SYSROOT)';
  } else {
    const rt = await ask('--target=wasm32-wasi', ...sysrootArgs, '-print-libgcc-file-name');
    if (!path.isAbsolute(rt) || !(await exists(rt))) {
      missing['clang-wasi'] = `compiler-rt builtins for wasm32 not found at ${rt || '?'} (Debian package libclang-rt-14-dev-wasm32)`;
    }
  }
  return { clang, sysrootArgs: sysrootArgs ?? [], missing };
}

async function buildC(example, tc) {
  const src = path.join(here, example.source);
  const tmp = path.join(tmpdir(), `warden-example-${example.name}-${process.pid}.wasm`);
  const common = [
    '-O2',
    '-Wall',
    '-Wextra',
    `-ffile-prefix-map=${here}=examples`, // no absolute build paths in the output
  ];
  const args =
    example.toolchain === 'clang-wasi'
      ? ['--target=wasm32-wasi', ...tc.sysrootArgs, ...common, src, '-o', tmp]
      : ['--target=wasm32', ...common, '-nostdlib', '-ffreestanding', '-Wl,--no-entry', '-Wl,--export=__heap_base', src, '-o', tmp];
  try {
    await execFile(tc.clang, args, { timeout: 60_000, cwd: here });
    return await readFile(tmp);
  } catch (err) {
    throw new Error(`${example.name}: ${path.basename(tc.clang)} ${args.join(' ')}\n${err.stderr || err.message}`);
  } finally {
    await rm(tmp, { force: true });
  }
}

// ---------------------------------------------------------------------------- main

const t0 = performance.now();
await mkdir(outDir, { recursive: true });

const needsClang = selected.some((e) => e.toolchain === 'clang' || e.toolchain === 'clang-wasi');
const tc = needsClang ? await probeClang() : null;

const results = await Promise.allSettled(
  selected.map(async (example) => {
    let bytes;
    switch (example.toolchain) {
      case 'wabt':
        bytes = await buildWat(example);
        break;
      case 'asc':
        bytes = await buildAsc(example);
        break;
      case 'clang':
      case 'clang-wasi':
        if (tc.missing[example.toolchain]) return { example, skipped: tc.missing[example.toolchain] };
        bytes = await buildC(example, tc);
        break;
      default:
        throw new Error(`${example.name}: unknown toolchain '${example.toolchain}'`);
    }
    const imports = checkInterface(example, bytes);
    await writeOutput(path.join(here, example.wasm), bytes);
    return { example, bytes, imports };
  }),
);

let failed = 0;
const skipped = [];
for (const r of results) {
  if (r.status === 'rejected') {
    failed++;
    console.error(`examples: FAILED ${r.reason?.message ?? r.reason}`);
    continue;
  }
  const { example, bytes, imports, skipped: why } = r.value;
  if (why) {
    skipped.push({ example, why });
    continue;
  }
  const sha = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  const imp = imports.length === 0 ? 'no imports' : `${imports.length} imports`;
  console.log(`examples: built ${example.wasm.padEnd(21)} ${String(bytes.length).padStart(6)} B  ${example.abi.padEnd(4)}  ${imp.padEnd(10)}  sha256 ${sha}`);
}
if (skipped.length > 0) {
  const names = skipped.map((s) => s.example.name).join(', ');
  const reasons = [...new Set(skipped.map((s) => s.why))].join('; ');
  const line = `examples: skipped C example${skipped.length > 1 ? 's' : ''} ${names}: ${reasons} — install with: apt-get install -y ${C_PACKAGES}`;
  if (requireC) {
    console.error(`${line} (error: --require-c)`);
    failed++;
  } else {
    console.log(line);
  }
}
console.log(`examples: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failed > 0 ? 1 : 0);
