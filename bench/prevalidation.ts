/**
 * What refusing malformed code costs (issue 11, item 6): `prepare()` (the job thread's whole
 * pipeline, in this process) on 8 MiB modules built to make a section walk slow, CPU time per MiB.
 * `npx tsx bench/prevalidation.ts`; runs unchanged against older trees (it only needs
 * src/worker/jobs/prepare.ts), for before/after figures in docs/performance.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import { prepare } from '../src/worker/jobs/prepare.js';

const MiB = 1024 * 1024;
const HEADER = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
const hello = fs.readFileSync(new URL('../examples/build/hello.wasm', import.meta.url));

function repeat(unit: number[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += unit.length) out.set(Uint8Array.from(unit).subarray(0, length - at), at);
  return out;
}

const cases: Record<string, Uint8Array> = {
  'a valid module, then 8 MiB of zeros': Buffer.concat([hello, new Uint8Array(8 * MiB)]),
  'a valid module, then 8 MiB of "00 01 00" (named empty custom sections)': Buffer.concat([hello, repeat([0, 1, 0], 8 * MiB)]),
  'a header, then 8 MiB of "01 01 00" (a type section, again and again)': Buffer.concat([HEADER, repeat([1, 1, 0], 8 * MiB)]),
};
const limits = { maxCodeBytes: 64 * MiB, maxDecompressedBytes: 64 * MiB, maxMemoryPages: 1024, maxTableElements: 100_000, maxFunctions: 100_000, maxArtifactBytes: 80 * MiB };

console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const [name, bytes] of Object.entries(cases)) {
  const start = process.cpuUsage();
  let outcome = 'accepted';
  try {
    prepare(bytes, limits, '0'.repeat(64));
  } catch (error) {
    outcome = (error as { code?: string }).code ?? String(error);
  }
  const used = process.cpuUsage(start);
  const ms = (used.user + used.system) / 1000;
  console.log(`${name}: ${outcome}, ${ms.toFixed(0)} ms of CPU, ${(ms / (bytes.byteLength / MiB)).toFixed(1)} ms/MiB`);
}
