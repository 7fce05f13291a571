/**
 * A job's memory is reused by the next job of the same shape (src/worker/jobs/jobMemory.ts): every
 * job must still see exactly what a fresh memory holds — its initial size, zeros, its data segments.
 */
import test from 'ava';
import { execute, jobMemory } from '../../../src/worker/jobs/execute.js';
import { MAX_KEPT_MEMORY_BYTES } from '../../../src/worker/jobs/jobMemory.js';
import { DEFAULT_EXECUTE_LIMITS } from '../../../src/shared/limits.js';
import { JobError } from '../../../src/shared/jobError.js';
import { MEMORY_IMPORT, memoryAsImport } from '../../../src/shared/rewrite.js';
import { artifactOf, wat } from '../../helpers/wat.js';

const PACK = (ptr: string, len: string) => `(i64.or (i64.extend_i32_u ${ptr}) (i64.shl (i64.extend_i32_u ${len}) (i64.const 32)))`;

/**
 * Reports what it finds (byte 100, the last byte of its first page, the data segment at 200, its
 * size in pages), then fills its whole memory with 0xff — after growing it when the input is "g",
 * trapping when it is "t".
 */
function scribbler(pages: number): Uint8Array {
  return artifactOf(wat(`(module
    (memory (export "memory") ${pages})
    (global (export "__heap_base") i32 (i32.const 1024))
    (data (i32.const 200) "seed")
    (func (export "run") (param $ptr i32) (param $len i32) (result i64)
      (local $a i32) (local $b i32) (local $s i32) (local $size i32) (local $op i32)
      (local.set $a (i32.load8_u (i32.const 100)))
      (local.set $b (i32.load8_u (i32.const 65535)))
      (local.set $s (i32.load (i32.const 200)))
      (local.set $size (memory.size))
      (if (local.get $len) (then (local.set $op (i32.load8_u (local.get $ptr)))))
      (if (i32.eq (local.get $op) (i32.const 103)) (then (drop (memory.grow (i32.const 1)))))
      (memory.fill (i32.const 0) (i32.const 255) (i32.mul (memory.size) (i32.const 65536)))
      (if (i32.eq (local.get $op) (i32.const 116)) (then unreachable))
      (i32.store8 (i32.const 0) (local.get $a))
      (i32.store8 (i32.const 1) (local.get $b))
      (i32.store (i32.const 2) (local.get $s))
      (i32.store8 (i32.const 6) (local.get $size))
      ${PACK('(i32.const 0)', '(i32.const 7)')}))`));
}

const FRESH = (pages: number) => [0, 0, ...Buffer.from('seed'), pages];

async function run(artifact: Uint8Array, input = '') {
  return [...(await execute(artifact, Buffer.from(input), 'run', DEFAULT_EXECUTE_LIMITS)).output];
}

test.serial('every job of a reused memory sees a fresh one: zeros, its data segment, its initial size', async (t) => {
  const artifact = scribbler(1);
  const before = { ...jobMemory.counts };
  for (let i = 0; i < 5; i++) {
    t.deepEqual(await run(artifact), FRESH(1), `job ${i}`);
    // As the job thread does once it has posted a reply (every other job here: `take` zeroes the rest).
    if (i % 2 === 0) jobMemory.scrub();
  }
  // Proof the reuse path ran: four of five jobs were given the memory the job before ended with.
  t.true(jobMemory.counts.reused - before.reused >= 4);
});

test.serial('a job right after another (its memory not scrubbed) still sees zeros', async (t) => {
  const artifact = scribbler(2);
  // No scrub between the jobs: `take` zeroes the memory itself.
  const results = [];
  for (let i = 0; i < 3; i++) results.push(await run(artifact));
  t.deepEqual(results, [FRESH(2), FRESH(2), FRESH(2)]);
});

test.serial('a memory that grew is not reused: the next job starts at the initial size', async (t) => {
  const artifact = scribbler(1);
  t.deepEqual(await run(artifact, 'g'), FRESH(1));
  const created = jobMemory.counts.created;
  t.deepEqual(await run(artifact), FRESH(1));
  t.is(jobMemory.counts.created, created + 1);
});

test.serial('a job that traps after writing leaves nothing to the next', async (t) => {
  const artifact = scribbler(1);
  await run(artifact);
  const error = await t.throwsAsync(run(artifact, 't'), { instanceOf: JobError });
  t.is(error!.code, 'E_TRAP');
  t.deepEqual(await run(artifact), FRESH(1));
});

test.serial('jobs of different shapes, interleaved, each get their own shape', async (t) => {
  const one = scribbler(1);
  const three = scribbler(3);
  for (let i = 0; i < 3; i++) {
    t.deepEqual(await run(one), FRESH(1));
    t.deepEqual(await run(three), FRESH(3));
  }
});

test.serial('a memory above the kept bound is not kept', async (t) => {
  const pages = MAX_KEPT_MEMORY_BYTES / 65536 + 1;
  const artifact = scribbler(pages);
  const created = jobMemory.counts.created;
  t.deepEqual(await run(artifact), FRESH(pages & 255));
  t.deepEqual(await run(artifact), FRESH(pages & 255));
  t.is(jobMemory.counts.created, created + 2);
});

test('memoryAsImport: the memory becomes an import of the same limits (its maximum clamped), and nothing else moves', (t) => {
  const module = wat(`(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 2 7)
    (data (i32.const 8) "abc")
    (func $seven (result i32) (i32.const 7))
    (func (export "f") (result i32) (i32.add (call $seven) (i32.load8_u (i32.const 9)))))`);
  const { bytes: rewritten, memory: limits } = memoryAsImport(module, 100);
  t.deepEqual(limits, { initial: 2, maximum: 7 });
  // Below the declared maximum, the execute limit is the import's maximum.
  t.deepEqual(memoryAsImport(module, 5).memory, { initial: 2, maximum: 5 });
  const compiled = new WebAssembly.Module(rewritten);
  t.deepEqual(
    WebAssembly.Module.imports(compiled).map(({ module, name, kind }) => `${module}.${name}:${kind}`),
    ['wasi_snapshot_preview1.proc_exit:function', `${MEMORY_IMPORT.module}.${MEMORY_IMPORT.name}:memory`],
  );
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 7 });
  const instance = new WebAssembly.Instance(compiled, {
    wasi_snapshot_preview1: { proc_exit: () => {} },
    [MEMORY_IMPORT.module]: { [MEMORY_IMPORT.name]: memory },
  });
  t.is(instance.exports.memory, memory);
  t.is((instance.exports.f as () => number)(), 7 + 'b'.charCodeAt(0));
  // The declared maximum is the import's: a memory that could grow further does not link.
  t.throws(() => new WebAssembly.Instance(compiled, {
    wasi_snapshot_preview1: { proc_exit: () => {} },
    [MEMORY_IMPORT.module]: { [MEMORY_IMPORT.name]: new WebAssembly.Memory({ initial: 2, maximum: 8 }) },
  }), { instanceOf: WebAssembly.LinkError });
});

test('memoryAsImport: a module without imports or types gets an import section in its place', (t) => {
  const module = wat('(module (memory (export "memory") 1) (data (i32.const 0) "x"))');
  const { bytes, memory: limits } = memoryAsImport(module, 4);
  // No declared maximum: the execute limit is the maximum.
  t.deepEqual(limits, { initial: 1, maximum: 4 });
  const compiled = new WebAssembly.Module(bytes);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  new WebAssembly.Instance(compiled, { [MEMORY_IMPORT.module]: { [MEMORY_IMPORT.name]: memory } });
  t.is(new Uint8Array(memory.buffer)[0], 'x'.charCodeAt(0));
});
