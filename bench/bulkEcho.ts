/**
 * Row 11: moving bulk data (issue 12 item 4). A 16 MiB echo through `host.execute` (a WASI cat),
 * and each way alone (a drain that reads 16 MiB and writes nothing, a source that writes 16 MiB),
 * against the floor measured in the same rounds: the same bytes through a plain unix socket pair
 * between this process and a child node process, each side gathering a message into one buffer as
 * any receiver of a whole message must, a buffer kept from message to message (memory already
 * touched: fresh 4 KiB pages would make the floor pay page faults that warden's huge pages and
 * pools avoid). Interleaved rounds, one transfer at a time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import type net from 'node:net';
import type { BenchContext } from './context.js';
import { byteModule, SOURCE_BYTES } from './catModule.js';
import { serialRounds } from './latency.js';

export const ECHO_BYTES = 16 * 1024 * 1024;

export const BULK = {
  echo: 'warden: 16 MiB echo (WASI cat)',
  in: 'warden: 16 MiB in (WASI drain)',
  out: 'warden: 16 MiB out (WASI source)',
  floorEcho: 'floor: 16 MiB echo, unix socket pair',
  floorIn: 'floor: 16 MiB in, unix socket pair',
  floorOut: 'floor: 16 MiB out, unix socket pair',
} as const;

export interface BulkResult {
  latencies: Record<string, number[]>;
  roundP50: Record<string, number[]>;
  /** The echo as the worker times it (its job thread), ms. */
  inWorkerWallMs: number[];
}

/**
 * The child of the floor: reads a 5-byte request (u32 length to expect, then a byte: 1 = echo it
 * back, 0 = answer one byte, 2 = answer `SOURCE_BYTES` of its own), gathers that many bytes, answers.
 */
const FLOOR_CHILD = `
const net = require('node:net');
const s = new net.Socket({ fd: 3, readable: true, writable: true });
const source = Buffer.alloc(${SOURCE_BYTES}, 7);
// One receive buffer, kept from message to message (memory already touched, as warden's pool).
let inbox = Buffer.alloc(0), head = Buffer.alloc(5), headGot = 0, want = -1, mode = 0, got = 0;
function take(c) {
  while (c.length > 0) {
    if (want < 0) {
      const n = Math.min(5 - headGot, c.length);
      c.copy(head, headGot, 0, n); headGot += n; c = c.subarray(n);
      if (headGot < 5) return;
      want = head.readUInt32BE(0); mode = head[4]; got = 0; headGot = 0;
      if (inbox.length < want) inbox = Buffer.alloc(want);
    }
    const n = Math.min(want - got, c.length);
    c.copy(inbox, got, 0, n); got += n; c = c.subarray(n);
    if (got === want) {
      want = -1;
      s.write(mode === 1 ? inbox.subarray(0, got) : mode === 2 ? source : Buffer.of(1));
    }
  }
}
s.on('data', take);
s.on('end', () => process.exit(0));`;

/** A child node process on the other end of a unix socket pair (stdio 'pipe' is one in libuv). */
class FloorPeer {
  readonly child: ChildProcess;
  readonly socket: net.Socket;
  /** The answer's buffer, kept from exchange to exchange (memory already touched). */
  #inbox = Buffer.alloc(0);
  #got = 0;
  #want = 0;
  #done: ((message: Buffer) => void) | undefined;

  constructor() {
    this.child = spawn(process.execPath, ['-e', FLOOR_CHILD], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
    this.socket = this.child.stdio[3] as net.Socket;
    this.socket.on('data', (chunk: Buffer) => {
      chunk.copy(this.#inbox, this.#got, 0, Math.min(chunk.length, this.#want - this.#got));
      this.#got += chunk.length;
      if (this.#done && this.#got >= this.#want) {
        const done = this.#done;
        this.#done = undefined;
        done(this.#inbox.subarray(0, this.#want));
      }
    });
  }

  /** Sends `message` (mode as FLOOR_CHILD reads it) and resolves with the `answerBytes` answer, gathered. */
  exchange(message: Uint8Array, mode: number, answerBytes: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.#want = answerBytes;
      this.#got = 0;
      if (this.#inbox.length < answerBytes) this.#inbox = Buffer.alloc(answerBytes);
      this.#done = resolve;
      const head = Buffer.alloc(5);
      head.writeUInt32BE(message.byteLength, 0);
      head[4] = mode;
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(message);
      this.socket.uncork();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.socket.end();
    });
  }
}

export async function measureBulk(ctx: BenchContext, options: { rounds: number; jobs: number }): Promise<BulkResult> {
  const input = crypto.randomBytes(ECHO_BYTES);
  const [cat, drain, source] = await Promise.all([byteModule('cat'), byteModule('drain'), byteModule('source')].map(async (m) => ctx.host.prepare(await m)));
  const peer = new FloorPeer();
  const inWorkerWallMs: number[] = [];
  const same = (output: Uint8Array, who: string) => {
    if (!Buffer.from(output.buffer, output.byteOffset, output.byteLength).equals(input)) throw new Error(`${who} did not echo the ${ECHO_BYTES} bytes it was given`);
  };
  const sized = (output: Uint8Array, bytes: number, who: string) => {
    if (output.byteLength !== bytes) throw new Error(`${who} answered ${output.byteLength} bytes, expected ${bytes}`);
  };
  const cases: Record<string, () => Promise<void>> = {
    [BULK.echo]: async () => {
      const result = await ctx.host.execute(cat!, input, { abi: 'wasi' });
      inWorkerWallMs.push(result.wallTimeMs);
      same(result.output, 'warden');
    },
    [BULK.in]: async () => sized((await ctx.host.execute(drain!, input, { abi: 'wasi' })).output, 0, 'warden drain'),
    [BULK.out]: async () => sized((await ctx.host.execute(source!, new Uint8Array(0), { abi: 'wasi' })).output, SOURCE_BYTES, 'warden source'),
    [BULK.floorEcho]: async () => same(await peer.exchange(input, 1, ECHO_BYTES), 'the floor'),
    [BULK.floorIn]: async () => sized(await peer.exchange(input, 0, 1), 1, 'the floor (in)'),
    [BULK.floorOut]: async () => sized(await peer.exchange(new Uint8Array(0), 2, SOURCE_BYTES), SOURCE_BYTES, 'the floor (out)'),
  };
  try {
    for (const job of Object.values(cases)) await job();
    const r = await serialRounds(cases, { ...options, progress: 'row 11' });
    return { ...r, inWorkerWallMs };
  } finally {
    await peer.close();
  }
}

/** GB/s (10^9 bytes per second) moving `bytes` in `ms`. */
export function gbPerSecond(bytes: number, ms: number): number {
  return bytes / (ms / 1000) / 1e9;
}
