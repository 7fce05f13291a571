/**
 * Escape corpus, malformed code (issue 11, item 6): a small valid module followed by 8 MiB of zero
 * bytes (gzip makes it a few KiB). Each zero pair read as an empty custom section, every one was
 * kept: 10 s of CPU in the prepare worker, then E_OUT_OF_MEMORY. Contained by the section walk of
 * prepare's derivation (src/shared/wasmReader.ts): a custom section needs its name, known sections
 * appear once and in order, custom sections are counted and never kept. The outcome is
 * E_PREVALIDATION, and the job's CPU time (measured by the worker, robust on a loaded machine)
 * stays within a budget far below what the walk cost before.
 */
import zlib from 'node:zlib';
import test from 'ava';
import type { Host } from '../../src/index.js';
import { MAX_CUSTOM_SECTIONS } from '../../src/shared/wasmReader.js';
import { hello, rejection } from '../helpers/scheduler.js';
import { startHost } from '../helpers/host.js';

const MiB = 1024 * 1024;
/** CPU a malformed prepare may use, per MiB of module, ms: generous (the walk takes a few ms per MiB); the unbounded walk took over 1,200. */
const CPU_MS_PER_MIB = 250;

/** Prepares `code` (a module of `mib` MiB once decompressed) and checks the refusal and its CPU time. */
async function refusedCheaply(t: import('ava').ExecutionContext, host: Host, code: Uint8Array, mib: number, pattern: RegExp): Promise<void> {
  const error = await rejection(host.prepare(code));
  t.is(error.code, 'E_PREVALIDATION', error.message);
  t.regex(error.message, pattern);
  const cpuTimeMs = error.details.cpuTimeMs as number;
  t.true(cpuTimeMs <= CPU_MS_PER_MIB * Math.max(1, mib), `${cpuTimeMs} ms of CPU for ${mib} MiB`);
}

test.serial('a valid module followed by 8 MiB of zeros (gzipped) is E_PREVALIDATION, cheaply', async (t) => {
  const { host } = await startHost(t, { prepareWorkers: 1 });
  const code = zlib.gzipSync(Buffer.concat([hello.wasm, Buffer.alloc(8 * MiB)]));
  t.true(code.byteLength < 64 * 1024, 'a few KiB on the wire');
  await refusedCheaply(t, host, code, 8, /custom section|malformed/);
  // The pool is unharmed: the next prepare runs as usual.
  t.deepEqual([...(await host.prepare(hello.wasm)).exports].sort(), ['alloc', 'memory', 'run']);
});

test.serial('millions of named custom sections and a repeated known section are refused, cheaply', async (t) => {
  const { host } = await startHost(t, { prepareWorkers: 1 });
  // "00 01 00": a custom section with an empty name, the smallest one V8 accepts.
  const named = zlib.gzipSync(Buffer.concat([hello.wasm, Buffer.alloc(6 * MiB, Buffer.from([0, 1, 0]))]));
  await refusedCheaply(t, host, named, 6, new RegExp(`more than ${MAX_CUSTOM_SECTIONS} custom sections`));
  // An empty type section, over and over: the second one is refused.
  const repeated = zlib.gzipSync(Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), Buffer.alloc(4 * MiB, Buffer.from([1, 1, 0]))]));
  await refusedCheaply(t, host, repeated, 4, /type section at offset \d+ appears twice/);
});
