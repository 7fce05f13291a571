import net from 'node:net';
import { ProtocolError } from '../errors.js';
import { bigBuffer } from '../shared/hugePages.js';

/**
 * Length-prefixed binary frames, the only thing that crosses the IPC fd.
 *
 * ```
 * u32 BE  length of everything after this field
 * u8      message type
 * u32 BE  request id (0 when the message answers nothing)
 * u32 BE  header length
 * bytes   header: UTF-8 JSON
 * bytes   body: raw bytes (code, input, output), never base64
 * ```
 */
export interface Frame {
  type: number;
  id: number;
  header: unknown;
  body: Uint8Array;
}

const PREFIX = 4;
const FIXED = 1 + 4 + 4;
const EMPTY = Buffer.alloc(0);
/** Default bound on one frame, so a 4 GiB length prefix is an error, not an allocation. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024 + 64 * 1024;

/** Bodies from this size on are written beside their frame's head instead of copied into one buffer. */
export const SEPARATE_BODY_BYTES = 64 * 1024;

/**
 * A header given as its JSON text, written as is: for a sender that builds it faster than
 * `JSON.stringify` would (an execute request's limits, the same for every job, encoded once).
 */
export class EncodedHeader {
  constructor(readonly json: string) {}
}

/** The head of a frame (length prefix, type, id, header) for a body of `bodyLength` bytes, with `extra` bytes of room after it. */
function encodeHead(type: number, id: number, header: unknown, bodyLength: number, extra: number): Buffer {
  const headerBytes = Buffer.from(header instanceof EncodedHeader ? header.json : JSON.stringify(header ?? null), 'utf8');
  const length = FIXED + headerBytes.length + bodyLength;
  const out = Buffer.allocUnsafe(PREFIX + FIXED + headerBytes.length + extra);
  out.writeUInt32BE(length, 0);
  out.writeUInt8(type, 4);
  out.writeUInt32BE(id >>> 0, 5);
  out.writeUInt32BE(headerBytes.length, 9);
  headerBytes.copy(out, 13);
  return out;
}

/** A frame's body: one buffer, or parts written one after the other (never concatenated first). */
export type FrameBody = Uint8Array | readonly Uint8Array[];

function bodyLengthOf(body: FrameBody | undefined): number {
  if (body === undefined) return 0;
  if (body instanceof Uint8Array) return body.byteLength;
  let n = 0;
  for (const part of body) n += part.byteLength;
  return n;
}

/** Encodes one frame as a single buffer (one write, one syscall). */
export function encodeFrame(type: number, id: number, header: unknown, body?: FrameBody): Buffer {
  const bodyLength = bodyLengthOf(body);
  const out = encodeHead(type, id, header, bodyLength, bodyLength);
  let at = out.length - bodyLength;
  for (const part of body instanceof Uint8Array ? [body] : (body ?? [])) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** The part of a socket `writeFrame` needs. */
export interface FrameSink {
  write(chunk: Uint8Array, done?: (error?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
}

/**
 * Writes one frame with one syscall. A small body is copied into one buffer with the head; a big
 * one (≥ SEPARATE_BODY_BYTES in all) is written as is beside the head, its parts corked into one
 * writev: no copy of a MiB-sized input or output. The body must not change until `done` is called
 * (the write may be queued): callers pass buffers they own, and may reuse them from `done` on.
 */
export function writeFrame(sink: FrameSink, type: number, id: number, header: unknown, body?: FrameBody, done?: () => void): void {
  const bodyLength = bodyLengthOf(body);
  if (bodyLength < SEPARATE_BODY_BYTES) {
    sink.write(encodeFrame(type, id, header, body), done && (() => done()));
    return;
  }
  const parts = (body instanceof Uint8Array ? [body] : body!).filter((part) => part.byteLength > 0);
  sink.cork();
  sink.write(encodeHead(type, id, header, bodyLength, 0));
  parts.forEach((part, i) => sink.write(part, i === parts.length - 1 && done ? () => done() : undefined));
  sink.uncork();
}

/** What a socket reads into between big bodies. */
const READ_BYTES = 64 * 1024;

/**
 * A socket's `onread` option that feeds `decoder`: a big body's bytes are read straight into the
 * body (`FrameDecoder#readTarget`), anything else into one buffer kept for the socket's life.
 * `onFrames` gets each read's whole frames; a `ProtocolError` of the decoder goes to `onError`,
 * and reading stops.
 */
export function readFrames(decoder: FrameDecoder, onFrames: (frames: Frame[]) => void, onError: (error: ProtocolError) => void): net.OnReadOpts {
  const scratch = Buffer.allocUnsafeSlow(READ_BYTES);
  return {
    buffer: () => decoder.readTarget() ?? scratch,
    callback: (n, into) => {
      let frames: Frame[];
      try {
        frames = decoder.pushRead(into, n);
      } catch (error) {
        onError(error as ProtocolError);
        return false;
      }
      onFrames(frames);
      return true;
    },
  };
}

/**
 * A socket on `fd` (a unix stream socket) whose reads feed `decoder` as `readFrames` says, with
 * no 'data' events. Node 20 takes `onread` in the constructor; its types only know it in connect.
 */
export function frameSocket(fd: number, decoder: FrameDecoder, onFrames: (frames: Frame[]) => void, onError: (error: ProtocolError) => void): net.Socket {
  const options = { fd, readable: true, writable: true, onread: readFrames(decoder, onFrames, onError) };
  return new net.Socket(options as net.SocketConstructorOpts);
}

/** A frame's fixed fields, known once its first 13 bytes have arrived: before its header or body is buffered. */
export interface FrameHead {
  type: number;
  id: number;
  headerLength: number;
  bodyLength: number;
}

export interface FrameDecoderOptions {
  /** Bound on one frame, fixed fields included. Default {@link DEFAULT_MAX_FRAME}. */
  maxFrame?: number;
  /** Bound on one frame's header, bounded apart from its body. Default {@link DEFAULT_MAX_HEADER}. */
  maxHeader?: number;
  /**
   * Checks each frame's head as soon as its fixed fields have arrived, before anything more of
   * it is buffered or parsed: a frame nobody asked for is refused at its 13th byte. Throws a
   * `ProtocolError` to refuse it.
   */
  checkHead?: (head: FrameHead) => void;
  /**
   * Where a body that spans chunks is gathered: a Buffer of exactly `n` bytes that no one else
   * uses (a pool's, so that a big body lands in memory already touched). Given, a big body is
   * taken from it as soon as its frame's header is in; by default, a fresh buffer is allocated
   * once half of the body has arrived, so that what a peer makes us hold stays bounded by what
   * it sent.
   */
  allocBody?: (n: number) => Buffer;
}

/**
 * Bound on a frame's header (UTF-8 JSON): headers carry control fields only, never data, so
 * parsing one is a few microseconds of the event loop, whatever a peer sends.
 */
export const DEFAULT_MAX_HEADER = 16 * 1024;

/** Chunks shorter than this are copied into a buffer of the decoder's own instead of kept one object each. */
const COALESCE_BELOW = 4096;
/** Size of the buffers small chunks are copied into. */
const COALESCE_BYTES = 16 * 1024;

/** Bodies from this size on are filled as they arrive (`FrameDecoder#startFilling`). */
const FILL_BODY_BYTES = 64 * 1024;

function parseHeader(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError('frame header is not valid JSON', { cause });
  }
}

/**
 * Incremental decoder: feed it chunks as they arrive, get whole frames back.
 * Throws `ProtocolError` on a frame above `maxFrame`, a header above `maxHeader`, a head that
 * `checkHead` refuses or a malformed frame; after that the stream is unusable (the caller
 * kills the peer).
 *
 * What a peer can make it hold is bounded by the bytes it sent: chunks of 4 KiB and more are
 * kept as they are, smaller ones are copied into shared 16 KiB buffers, so a peer writing one
 * byte at a time costs about one byte of memory per byte, not one object per write. A big body
 * (64 KiB and more) is copied once into a buffer of its own, allocated once half of it has
 * arrived (or as soon as its header is in, into the caller's `allocBody`); the chunks that
 * follow are copied into it and let go as they come, so no frame holds its bytes twice.
 */
export class FrameDecoder {
  readonly maxFrame: number;
  readonly maxHeader: number;
  readonly #checkHead: ((head: FrameHead) => void) | undefined;
  readonly #allocBody: (n: number) => Buffer;
  /**
   * Whether a big body is allocated as soon as its header is in (a caller's allocator, or reads
   * straight into the body) or once half of it has arrived.
   */
  #reserveBody: boolean;
  /** The rest of the body being filled, as last handed out by `readTarget`. */
  #target: Buffer | undefined;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The head of the frame being received, once checked. */
  #head: FrameHead | undefined;
  /** The buffer small chunks are copied into, and how much of it is used. */
  #open: Buffer | undefined;
  #openUsed = 0;
  /** Buffers of the decoder's own: a frame in one of them is copied out, never handed out as a view that would pin it. */
  #owned = new WeakSet<ArrayBufferLike>();
  /** The big frame whose body is being filled as it arrives, header parsed. */
  #filling: { head: FrameHead; header: unknown; body: Buffer; filled: number } | undefined;
  #failed: ProtocolError | undefined;

  constructor(options: number | FrameDecoderOptions = {}) {
    const resolved = typeof options === 'number' ? { maxFrame: options } : options;
    this.maxFrame = resolved.maxFrame ?? DEFAULT_MAX_FRAME;
    this.maxHeader = resolved.maxHeader ?? DEFAULT_MAX_HEADER;
    this.#checkHead = resolved.checkHead;
    this.#allocBody = resolved.allocBody ?? bigBuffer;
    this.#reserveBody = resolved.allocBody !== undefined;
  }

  push(chunk: Uint8Array): Frame[] {
    if (this.#failed) throw this.#failed;
    const frames: Frame[] = [];
    try {
      let rest: Buffer | undefined = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      while (rest !== undefined && rest.length > 0) {
        if (this.#filling) {
          rest = this.#fill(rest, frames);
          continue;
        }
        this.#append(rest);
        rest = undefined;
        for (;;) {
          const frame = this.#next();
          if (!frame) break;
          frames.push(frame);
        }
      }
    } catch (error) {
      this.fail(error as ProtocolError);
      throw error;
    }
    return frames;
  }

  /**
   * Where the next read from the socket should land: the rest of the big body being filled, so
   * that its bytes are read into it with no copy; undefined when no body is being filled (read
   * into a buffer of the reader's, then `pushRead`). From the first call on, a big body is taken
   * from `allocBody` as soon as its frame's header is in: the default's memory is untouched until
   * bytes are read into it, so what a peer makes us hold still follows what it sent.
   */
  readTarget(): Buffer | undefined {
    this.#reserveBody = true;
    const filling = this.#filling;
    this.#target = filling ? filling.body.subarray(filling.filled) : undefined;
    return this.#target;
  }

  /**
   * `n` bytes were read into `into`: the buffer `readTarget` returned last, or a buffer of the
   * reader's that it reuses once this returns (what the decoder keeps of it is copied).
   */
  pushRead(into: Uint8Array, n: number): Frame[] {
    if (this.#failed) throw this.#failed;
    const filling = this.#filling;
    if (filling === undefined || into !== this.#target) return this.push(Buffer.from(into.subarray(0, n)));
    this.#target = undefined;
    filling.filled += n;
    if (filling.filled < filling.body.length) return [];
    this.#filling = undefined;
    return [{ type: filling.head.type, id: filling.head.id, header: filling.header, body: filling.body }];
  }

  /** Ends the stream: every later `push` throws `error`, and what was buffered is let go. */
  fail(error: ProtocolError): void {
    this.#failed ??= error;
    this.#chunks = [];
    this.#buffered = 0;
    this.#head = undefined;
    this.#open = undefined;
    this.#filling = undefined;
    this.#target = undefined;
  }

  /** Bytes received but not yet part of a whole frame. */
  get pending(): number {
    const filling = this.#filling;
    return this.#buffered + (filling ? PREFIX + FIXED + filling.head.headerLength + filling.filled : 0);
  }

  /** The head of the frame being received, once its fixed fields are in. */
  get partialHead(): FrameHead | undefined {
    return this.#head ?? this.#filling?.head;
  }

  /** Copies a chunk into the body being filled; emits the frame once whole and returns what follows it. */
  #fill(chunk: Buffer, frames: Frame[]): Buffer | undefined {
    const filling = this.#filling!;
    const used = Math.min(chunk.length, filling.body.length - filling.filled);
    chunk.copy(filling.body, filling.filled, 0, used);
    filling.filled += used;
    if (filling.filled < filling.body.length) return undefined;
    this.#filling = undefined;
    frames.push({ type: filling.head.type, id: filling.head.id, header: filling.header, body: filling.body });
    return chunk.subarray(used);
  }

  /**
   * Starts filling a big frame's body as its bytes arrive, once its header is in: each chunk is
   * copied into the body and let go at once, instead of every chunk being held until the frame is
   * whole and then copied (twice the memory, and fresh memory the size of the body twice over).
   * Without a caller's allocator this starts once half of the body is in (see `allocBody`).
   */
  #startFilling(head: FrameHead): void {
    this.#head = undefined;
    this.#discard(PREFIX + FIXED);
    const header = parseHeader(this.#gather(Buffer.allocUnsafeSlow(head.headerLength)).toString('utf8'));
    const body = this.#allocBody(head.bodyLength);
    const filled = this.#buffered;
    this.#gather(body.subarray(0, filled));
    this.#filling = { head, header, body, filled };
  }

  #append(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    this.#buffered += n;
    // Nothing buffered: whole frames in the chunk are handed out as views of it.
    if (n >= COALESCE_BELOW || this.#chunks.length === 0) {
      this.#chunks.push(chunk);
      return;
    }
    const open = this.#open;
    const last = this.#chunks.at(-1)!;
    const openEnd = open ? open.byteOffset + this.#openUsed : -1;
    if (open && last.buffer === open.buffer && last.byteOffset + last.length === openEnd && this.#openUsed + n <= open.length) {
      chunk.copy(open, this.#openUsed);
      this.#openUsed += n;
      this.#chunks[this.#chunks.length - 1] = open.subarray(last.byteOffset - open.byteOffset, this.#openUsed);
      return;
    }
    const fresh = Buffer.allocUnsafeSlow(COALESCE_BYTES);
    this.#owned.add(fresh.buffer);
    chunk.copy(fresh, 0);
    this.#open = fresh;
    this.#openUsed = n;
    this.#chunks.push(fresh.subarray(0, n));
  }

  #next(): Frame | undefined {
    const head = this.#head ?? this.#readHead();
    if (!head) return undefined;
    const total = PREFIX + FIXED + head.headerLength + head.bodyLength;
    if (this.#buffered < total) {
      // A peer's bytes bound what it makes us hold: without a caller's allocator (whose memory is
      // its own concern, a pool's), the body is allocated once half of it has arrived.
      const headerEnd = PREFIX + FIXED + head.headerLength;
      const from = this.#reserveBody ? headerEnd : headerEnd + head.bodyLength / 2;
      if (head.bodyLength >= FILL_BODY_BYTES && this.#buffered >= from) this.#startFilling(head);
      return undefined;
    }
    this.#head = undefined;
    // A frame inside one chunk of the peer's is a view of it; any other is gathered once, its
    // body into a buffer of its own (the worker can then move it to its job thread, not copy it).
    const first = this.#chunks[0]!;
    let headerText: string;
    let body: Buffer;
    if (first.length >= total && !this.#owned.has(first.buffer)) {
      const bodyStart = PREFIX + FIXED + head.headerLength;
      headerText = first.toString('utf8', PREFIX + FIXED, bodyStart);
      body = head.bodyLength === 0 ? EMPTY : first.subarray(bodyStart, total);
      if (first.length === total) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(total);
      this.#buffered -= total;
    } else {
      this.#discard(PREFIX + FIXED);
      headerText = this.#gather(Buffer.allocUnsafeSlow(head.headerLength)).toString('utf8');
      body = head.bodyLength === 0 ? EMPTY : this.#gather(this.#allocBody(head.bodyLength));
    }
    return { type: head.type, id: head.id, header: parseHeader(headerText), body };
  }

  /** Reads and checks the next frame's fixed fields, once they are in; the length as soon as it is. */
  #readHead(): FrameHead | undefined {
    if (this.#buffered < PREFIX) return undefined;
    if (this.#buffered < PREFIX + FIXED) {
      this.#checkLength(this.#peek(PREFIX).readUInt32BE(0));
      return undefined;
    }
    const bytes = this.#peek(PREFIX + FIXED);
    const length = bytes.readUInt32BE(0);
    this.#checkLength(length);
    const headerLength = bytes.readUInt32BE(9);
    if (headerLength > length - FIXED) {
      throw new ProtocolError(`header length ${headerLength} runs past the end of a ${length}-byte frame`);
    }
    if (headerLength > this.maxHeader) {
      throw new ProtocolError(`frame header of ${headerLength} bytes exceeds the ${this.maxHeader}-byte limit`);
    }
    const head = { type: bytes.readUInt8(4), id: bytes.readUInt32BE(5), headerLength, bodyLength: length - FIXED - headerLength };
    this.#checkHead?.(head);
    this.#head = head;
    return head;
  }

  #checkLength(length: number): void {
    if (length > this.maxFrame) throw new ProtocolError(`frame of ${length} bytes exceeds the ${this.maxFrame}-byte limit`);
    if (length < FIXED) throw new ProtocolError(`frame of ${length} bytes is shorter than its fixed fields`);
  }

  /** The first `n` buffered bytes, contiguous, left in place (copied only when they span chunks). */
  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const chunk of this.#chunks) {
      filled += chunk.copy(out, filled, 0, Math.min(chunk.length, n - filled));
      if (filled === n) break;
    }
    return out;
  }

  /** Removes and returns the first `n` bytes as a view (they must lie in the first chunk). */
  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.#chunks[0]!;
    const out = first.subarray(0, n);
    const rest = first.subarray(n);
    if (rest.length > 0) this.#chunks[0] = rest;
    else this.#chunks.shift();
    this.#buffered -= n;
    return out;
  }

  /** Removes the first `n` bytes, wherever they lie. */
  #discard(n: number): void {
    for (let left = n; left > 0; ) left -= this.#take(Math.min(this.#chunks[0]!.length, left)).length;
  }

  /** Removes the first `out.length` bytes, copied into `out`. */
  #gather(out: Buffer): Buffer {
    const n = out.length;
    if (n === 0) return out;
    let filled = 0;
    while (filled < n) {
      const first = this.#chunks[0]!;
      const part = Math.min(first.length, n - filled);
      first.copy(out, filled, 0, part);
      filled += part;
      this.#take(part);
    }
    return out;
  }
}
