/**
 * A large real prebuilt WASI program at the default limits: yosys (the `@yowasp/yosys`
 * devDependency: its `yosys.core.wasm` is a plain WASI preview 1 command of 30.8 MB; the
 * package is a 9.3 MB download). Gzipped to fit `maxCodeBytes` (which counts compressed code),
 * prepared, then run on a small design: its output and the files it writes must be those of
 * node:wasi on the same input. Costs about 10 s of CPU (compiling 31 MB twice, once eagerly at
 * prepare, once at execute, and once more under node:wasi).
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import test from 'ava';
import { createHost, DEFAULT_LIMITS, PrevalidationError, WardenError } from '../../src/index.js';
import { tempCacheDir } from '../helpers/host.js';
import { runNodeWasi } from '../helpers/wasiPrograms.js';

const YOSYS = path.resolve('node_modules/@yowasp/yosys/gen/yosys.core.wasm');
const maybe = fs.existsSync(YOSYS) ? test : test.skip;

const COUNTER = `module counter(input clk, input rst, input en, output reg [7:0] q);
  always @(posedge clk)
    if (rst) q <= 8'd0;
    else if (en) q <= q + 8'd1;
endmodule
`;

const ARGS = ['yosys', '-q', '-p', 'read_verilog counter.v; proc; opt; tee -q -o stat.txt stat; write_json counter.json'];

maybe('yosys (31 MB) synthesizes a design at the default limits, as under node:wasi', async (t) => {
  const wasm = fs.readFileSync(YOSYS);
  t.true(wasm.byteLength > DEFAULT_LIMITS.maxCodeBytes, 'raw, it is above maxCodeBytes');
  const cacheDir = await tempCacheDir();
  const host = await createHost({ cacheDir, executeWorkers: 1 });
  t.teardown(async () => {
    await host.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });
  const raw = await t.throwsAsync(host.prepare(wasm), { instanceOf: PrevalidationError });
  t.is(raw?.code, 'E_PREVALIDATION');
  t.regex(raw!.message, /gzip or brotli compressed code is accepted/);

  const artifact = await host.prepare(zlib.gzipSync(wasm, { level: 6 }));
  t.is(artifact.abi, 'wasi');
  let result;
  try {
    result = await host.execute(artifact, new Uint8Array(0), { args: ARGS, files: { 'counter.v': COUNTER } });
  } catch (error) {
    const details = error instanceof WardenError ? Buffer.from((error.details.log as Uint8Array | undefined) ?? []).toString() : '';
    t.fail(`${(error as Error).message}\n${details}`);
    return;
  }
  t.log(`yosys ran in ${Math.round(result.cpuTimeMs)} ms of its own CPU time (limit ${DEFAULT_LIMITS.executeTimeoutMs} ms), memory ${result.memoryPages} pages`);
  const node = await runNodeWasi(wasm, { args: ARGS, files: { 'counter.v': COUNTER } });
  t.is(node.exitCode, 0, node.stderr.toString());
  t.is(Buffer.from(result.output).toString(), node.stdout.toString(), 'stdout');
  t.is(Buffer.from(result.log).toString(), node.stderr.toString(), 'stderr');
  t.deepEqual(Object.keys(result.files).sort(), ['counter.json', 'stat.txt']);
  t.is(Buffer.from(result.files['counter.json']!).toString(), node.files.get('counter.json')!.toString(), 'counter.json');
  t.is(Buffer.from(result.files['stat.txt']!).toString(), node.files.get('stat.txt')!.toString(), 'stat.txt');
  t.regex(Buffer.from(result.files['stat.txt']!).toString(), /Number of cells/);
});
