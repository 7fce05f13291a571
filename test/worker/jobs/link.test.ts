/**
 * What prepare accepts, V8 accepts and can run (issue 17): V8 validates the bytes as submitted,
 * limits read as V8 reads them (names keep a leading BOM, a memory has at most 65,536 pages), and
 * whatever prepares links against exactly the imports an execute offers, without any of its code
 * running. An artifact that still fails to link at execute is a typed, deterministic job error.
 */
import test from 'ava';
import { encodeArtifact } from '../../../src/shared/artifact.js';
import { deriveModule } from '../../../src/shared/derive.js';
import { WASI_FUNCTIONS, WASI_MODULE } from '../../../src/shared/hostFunctions.js';
import { JobError } from '../../../src/shared/jobError.js';
import { DEFAULT_EXECUTE_LIMITS, DEFAULT_PREPARE_LIMITS } from '../../../src/shared/limits.js';
import { execute } from '../../../src/worker/jobs/execute.js';
import { checkLinks } from '../../../src/worker/jobs/link.js';
import { prepare } from '../../../src/worker/jobs/prepare.js';
import { WasiShim } from '../../../src/worker/jobs/wasi.js';
import { LogSink, OutputSink } from '../../../src/worker/jobs/sinks.js';
import { PARAMS_HASH, wat } from '../../helpers/wat.js';

const limits = DEFAULT_PREPARE_LIMITS;
const BOM = '\\ef\\bb\\bf';
const FD_WRITE = '(func (param i32 i32 i32 i32) (result i32))';

function refused(t: import('ava').ExecutionContext, code: Uint8Array, pattern: RegExp): void {
  const error = t.throws(() => prepare(code, limits, PARAMS_HASH), { instanceOf: JobError });
  t.is(error?.code, 'E_PREVALIDATION');
  t.true(error?.deterministic);
  t.regex(error!.message, pattern);
}

for (const maximum of ['65537', '2147483648', '4294967295']) {
  test(`(memory 0 ${maximum}) is invalid, as V8 and the spec's "memory size" say: refused, not clamped`, (t) => {
    const code = wat(`(module (memory (export "memory") 0 ${maximum}) (func (export "run") (param i32 i32) (result i64) (i64.const 0)))`);
    t.false(WebAssembly.validate(code));
    refused(t, code, /maximum memory size|memory maximum/);
    // The host's derivation, which never asks V8, refuses it too.
    t.throws(() => deriveModule(code, limits), { instanceOf: JobError, message: /memory maximum of \d+ pages is above the 65536 pages/ });
  });
}

test('(memory 0 65536) is valid and prepares, its maximum clamped to maxMemoryPages', (t) => {
  const code = wat('(module (memory (export "memory") 0 65536) (func (export "run") (param i32 i32) (result i64) (i64.const 0)))');
  t.deepEqual(prepare(code, limits, PARAMS_HASH).facts.memory, { initial: 0, maximum: limits.maxMemoryPages });
});

test('an import from "\\uFEFFwasi_snapshot_preview1" keeps its BOM: refused, naming it', (t) => {
  const code = wat(`(module (import "${BOM}${WASI_MODULE}" "fd_write" ${FD_WRITE}) (func (export "_start")))`);
  refused(t, code, /import "\uFEFFwasi_snapshot_preview1"\."fd_write" is not allowed/);
});

test('an import of "\\uFEFFfd_write" from wasi_snapshot_preview1 is refused', (t) => {
  refused(t, wat(`(module (import "${WASI_MODULE}" "${BOM}fd_write" ${FD_WRITE}) (func (export "_start")))`), /"\uFEFFfd_write" is not a wasi_snapshot_preview1 function/);
});

test('an export named "\\uFEFF_start" is not `_start`: no ABI, refused', (t) => {
  refused(t, wat(`(module (func (export "${BOM}_start")))`), /neither `_start`/);
});

test('a custom section whose name is not UTF-8 is refused (V8 refuses it too)', (t) => {
  const code = Uint8Array.from([...wat('(module (func (export "_start")))'), 0, 3, 2, 0xc0, 0x80]);
  t.false(WebAssembly.validate(code));
  t.is(t.throws(() => deriveModule(code, limits), { instanceOf: JobError })?.code, 'E_PREVALIDATION');
});

test('prepare runs no code: a start function that never returns does not stop it', (t) => {
  const code = wat('(module (func $forever (loop $l (br $l))) (start $forever) (func (export "_start")))');
  t.deepEqual(prepare(code, limits, PARAMS_HASH).exports, ['_start']);
});

test('a start function that calls an import does not run either', (t) => {
  const code = wat(`(module (import "${WASI_MODULE}" "proc_exit" (func $exit (param i32)))
    (func $s (call $exit (i32.const 7))) (start $s) (func (export "_start")))`);
  t.notThrows(() => prepare(code, limits, PARAMS_HASH));
});

test('a data segment out of bounds links: prepare accepts it, and each execute is E_TRAP', async (t) => {
  const code = wat('(module (memory (export "memory") 1) (data (i32.const 65535) "ab") (func (export "run") (param i32 i32) (result i64) (i64.const 0)))');
  const { artifact } = prepare(code, limits, PARAMS_HASH);
  const error = await t.throwsAsync(execute(artifact, new Uint8Array(0), 'run', DEFAULT_EXECUTE_LIMITS), { instanceOf: JobError });
  t.is(error?.code, 'E_TRAP');
  t.true(error?.deterministic);
});

test('the link check: an import outside the ABI is E_PREVALIDATION, from V8 itself', (t) => {
  const error = t.throws(() => checkLinks(wat('(module (import "env" "f" (func)) (func (export "_start")))')), { instanceOf: JobError });
  t.is(error?.code, 'E_PREVALIDATION');
  t.regex(error!.message, /does not link under its ABI: .*Import #0 module="env"/);
});

test('the link check: a WASI import of the wrong type does not link (V8 checks the exact signature)', (t) => {
  const error = t.throws(() => checkLinks(wat(`(module (import "${WASI_MODULE}" "fd_write" (func (param i32) (result i32))) (func (export "_start")))`)), {
    instanceOf: JobError,
  });
  t.is(error?.code, 'E_PREVALIDATION');
  t.regex(error!.message, /does not match the expected type/);
});

test('the link check: every preview 1 function with its own signature links, and nothing else is offered', (t) => {
  const imports = [...WASI_FUNCTIONS].map(([name, signature], n) => {
    const [params, results] = signature.slice(1).split(')->') as [string, string];
    const list = (kind: string, types: string) => (types ? `(${kind} ${types.split(',').join(' ')})` : '');
    return `(import "${WASI_MODULE}" "${name}" (func $f${n} ${list('param', params)} ${list('result', results)}))`;
  });
  t.notThrows(() => checkLinks(wat(`(module ${imports.join('\n')} (func (export "_start")))`)));
  // What the ABI offers is what an execute offers: the shim's functions, by the same names.
  const shim = new WasiShim({ stdin: new Uint8Array(0), stdout: new OutputSink(1), stderr: new LogSink(1), args: [], env: [], files: [], fsLimits: DEFAULT_EXECUTE_LIMITS, cpuNs: () => 0n });
  t.deepEqual(Object.keys(shim.imports()).sort(), [...WASI_FUNCTIONS.keys()].sort());
});

test('an artifact that does not link (prepared otherwise) fails its execute with E_TRAP: typed, deterministic, no stack, no path', async (t) => {
  // Encoded directly, as an artifact of an older warden would be: prepare refuses this module now.
  const module = wat(`(module (import "${BOM}${WASI_MODULE}" "fd_write" ${FD_WRITE}) (memory (export "memory") 1) (func (export "_start")))`);
  const artifact = encodeArtifact(module, PARAMS_HASH);
  for (const abi of ['wasi', 'run'] as const) {
    const error = await t.throwsAsync(execute(artifact, new Uint8Array(0), abi, DEFAULT_EXECUTE_LIMITS), { instanceOf: JobError });
    t.is(error?.code, 'E_TRAP');
    t.true(error?.deterministic);
    t.regex(error!.message, /does not link/);
    t.notRegex(error!.message, /\n\s+at |\/[\w.-]+\/[\w.-]+\.c?[jt]s/, 'no stack trace, no file path');
  }
});
