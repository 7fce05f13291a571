/**
 * What one warden job costs Redis, for docs/scaling.md: `npx tsx bench/redisCost.ts` (after
 * `npm run build`). One `warden serve` node (2 execute workers) and a producer awaiting every
 * result, on a fresh local redis-server. Per job: the commands clients send (MONITOR), the
 * commands BullMQ's Lua scripts run inside Redis, the network bytes and Redis' CPU (INFO,
 * measured without MONITOR, which would add its own traffic), and the memory a finished job
 * keeps. Four cases: code inline, code stored in Redis, larger stored code, a 64 KiB input.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { WardenQueue } from '../src/bullmq/index.js';
import { PACKAGE_ROOT } from '../src/sandbox/paths.js';
import { launchRedis } from '../test/helpers/redis.js';

const redis = await launchRedis();
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-redis-cost-'));
const node = spawn(
  process.execPath,
  [path.join(PACKAGE_ROOT, 'dist/cli/main.js'), 'serve', '--redis', redis.url, '--queue', 'cost', '--cache-dir', cache, '--execute-workers', '2'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
await new Promise((resolve) => node.stdout!.on('data', (chunk: Buffer) => String(chunk).includes('warden serve') && resolve(undefined)));
const admin = new Redis(redis.url);
const field = (info: string, name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
const perJob = (counts: string[], n: number): string =>
  Object.entries(counts.reduce((m: Record<string, number>, c) => ({ ...m, [c]: (m[c] ?? 0) + 1 }), {}))
    .sort((a, b) => b[1] - a[1])
    .map(([c, k]) => `${c} ${(k / n).toFixed(2)}`)
    .join(', ');

async function run(queue: WardenQueue, code: Buffer, input: Buffer, n: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, async () => queue.result(await queue.submit(code, input))));
}

async function measure(label: string, queue: WardenQueue, code: Buffer, input: Buffer, n: number): Promise<void> {
  await run(queue, code, input, 50);
  // Commands, as clients send them and as the scripts run them.
  const monitorClient = new Redis(redis.url);
  const monitor = await monitorClient.monitor();
  const client: string[] = [];
  const lua: string[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => (source === 'lua' ? lua : client).push(String(args[0]).toLowerCase()));
  await new Promise((resolve) => setTimeout(resolve, 200));
  await run(queue, code, input, n);
  await new Promise((resolve) => setTimeout(resolve, 200));
  monitor.disconnect();
  monitorClient.disconnect();
  // Bytes, CPU and memory, without MONITOR.
  const before = await admin.info();
  await run(queue, code, input, n);
  const after = await admin.info();
  const delta = (name: string) => (field(after, name) - field(before, name)) / n;
  console.log(`${label} (${n} jobs):`);
  console.log(`  client commands per job ${(client.length / n).toFixed(2)}: ${perJob(client, n)}`);
  console.log(`  commands inside Lua per job ${(lua.length / n).toFixed(2)}: ${perJob(lua, n)}`);
  console.log(
    `  bytes in ${delta('total_net_input_bytes').toFixed(0)}, out ${delta('total_net_output_bytes').toFixed(0)}; Redis CPU ${((delta('used_cpu_user') + delta('used_cpu_sys')) * 1e6).toFixed(0)} µs; memory kept per finished job ${delta('used_memory').toFixed(0)} B`,
  );
}

const hello = fs.readFileSync(path.join(PACKAGE_ROOT, 'examples/build/hello.wasm'));
const calc = fs.readFileSync(path.join(PACKAGE_ROOT, 'examples/build/calc.wasm'));
const inline = new WardenQueue('cost', { connection: redis.url });
const stored = new WardenQueue('cost', { connection: redis.url, inlineCodeBytes: 0 });
try {
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  await measure(`hello (${hello.byteLength} B code, inline)`, inline, hello, Buffer.from('world'), 500);
  await measure('hello, code stored in Redis', stored, hello, Buffer.from('world'), 500);
  await measure(`calc (${calc.byteLength} B code, stored)`, stored, calc, Buffer.from('x = 2\nx * 3\n'), 500);
  await measure('hello, 64 KiB input', inline, hello, Buffer.alloc(65_536, 97), 200);
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  await inline.close();
  await stored.close();
  node.kill('SIGTERM');
  await once(node, 'exit');
  admin.disconnect();
  await redis.stop();
  fs.rmSync(cache, { recursive: true, force: true });
}
