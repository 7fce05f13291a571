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
/** Default bound on one frame, so a 4 GiB length prefix is an error, not an allocation. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024 + 64 * 1024;

/** Encodes one frame as a single buffer (one write, one syscall). */
export function encodeFrame(type: number, id: number, header: unknown, body?: Uint8Array): Buffer {
  const headerBytes = Buffer.from(JSON.stringify(header ?? null), 'utf8');
  const bodyLength = body?.byteLength ?? 0;
  const length = FIXED + headerBytes.length + bodyLength;
  const out = Buffer.allocUnsafe(PREFIX + length);
  out.writeUInt32BE(length, 0);
  out.writeUInt8(type, 4);
  out.writeUInt32BE(id >>> 0, 5);
  out.writeUInt32BE(headerBytes.length, 9);
  headerBytes.copy(out, 13);
  if (body && bodyLength > 0) out.set(body, 13 + headerBytes.length);
  return out;
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
    const head = this.#peek(PREFIX);
    const length = head.readUInt32BE(0);
    if (length > this.maxFrame) {
      throw new ProtocolError(`frame of ${length} bytes exceeds the ${this.maxFrame}-byte limit`);
    }
    if (length < FIXED) throw new ProtocolError(`frame of ${length} bytes is shorter than its fixed fields`);
    if (this.#buffered < PREFIX + length) return undefined;
    const whole = this.#take(PREFIX + length);
    const type = whole.readUInt8(4);
    const id = whole.readUInt32BE(5);
    const headerLength = whole.readUInt32BE(9);
    if (headerLength > length - FIXED) {
      throw new ProtocolError(`header length ${headerLength} runs past the end of a ${length}-byte frame`);
    }
    let header: unknown;
    try {
      header = JSON.parse(whole.toString('utf8', 13, 13 + headerLength));
    } catch (cause) {
      throw new ProtocolError('frame header is not valid JSON', { cause });
    }
    return { type, id, header, body: whole.subarray(13 + headerLength) };
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    const merged = Buffer.concat(this.#chunks);
    this.#chunks = [merged];
    return merged;
  }

  #take(n: number): Buffer {
    const first = this.#peek(n);
    const out = first.subarray(0, n);
    const rest = first.subarray(n);
    if (rest.length > 0) this.#chunks[0] = rest;
    else this.#chunks.shift();
    this.#buffered -= n;
    return out;
  }
}
