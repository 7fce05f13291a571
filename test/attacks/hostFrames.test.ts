/**
 * Escape corpus, the host's frame decoder (issue 11, items 1 and 2): a compromised worker (the
 * attacker worker) writes frames meant to stall or bloat the host that reads them. Each test
 * asserts the contained outcome (the worker killed with E_PROTOCOL, the host's CPU, heap or
 * event-loop delay bounded, the time to kill) and logs the figures for docs/security.md.
 * Layer: the host's frame decoder (src/protocol/frame.ts: header bound, coalesced chunks) and
 * the channel rule of src/actors/workerProcess.ts (src/protocol/replies.ts: who may send what,
 * the incomplete-frame deadline).
 */
import test from 'ava';
import v8 from 'node:v8';
import vm from 'node:vm';
import { FRAME_DEADLINE_MS } from '../../src/protocol/replies.js';
import { MessageType } from '../../src/protocol/messages.js';
import { startHost } from '../helpers/host.js';
import { ATTACK_MARKER, startAttacker, startAttackerPool } from '../helpers/attacker.js';
import { hello, pidOf, text, within } from '../helpers/scheduler.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Live host memory a worker's bytes can hold: the JS heap and the Buffers' backing stores. */
function liveBytes(): number {
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** The longest the event loop went without running a 5 ms interval, and the heap's peak meanwhile: sampled until `stop()`. */
function watchHost() {
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  }, 5);
  const cpuBefore = process.cpuUsage();
  return {
    stop() {
      clearInterval(timer);
      const cpu = process.cpuUsage(cpuBefore);
      return { stallMs: Math.max(stallMs, performance.now() - last), heapGrowth: heapPeak - heapBefore, cpuMs: (cpu.user + cpu.system) / 1000 };
    },
  };
}

/** Attack source: writes one frame whose header is `bytes` of `[{},{},…]` (parsing it makes millions of objects), as the answer to request `id`. */
const HUGE_HEADER = (bytes: number, id: number) => `
  const header = Buffer.from('[' + '{},'.repeat(${Math.floor(bytes / 3) - 1}) + '{}]');
  const head = Buffer.alloc(13);
  head.writeUInt32BE(9 + header.length, 0);
  head.writeUInt8(ctx.MessageType.ProbeResult, 4);
  head.writeUInt32BE(${id}, 5);
  head.writeUInt32BE(header.length, 9);
  ctx.channel.write(head);
  ctx.channel.write(header);
  return 'sent';`;

test.serial('host: a 16 MiB frame header is refused at its 13th byte: E_PROTOCOL, no stall, no heap growth', async (t) => {
  // Before: the host JSON.parsed the whole header on its event loop (4–5 s, hundreds of MiB).
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const watch = watchHost();
  const sentAt = performance.now();
  // The handshake was request 1, this probe is request 2: the forged answer is for a request the host is waiting on.
  const pending = attacker.run(HUGE_HEADER(16 * 1024 * 1024, 2), 30_000).catch((error: { code: string }) => error.code);
  const exit = await within(attacker.worker.exited, 20_000);
  const killedMs = performance.now() - sentAt;
  const { stallMs, heapGrowth, cpuMs } = watch.stop();
  t.log(`time to kill ${killedMs.toFixed(0)} ms; host CPU ${cpuMs.toFixed(0)} ms; longest event-loop stall ${stallMs.toFixed(0)} ms; heap peak +${(heapGrowth / 2 ** 20).toFixed(1)} MiB`);
  t.not(exit, 'timed out', 'the worker was killed');
  if (exit === 'timed out') return;
  t.is(exit.error.code, 'E_PROTOCOL');
  t.regex(exit.error.message, /frame header of \d+ bytes exceeds the 16384-byte limit/);
  t.is(await pending, 'E_PROTOCOL', 'the request it answered fails with the violation');
  // Bounded host cost: nothing of the header was parsed (the host's CPU covers its whole reaction).
  t.true(cpuMs < 1000, `host CPU ${cpuMs} ms`);
  t.true(stallMs < 1000, `event loop stalled ${stallMs} ms`);
  t.true(heapGrowth < 64 * 2 ** 20, `heap grew ${heapGrowth} bytes`);
});

test.serial("host: a job whose reply header is 16 MiB fails with E_PROTOCOL, its worker is replaced, another tenant's job is served", async (t) => {
  // Before: both isolation modes stalled every tenant's jobs for 4–5 s while the host parsed it.
  t.timeout(120_000);
  const { host } = await startAttackerPool(t, { executeWorkers: 2 });
  const artifact = await host.prepare(hello.wasm);
  let liar: number | undefined;
  host.once('job:started', (e) => (liar = pidOf(host, e.workerId)));
  // The job's reply leaves with a 16 MiB header of `[{},{},…]` instead of its own.
  const attack = `
    const write = ctx.channel.write;
    const outgoing = new ctx.FrameDecoder();
    ctx.channel.write = function (chunk) {
      for (const frame of outgoing.push(chunk)) {
        if (frame.type !== ctx.MessageType.ExecuteResult) {
          write.call(this, ctx.encodeFrame(frame.type, frame.id, frame.header, frame.body));
          continue;
        }
        const header = Buffer.from('[' + '{},'.repeat(16 * 1024 * 1024 / 3 - 1) + '{}]');
        const head = Buffer.alloc(13);
        head.writeUInt32BE(9 + header.length, 0);
        head.writeUInt8(frame.type, 4);
        head.writeUInt32BE(frame.id, 5);
        head.writeUInt32BE(header.length, 9);
        write.call(this, head);
        write.call(this, header);
      }
      return true;
    };`;
  const watch = watchHost();
  const attacked = host.execute(artifact, Buffer.from(ATTACK_MARKER + attack)).catch((error: { code: string }) => error.code);
  const bystander = host.execute(artifact, Buffer.from('bystander'));
  t.is(await attacked, 'E_PROTOCOL');
  t.is(text((await bystander).output), 'Hello, bystander!');
  const { stallMs, heapGrowth, cpuMs } = watch.stop();
  t.log(`host CPU ${cpuMs.toFixed(0)} ms (two jobs and a respawn included); longest event-loop stall ${stallMs.toFixed(0)} ms; heap peak +${(heapGrowth / 2 ** 20).toFixed(1)} MiB`);
  t.true(stallMs < 1000, `event loop stalled ${stallMs} ms`);
  const next = await host.execute(artifact, Buffer.from('next'));
  t.is(text(next.output), 'Hello, next!');
  t.not(pidOf(host, next.workerId), liar, 'the attacker worker is gone');
});

/** Frames a worker may not send, each with the attack that sends it. */
const OUT_OF_TURN: Record<string, string> = {
  // The same two frames the corpus once showed being ignored.
  'an answer to a request never made (unknown ids)':
    "ctx.send(ctx.MessageType.ProbeResult, 0x7fffff00, { ok: true, detail: '\"forged\"' }); ctx.send(ctx.MessageType.Pong, 0x7fffff01, null);",
  'an unsolicited frame (id 0)': 'ctx.send(ctx.MessageType.Pong, 0, null);',
  'a second answer to the handshake (a Ready out of turn)': "ctx.send(ctx.MessageType.Ready, 1, { protocol: 5, attestation: {} });",
  'a request (Execute) from the worker': "ctx.send(ctx.MessageType.Execute, 0, { abi: 'run' }, Buffer.from('x'));",
  'an answer with a body where its request allows none': "ctx.send(ctx.MessageType.ProbeResult, 2, { ok: true, detail: '1' }, Buffer.alloc(1024));",
  'a Fatal frame with a body': "ctx.send(ctx.MessageType.Fatal, 0, { code: 'E_X', message: 'x' }, Buffer.alloc(64));",
};

for (const [name, attack] of Object.entries(OUT_OF_TURN)) {
  test.serial(`host: ${name} gets the worker killed with E_PROTOCOL`, async (t) => {
    // Before: frames that answered no pending request were emitted and ignored; the worker lived on.
    const { host } = await startHost(t);
    const attacker = await startAttacker(t, host);
    const sentAt = performance.now();
    const pending = attacker.run(`${attack} return 'sent';`).catch((error: { code: string }) => error.code);
    const exit = await within(attacker.worker.exited, 10_000);
    t.not(exit, 'timed out', 'the worker was killed');
    if (exit === 'timed out') return;
    t.log(`time to kill ${(performance.now() - sentAt).toFixed(0)} ms: ${exit.error.message}`);
    t.is(exit.error.code, 'E_PROTOCOL');
    t.is(await pending, 'E_PROTOCOL');
    t.false(attacker.worker.alive);
  });
}

/**
 * Attack source: answers the next Execute request with an execute reply announcing `bodyBytes`
 * of output, then writes it one byte at a time for `trickleMs` (or `burst` bytes at once), and
 * falls silent with the frame incomplete. Reports on stderr how many bytes it wrote.
 */
const TRICKLE = (bodyBytes: number, trickleMs: number, burst = 0) => `
  const sniff = new ctx.FrameDecoder();
  ctx.channel.on('data', async (chunk) => {
    for (const frame of sniff.push(chunk)) {
      if (frame.type !== ctx.MessageType.Execute) continue;
      const header = { ok: true, outputBytes: ${bodyBytes}, logBytes: 0, logTruncated: false, cpuTimeMs: 1, wallTimeMs: 1, peakRssBytes: 1 };
      const frameBytes = ctx.encodeFrame(ctx.MessageType.ExecuteResult, frame.id, header, Buffer.alloc(${bodyBytes}, 7));
      let sent = 0;
      if (${burst} > 0) {
        ctx.channel.write(frameBytes.subarray(0, ${burst}));
        sent = ${burst};
      } else {
        const until = Date.now() + ${trickleMs};
        while (Date.now() < until && sent < frameBytes.length - 1) {
          ctx.channel.write(frameBytes.subarray(sent, sent + 1));
          sent++;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      process.stderr.write('SENT ' + sent + '\\n');
    }
  });
  return 'armed';`;

/** Bytes the trickle reported writing, read from the worker's stderr tail once it has exited. */
function sentBytes(stderrTail: string): number {
  const matches = [...stderrTail.matchAll(/SENT (\d+)/g)];
  return Number(matches.at(-1)?.[1] ?? NaN);
}

test.serial('host: a reply trickled one byte per write costs about a byte of host memory per byte, and dies at the frame deadline', async (t) => {
  // Before: one Buffer kept per chunk (~45 bytes of heap per byte received) and no deadline.
  t.timeout(90_000);
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  t.is((await attacker.run(TRICKLE(1024 * 1024, 6_000))).value, 'armed');
  const before = liveBytes();
  const sentAt = performance.now();
  const reply = attacker.worker
    .request(MessageType.Execute, { abi: 'run' }, undefined, { expect: MessageType.ExecuteResult, maxBody: 2 * 1024 * 1024 })
    .then(() => 'answered', (error: { code: string }) => error.code);
  // The trickle lasts 6 s; the host has read it all a moment later (its deadline is 10 s after the first byte).
  await new Promise((resolve) => setTimeout(resolve, 8_000));
  const held = liveBytes() - before;
  const exit = await within(attacker.worker.exited, FRAME_DEADLINE_MS + 20_000);
  if (exit === 'timed out') await attacker.worker.kill();
  const { stderrTail, error } = await attacker.worker.exited;
  const sent = sentBytes(stderrTail);
  const perByte = held / sent;
  t.log(`${sent} bytes trickled; host held ${(held / 1024).toFixed(0)} KiB: ${perByte.toFixed(2)} bytes per byte received`);
  t.log(`time to kill: ${(performance.now() - sentAt).toFixed(0)} ms (${error.code}: ${error.message})`);
  t.true(sent > 10_000, `the trickle wrote ${sent} bytes`);
  t.true(perByte < 4, `${perByte.toFixed(2)} bytes of host memory per byte received`);
  t.not(exit, 'timed out', 'killed at the incomplete-frame deadline');
  t.is(error.code, 'E_PROTOCOL');
  t.regex(error.message, /left a frame incomplete for 10000 ms/);
  t.is(await reply, 'E_PROTOCOL');
});

test.serial('host: half of a 16 MiB reply followed by silence is dropped at the frame deadline: E_PROTOCOL, memory let go', async (t) => {
  // Before: the 8 MiB stayed buffered for as long as the worker lived (a job's hard timeout at best).
  t.timeout(90_000);
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  t.is((await attacker.run(TRICKLE(16 * 1024 * 1024, 0, 8 * 1024 * 1024))).value, 'armed');
  const before = liveBytes();
  const sentAt = performance.now();
  const reply = attacker.worker
    .request(MessageType.Execute, { abi: 'run' }, undefined, { expect: MessageType.ExecuteResult, maxBody: 17 * 1024 * 1024 })
    .then(() => 'answered', (error: { code: string }) => error.code);
  const exit = await within(attacker.worker.exited, FRAME_DEADLINE_MS + 20_000);
  const killedMs = performance.now() - sentAt;
  if (exit === 'timed out') await attacker.worker.kill();
  const { error } = await attacker.worker.exited;
  t.log(`time to kill ${killedMs.toFixed(0)} ms (${error.code}: ${error.message}); host memory after: +${((liveBytes() - before) / 2 ** 20).toFixed(1)} MiB`);
  t.not(exit, 'timed out', 'killed at the incomplete-frame deadline');
  t.is(error.code, 'E_PROTOCOL');
  t.regex(error.message, /left a frame incomplete for 10000 ms \(\d+ of 16777\d+ bytes\)/);
  t.true(killedMs >= FRAME_DEADLINE_MS - 100, `not before the deadline (${killedMs} ms)`);
  t.is(await reply, 'E_PROTOCOL');
  t.true(liveBytes() - before < 4 * 2 ** 20, 'the partial frame is let go');
});
