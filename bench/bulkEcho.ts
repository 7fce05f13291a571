/**
 * Row 11: moving bulk data (issue 12 item 4). A 16 MiB echo through `host.execute` (a WASI cat),
 * and each way alone (a drain that reads 16 MiB and writes nothing, a source that writes 16 MiB),
 * against the floor measured in the same rounds: the same bytes through a plain unix socket pair
 * between this process and a child node process, each side reading a message into one buffer
 * kept from message to message, straight from the socket (`onread` into the buffer's unfilled
 * part: no chunk allocated, no copy), the fastest a node receiver of a whole message can be.
 * Interleaved rounds, one transfer at a time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { loadAddon } from '../src/shared/addon.js';
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
  /** The echo as the worker times it, ms. */
  inWorkerWallMs: number[];
}

/**
 * The child of the floor: reads a 5-byte request (u32 length to expect, then a byte: 1 = echo it
 * back, 0 = answer one byte, 2 = answer `SOURCE_BYTES` of its own), reads that many bytes
 * straight into its kept inbox, answers. The host writes the head and the message in one writev
 * and waits for the answer, so a read never spans two messages.
 */
const FLOOR_CHILD = `
const net = require('node:net');
const source = Buffer.alloc(${SOURCE_BYTES}, 7);
const head = Buffer.alloc(5);
let inbox = Buffer.alloc(0), headGot = 0, want = -1, mode = 0, got = 0;
const next = () => (want < 0 ? head.subarray(headGot) : inbox.subarray(got, want));
function answer() {
  s.write(mode === 1 ? inbox.subarray(0, want) : mode === 2 ? source : Buffer.of(1));
  want = -1;
}
const s = new net.Socket({ fd: 3, readable: true, writable: true, onread: { buffer: next, callback: (n) => {
  if (want < 0) {
    headGot += n;
    if (headGot < 5) return true;
    want = head.readUInt32BE(0); mode = head[4]; got = 0; headGot = 0;
    if (inbox.length < want) inbox = Buffer.alloc(want);
    if (want === 0) answer();
    return true;
  }
  got += n;
  if (got === want) answer();
  return true;
} } });
s.on('end', () => process.exit(0));`;

/** A child node process on the other end of a unix socket pair (stdio 'pipe' is one in libuv). */
class FloorPeer {
  readonly child: ChildProcess;
  readonly socket: net.Socket;
  /** The answer's buffer, kept from exchange to exchange (memory already touched). */
  #inbox = Buffer.alloc(SOURCE_BYTES);
  #got = 0;
  #want = 0;
  #done: ((message: Buffer) => void) | undefined;

  constructor() {
    const [mine, theirs] = loadAddon().socketPair();
    this.child = spawn(process.execPath, ['-e', FLOOR_CHILD], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
    fs.closeSync(theirs);
    const onread = {
      buffer: () => this.#inbox.subarray(this.#got < this.#want ? this.#got : 0),
      callback: (n: number) => {
        this.#got += n;
        if (this.#done && this.#got >= this.#want) {
          const done = this.#done;
          this.#done = undefined;
          done(this.#inbox.subarray(0, this.#want));
        }
        return true;
      },
    };
    this.socket = new net.Socket({ fd: mine, readable: true, writable: true, onread } as net.SocketConstructorOpts);
  }

  /** Sends `message` (mode as FLOOR_CHILD reads it) and resolves with the `answerBytes` answer, gathered. */
  exchange(message: Uint8Array, mode: number, answerBytes: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.#want = answerBytes;
      this.#got = 0;
      if (this.#inbox.length < answerBytes) throw new Error(`the floor's inbox holds ${this.#inbox.length} bytes, not ${answerBytes}`);
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
