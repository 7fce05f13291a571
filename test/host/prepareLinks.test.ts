/**
 * What prepare accepts, V8 accepts and can run (issue 17), end to end through a real host and real
 * sandboxed workers: the cases of the issue are refused at prepare with a deterministic
 * E_PREVALIDATION; a prepare that fails never costs a worker (no exit but the planned retirement
 * of its one-job process, no degraded pool); and an artifact that does not link at execute (one
 * prepared otherwise, planted in the cache) is a typed, deterministic E_TRAP that does not kill the
 * worker and names no host path.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import test from 'ava';
import { encodeArtifact, decodeArtifact } from '../../src/shared/artifact.js';
import { WASI_MODULE } from '../../src/shared/hostFunctions.js';
import { waitFor } from '../helpers/host.js';
import { hello, rejection, startScheduler, text } from '../helpers/scheduler.js';
import { INVALID_BYTES as INVALID, wat } from '../helpers/wat.js';

const BOM = '\\ef\\bb\\bf';
const FD_WRITE = '(func (param i32 i32 i32 i32) (result i32))';

/** Modules prepare must refuse, each for a reason of its own; all E_PREVALIDATION. */
const REFUSED: Record<string, Uint8Array> = {
  'an import from "\\uFEFFwasi_snapshot_preview1"': wat(`(module (import "${BOM}${WASI_MODULE}" "fd_write" ${FD_WRITE}) (memory (export "memory") 1) (func (export "_start")))`),
  'an export "\\uFEFF_start" and no other ABI': wat(`(module (memory (export "memory") 1) (func (export "${BOM}_start")))`),
  '(memory 0 65537)': wat('(module (memory (export "memory") 0 65537) (func (export "run") (param i32 i32) (result i64) (i64.const 0)))'),
  '(memory 0 4294967295)': wat('(module (memory (export "memory") 0 4294967295) (func (export "run") (param i32 i32) (result i64) (i64.const 0)))'),
  'a WASI import of the wrong type': wat(`(module (import "${WASI_MODULE}" "fd_write" (func (param i32) (result i32))) (func (export "_start")))`),
  'a global import': wat(`(module (import "${WASI_MODULE}" "g" (global i32)) (func (export "_start")))`),
  'a module V8 finds invalid': wat('(module (func (export "_start") (result i32) (i64.const 0)))'),
  'a valid module with 1 MiB of zeros after it (gzip)': zlib.gzipSync(Buffer.concat([hello.wasm, Buffer.alloc(1 << 20)])),
  'bytes that are no module': INVALID,
};

test.serial('the cases of the issue are refused at prepare, deterministically, and no prepare costs a worker', async (t) => {
  const { host, events } = await startScheduler(t, { prepareWorkers: 1, isolation: 'worker' });
  for (const [name, code] of Object.entries(REFUSED)) {
    const error = await rejection(host.prepare(code));
    t.is(error.code, 'E_PREVALIDATION', `${name}: ${error.message}`);
    t.true(error.deterministic, name);
  }
  t.is(text((await host.execute(hello.wasm, Buffer.from('world'))).output), 'Hello, world!');
  const prepares = Object.keys(REFUSED).length + 1;
  // A one-job process exits after its reply: the last ones may still be on their way out.
  await waitFor(() => events.of('worker:exited').length, (n) => n >= prepares);
  const exits = events.of('worker:exited');
  t.deepEqual(
    exits.filter((e) => e.reason !== 'retired'),
    [],
    'every worker that left was a one-job prepare process retired as planned',
  );
  t.is(exits.filter((e) => e.kind === 'prepare').length, prepares, 'one retirement per prepare, nothing more');
  t.deepEqual(events.of('pool:degraded'), []);
  t.false(host.pools().some((pool) => pool.degraded));
});

test.serial('an artifact that does not link at execute is E_TRAP: deterministic, no host path, and its worker lives on', async (t) => {
  const { host, events } = await startScheduler(t, { prepareWorkers: 1, executeWorkers: 1, isolation: 'worker' });
  // A module prepare refuses now, planted as an artifact of an older warden would be: a valid
  // file (checksum, params hash) under the key of a module that prepared.
  const victim = await host.prepare(wat(`(module (memory (export "memory") 1) (func (export "_start")))`));
  const file = host.cache.pathOf(victim.key);
  const { paramsHash } = decodeArtifact(fs.readFileSync(file));
  const unlinkable = wat(`(module (import "${BOM}${WASI_MODULE}" "fd_write" ${FD_WRITE}) (memory (export "memory") 1) (func (export "_start")))`);
  fs.writeFileSync(file, encodeArtifact(unlinkable, paramsHash));
  const workers = new Set<string>();
  for (let n = 0; n < 4; n++) {
    const error = await rejection(host.execute(victim, new Uint8Array(0)));
    t.is(error.code, 'E_TRAP', error.message);
    t.true(error.deterministic);
    t.regex(error.message, /does not link/);
    t.notRegex(error.message, /jobThread|\.c?js\b|\n\s+at /, 'no host stack trace or path');
    workers.add(error.details.workerId as string);
  }
  t.is(workers.size, 1, 'one worker served every failing execute');
  t.is(text((await host.execute(hello.wasm, Buffer.from('world'))).output), 'Hello, world!');
  t.deepEqual(events.of('worker:exited').filter((e) => e.kind === 'execute'), [], 'no execute worker died');
});
