import { ProtocolError } from '../errors.js';

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

/** The head of a frame (length prefix, type, id, header) for a body of `bodyLength` bytes, with `extra` bytes of room after it. */
function encodeHead(type: number, id: number, header: unknown, bodyLength: number, extra: number): Buffer {
  const headerBytes = Buffer.from(JSON.stringify(header ?? null), 'utf8');
  const length = FIXED + headerBytes.length + bodyLength;
  const out = Buffer.allocUnsafe(PREFIX + FIXED + headerBytes.length + extra);
  out.writeUInt32BE(length, 0);
  out.writeUInt8(type, 4);
  out.writeUInt32BE(id >>> 0, 5);
  out.writeUInt32BE(headerBytes.length, 9);
  headerBytes.copy(out, 13);
  return out;
}

/** Encodes one frame as a single buffer (one write, one syscall). */
export function encodeFrame(type: number, id: number, header: unknown, body?: Uint8Array): Buffer {
  const bodyLength = body?.byteLength ?? 0;
  const out = encodeHead(type, id, header, bodyLength, bodyLength);
  if (body && bodyLength > 0) out.set(body, out.length - bodyLength);
  return out;
}

/** The part of a socket `writeFrame` needs. */
export interface FrameSink {
  write(chunk: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
}

/**
 * Writes one frame with one syscall. A small body is copied into one buffer with the head; a big
 * one (≥ SEPARATE_BODY_BYTES) is written as is beside the head, corked into one writev: no copy
 * of a MiB-sized input or output. The body must not change after this call (the write may be
 * queued): callers pass buffers they own.
 */
export function writeFrame(sink: FrameSink, type: number, id: number, header: unknown, body?: Uint8Array): void {
  if (!body || body.byteLength < SEPARATE_BODY_BYTES) {
    sink.write(encodeFrame(type, id, header, body));
    return;
  }
  sink.cork();
  sink.write(encodeHead(type, id, header, body.byteLength, 0));
  sink.write(body);
  sink.uncork();
}

/**
 * Incremental decoder: feed it chunks as they arrive, get whole frames back.
 * Throws `ProtocolError` on a frame above `maxFrame` or a malformed one; after that the
 * stream is unusable (the caller kills the peer).
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed: ProtocolError | undefined;

  constructor(readonly maxFrame: number = DEFAULT_MAX_FRAME) {}

  push(chunk: Uint8Array): Frame[] {
    if (this.#failed) throw this.#failed;
    this.#chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.#buffered += chunk.byteLength;
    const frames: Frame[] = [];
    try {
      for (;;) {
        const frame = this.#next();
        if (!frame) break;
        frames.push(frame);
      }
    } catch (error) {
      this.#failed = error as ProtocolError;
      throw error;
    }
    return frames;
  }

  /** Bytes received but not yet part of a whole frame. */
  get pending(): number {
    return this.#buffered;
  }

  #next(): Frame | undefined {
    if (this.#buffered < PREFIX) return undefined;
    const length = this.#peek(PREFIX).readUInt32BE(0);
    if (length > this.maxFrame) {
      throw new ProtocolError(`frame of ${length} bytes exceeds the ${this.maxFrame}-byte limit`);
    }
    if (length < FIXED) throw new ProtocolError(`frame of ${length} bytes is shorter than its fixed fields`);
    if (this.#buffered < PREFIX + length) return undefined;
    // A frame inside one chunk is a view of it; one spread over chunks is gathered once, its
    // body into a buffer of its own (the worker can then move it to its job thread, not copy it).
    const whole = this.#chunks[0]!.length >= PREFIX + length;
    const head = whole ? this.#take(PREFIX + FIXED) : this.#gather(PREFIX + FIXED);
    const type = head.readUInt8(4);
    const id = head.readUInt32BE(5);
    const headerLength = head.readUInt32BE(9);
    if (headerLength > length - FIXED) {
      throw new ProtocolError(`header length ${headerLength} runs past the end of a ${length}-byte frame`);
    }
    const headerBytes = whole ? this.#take(headerLength) : this.#gather(headerLength);
    const bodyLength = length - FIXED - headerLength;
    const body = whole ? this.#take(bodyLength) : this.#gather(bodyLength);
    let header: unknown;
    try {
      header = JSON.parse(headerBytes.toString('utf8'));
    } catch (cause) {
      throw new ProtocolError('frame header is not valid JSON', { cause });
    }
    return { type, id, header, body };
  }

  /** The first `n` buffered bytes, contiguous (merging chunks only when the first is shorter). */
  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    const merged = Buffer.concat(this.#chunks);
    this.#chunks = [merged];
    return merged;
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

  /** Removes the first `n` bytes, copied into a buffer that owns its whole ArrayBuffer. */
  #gather(n: number): Buffer {
    const out = Buffer.allocUnsafeSlow(n);
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
