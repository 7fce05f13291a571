/**
 * Row 2's process floor on this machine: the same pipelined pattern with no warden and no
 * sandbox. The host keeps `depth` 200-byte requests in flight to each of two plain node children
 * over unix sockets (fd 3); each child answers every request with 200 bytes at once. What a
 * process-per-worker design cannot beat here (per round trip: the host's JS, two socket writes,
 * the wake-ups).
 *
 * `npx tsx bench/pipelineFloor.ts [roundTrips] [depth]`
 */
import { spawn } from 'node:child_process';
import type net from 'node:net';
const N = Number(process.argv[2] ?? 20000);
const depth = Number(process.argv[3] ?? 2);
const echo = "const s = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true }); let n = 0; s.on('data', (d) => { n += d.length; const k = Math.floor(n / 200); n -= k * 200; for (let i = 0; i < k; i++) s.write(Buffer.alloc(200, 2)); }); s.on('end', () => process.exit(0));";
const kids = [0, 1].map(() => spawn(process.execPath, ['-e', echo], { env: {}, stdio: ['ignore', 'inherit', 'inherit', 'pipe'] }));
let sent = 0, done = 0;
const t0 = process.hrtime.bigint();
await new Promise<void>((resolve) => {
  for (const kid of kids) {
    const s = kid.stdio[3] as net.Socket;
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      while (got >= 200) { got -= 200; done++; if (sent < N) { sent++; s.write(Buffer.alloc(200, 1)); } }
      if (done === N) resolve();
    });
    for (let i = 0; i < depth && sent < N; i++) { sent++; s.write(Buffer.alloc(200, 1)); }
  }
});
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`depth ${depth}: ${N} round trips in ${s.toFixed(2)} s: ${(N / s).toFixed(0)}/s; host CPU ${((process.cpuUsage().user + process.cpuUsage().system) / N).toFixed(1)} µs per round trip (its start included)`);
for (const kid of kids) kid.kill();
