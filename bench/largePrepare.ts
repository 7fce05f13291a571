/**
 * Row 9: preparing a large module. Generates a module of about 30 MB of code (10,000 functions of
 * loops, branches, memory access and calls), then measures in this process how long metering it
 * takes (`instrument`, the step the host can also run) against V8 compiling it, and how long a
 * whole prepare job takes through a host (decompress, validate, meter, compile, write, install).
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost } from './warden.js';
import { instrument } from '../src/shared/meter/instrument.js';

export interface LargePrepareResult {
  moduleBytes: number;
  meteredBytes: number;
  functions: number;
  /** `instrument` in this process, ms, each run: wall and CPU time (the machine is shared: CPU time is the figure). */
  instrumentMs: number[];
  instrumentCpuMs: number[];
  /** `new WebAssembly.Module` of the metered module in this process, ms, each run. */
  compileMs: number[];
  compileCpuMs: number[];
  /** The prepare job as its worker timed it, ms. */
  prepareWallMs: number;
  prepareCpuMs: number;
  /** `host.prepare` as the caller sees it, ms. */
  prepareCallMs: number;
}

function u32(value: number, out: number[]): void {
  let rest = value >>> 0;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    out.push(byte);
  } while (rest !== 0);
}

function s32(value: number, out: number[]): void {
  let rest = value | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    if ((rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

/** One function body: `chunks` rounds of a counted loop, an if/else with a load, and a call to an earlier function. */
function body(index: number, chunks: number): number[] {
  const out: number[] = [];
  out.push(2, 3, 0x7f, 1, 0x7e); // locals 2, 3, 4: i32; local 5: i64
  for (let c = 0; c < chunks; c++) {
    const k = (index * 31 + c * 7) & 0xffff;
    out.push(0x20, 0); // local.get 0
    out.push(0x41);
    s32(k & 0xff, out);
    out.push(0x6a, 0x21, 2); // i32.add; local.set 2
    out.push(0x02, 0x40, 0x03, 0x40); // block loop
    out.push(0x20, 2, 0x41, 1, 0x6b, 0x22, 2, 0x45, 0x0d, 1); // local.get 2; i32.const 1; i32.sub; local.tee 2; i32.eqz; br_if 1
    out.push(0x20, 3, 0x20, 2, 0x6c, 0x41);
    s32(k, out);
    out.push(0x73, 0x21, 3); // i32.mul; i32.const k; i32.xor; local.set 3
    out.push(0x20, 2, 0x41, 0xe4, 0x00, 0x4b, 0x0d, 0); // local.get 2; i32.const 100; i32.gt_u; br_if 0
    out.push(0x0b, 0x0b); // end end
    out.push(0x20, 3, 0x04, 0x7f, 0x20, 1, 0x28, 2); // local.get 3; if (result i32); local.get 1; i32.load align=2
    u32(k & 0x3ffc, out);
    out.push(0x05, 0x41);
    s32(k, out);
    out.push(0x0b, 0x21, 4); // else i32.const k; end; local.set 4
    out.push(0x20, 4, 0xad, 0x21, 5); // local.get 4; i64.extend_i32_u; local.set 5
    if (index > 0 && c % 8 === 0) {
      out.push(0x20, 3, 0x20, 2, 0x10); // local.get 3; local.get 2; call (an earlier function)
      u32((index * 7 + c) % index, out);
      out.push(0x1a); // drop
    }
  }
  out.push(0x20, 3, 0x0b); // local.get 3; end
  return out;
}

/** A run-ABI module of about `megabytes` MB of code. */
export function largeModule(megabytes: number): { bytes: Uint8Array; functions: number } {
  const chunks = 60;
  const sample = body(1, chunks).length;
  const functions = Math.max(2, Math.round((megabytes * 1e6) / sample));
  const code: number[] = [];
  const bodies: number[][] = [];
  for (let i = 0; i < functions; i++) bodies.push(body(i, chunks));
  u32(functions + 1, code);
  for (const b of bodies) {
    u32(b.length, code);
    for (const byte of b) code.push(byte);
  }
  // run(ptr, len) -> i64: calls the last function, returns an empty output at ptr.
  const run = [0, 0x20, 0, 0x20, 1, 0x10];
  u32(functions - 1, run);
  run.push(0x1a, 0x20, 0, 0xad, 0x0b);
  u32(run.length, code);
  code.push(...run);
  const section = (id: number, content: number[]): number[] => {
    const head: number[] = [id];
    u32(content.length, head);
    return [...head, ...content];
  };
  const functionSection: number[] = [];
  u32(functions + 1, functionSection);
  for (let i = 0; i < functions; i++) functionSection.push(0);
  functionSection.push(1);
  const name = (text: string) => [text.length, ...Buffer.from(text)];
  const exports = [2, ...name('memory'), 2, 0, ...name('run'), 0];
  u32(functions, exports);
  const parts = [
    [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    section(1, [2, 0x60, 2, 0x7f, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 1, 0x7e]),
    section(3, functionSection),
    section(5, [1, 0, 1]),
    section(7, exports),
  ];
  const head = Uint8Array.from(parts.flat());
  const codeHead: number[] = [10];
  u32(code.length, codeHead);
  const bytes = new Uint8Array(head.byteLength + codeHead.length + code.length);
  bytes.set(head);
  bytes.set(codeHead, head.byteLength);
  bytes.set(code, head.byteLength + codeHead.length);
  return { bytes, functions: functions + 1 };
}

export async function measureLargePrepare(options: { megabytes: number; runs: number }): Promise<LargePrepareResult> {
  const { bytes, functions } = largeModule(options.megabytes);
  const instrumentMs: number[] = [];
  const instrumentCpuMs: number[] = [];
  const compileMs: number[] = [];
  const compileCpuMs: number[] = [];
  let metered: Uint8Array = new Uint8Array(0);
  const timed = <T>(wall: number[], cpu: number[], step: () => T): T => {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    const value = step();
    wall.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
    return value;
  };
  for (let run = 0; run < options.runs; run++) {
    metered = timed(instrumentMs, instrumentCpuMs, () => instrument(bytes));
    timed(compileMs, compileCpuMs, () => new WebAssembly.Module(metered));
  }
  const cacheDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-large-'));
  const host = await createHost({
    cacheDir,
    executeWorkers: 1,
    prepareWorkers: 1,
    limits: { maxCodeBytes: 48 * 1024 * 1024, maxArtifactBytes: 128 * 1024 * 1024, prepareTimeoutMs: 300_000, maxFunctions: functions + 1 },
  });
  try {
    let prepareWallMs = 0;
    let prepareCpuMs = 0;
    host.on('job:succeeded', (event) => {
      if (event.kind !== 'prepare') return;
      prepareWallMs = event.wallTimeMs;
      prepareCpuMs = event.cpuTimeMs;
    });
    const start = performance.now();
    await host.prepare(bytes);
    const prepareCallMs = performance.now() - start;
    return { moduleBytes: bytes.byteLength, meteredBytes: metered.byteLength, functions, instrumentMs, instrumentCpuMs, compileMs, compileCpuMs, prepareWallMs, prepareCpuMs, prepareCallMs };
  } finally {
    await host.close({ force: true });
    await fsp.rm(cacheDir, { recursive: true, force: true });
  }
}
