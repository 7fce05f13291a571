import buffer from 'node:buffer';
import zlib from 'node:zlib';
import { JobError } from './jobError.js';
import { codeTooLargeMessage, type PrepareLimits } from './limits.js';

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
const GZIP_MAGIC = [0x1f, 0x8b];

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((byte, i) => bytes[i] === byte);
}

/** True when `bytes` start with the WebAssembly magic number `\0asm`. */
export function isWasm(bytes: Uint8Array): boolean {
  return startsWith(bytes, WASM_MAGIC);
}

type Decompressor = (bytes: Uint8Array, options: zlib.ZlibOptions & zlib.BrotliOptions) => Buffer;

/**
 * Runs one sync decompressor bounded by `maxOutputLength`: zlib then decodes chunk by chunk and
 * stops as soon as the output passes the bound, so a bomb never allocates more than the limit.
 * Returns the output, `'too-large'`, or the error of a corrupt stream.
 */
function inflate(decompress: Decompressor, bytes: Uint8Array, limit: number): Buffer | 'too-large' | Error {
  try {
    return decompress(bytes, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return 'too-large';
    return error as Error;
  }
}

function bombError(format: string, limit: number): JobError {
  return new JobError('E_DECOMPRESS', `${format} code decompresses to more than ${limit} bytes (maxDecompressedBytes): decompression bomb`);
}

/** The result must itself be a module: nested or unknown formats are refused, not unwrapped further. */
function expectWasm(bytes: Buffer, format: string): Buffer {
  if (!isWasm(bytes)) throw new JobError('E_PREVALIDATION', `not a WebAssembly module (${format} data that does not decompress to \\0asm)`);
  return bytes;
}

/**
 * Returns the module bytes of submitted code: raw wasm as is, gzip or brotli decompressed.
 * Brotli has no magic number, so it is tried only on bytes that are neither wasm nor gzip; bytes that
 * are not brotli either are "not a WebAssembly module" rather than a corrupt stream.
 *
 * @example
 * const module = maybeDecompress(zlib.gzipSync(wasm), DEFAULT_PREPARE_LIMITS);
 */
export function maybeDecompress(code: Uint8Array, limits: Pick<PrepareLimits, 'maxCodeBytes' | 'maxDecompressedBytes'>): Uint8Array {
  if (code.byteLength > limits.maxCodeBytes) {
    throw new JobError('E_PREVALIDATION', codeTooLargeMessage(code.byteLength, limits));
  }
  if (isWasm(code)) return code;
  // zlib refuses a maxOutputLength above the largest Buffer (4 GiB on Node 20) before it
  // decodes anything: no output can be longer than that anyway.
  const limit = Math.min(limits.maxDecompressedBytes, buffer.constants.MAX_LENGTH);
  if (startsWith(code, GZIP_MAGIC)) {
    const gunzipped = inflate(zlib.gunzipSync, code, limit);
    if (gunzipped === 'too-large') throw bombError('gzip', limit);
    if (gunzipped instanceof Error) throw new JobError('E_DECOMPRESS', `gzip code is corrupt: ${gunzipped.message}`, { cause: gunzipped });
    return expectWasm(gunzipped, 'gzip');
  }
  const inflated = inflate(zlib.brotliDecompressSync, code, limit);
  if (inflated === 'too-large') throw bombError('brotli', limit);
  // Brotli has no magic number: a failed decode only says the bytes were never brotli.
  if (inflated instanceof Error) throw new JobError('E_PREVALIDATION', 'not a WebAssembly module (no \\0asm magic, not gzip, not brotli)');
  return expectWasm(inflated, 'brotli');
}
