import zlib from 'node:zlib';
import test from 'ava';
import fc from 'fast-check';
import { maybeDecompress } from '../../../src/shared/decompress.js';
import { JobError } from '../../../src/shared/jobError.js';
import { DEFAULT_PREPARE_LIMITS } from '../../../src/shared/limits.js';
import { fixtures, INVALID_BYTES } from '../../helpers/wat.js';

const limits = DEFAULT_PREPARE_LIMITS;
const GiB = 1024 ** 3;

/** Compresses `total` zero bytes through a stream, 1 MiB at a time, never holding them whole. */
function compressZeros(stream: zlib.Gzip | zlib.BrotliCompress, total: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    const zeros = Buffer.alloc(1024 * 1024);
    let written = 0;
    const pump = () => {
      while (written < total) {
        written += zeros.byteLength;
        if (!stream.write(zeros)) return void stream.once('drain', pump);
      }
      stream.end();
    };
    pump();
  });
}

test('raw wasm passes through untouched', (t) => {
  t.is(maybeDecompress(fixtures.upper, limits), fixtures.upper);
});

test('gzip and brotli modules are decompressed', (t) => {
  t.deepEqual(new Uint8Array(maybeDecompress(zlib.gzipSync(fixtures.upper), limits)), fixtures.upper);
  t.deepEqual(new Uint8Array(maybeDecompress(zlib.brotliCompressSync(fixtures.upper), limits)), fixtures.upper);
});

test('a gzip bomb of 1 GiB of zeros is E_DECOMPRESS, stopped at the limit', async (t) => {
  const bomb = await compressZeros(zlib.createGzip({ level: 9 }), GiB);
  t.true(bomb.byteLength < limits.maxCodeBytes);
  const error = t.throws(() => maybeDecompress(bomb, limits), { instanceOf: JobError });
  t.is(error?.code, 'E_DECOMPRESS');
  t.regex(error!.message, /gzip.*more than 67108864 bytes \(maxDecompressedBytes\): decompression bomb/);
});

test('a brotli bomb of 1 GiB of zeros is E_DECOMPRESS', async (t) => {
  const bomb = await compressZeros(zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } }), GiB);
  const error = t.throws(() => maybeDecompress(bomb, { ...limits, maxDecompressedBytes: 1024 * 1024 }), { instanceOf: JobError });
  t.is(error?.code, 'E_DECOMPRESS');
  t.regex(error!.message, /brotli.*decompression bomb/);
});

test('corrupt gzip is E_DECOMPRESS', (t) => {
  const gzip = zlib.gzipSync(fixtures.upper);
  const truncated = gzip.subarray(0, gzip.byteLength - 20);
  t.is(t.throws(() => maybeDecompress(truncated, limits), { instanceOf: JobError })?.code, 'E_DECOMPRESS');
  const garbled = Buffer.concat([gzip.subarray(0, 10), Buffer.alloc(40, 0xff)]);
  t.is(t.throws(() => maybeDecompress(garbled, limits), { instanceOf: JobError })?.code, 'E_DECOMPRESS');
});

test('bytes that are not wasm, gzip or brotli are "not a WebAssembly module"', (t) => {
  const error = t.throws(() => maybeDecompress(INVALID_BYTES, limits), { instanceOf: JobError });
  t.is(error?.code, 'E_PREVALIDATION');
  t.regex(error!.message, /not a WebAssembly module/);
});

test('compressed data that is not wasm is refused', (t) => {
  for (const compressed of [zlib.gzipSync(INVALID_BYTES), zlib.brotliCompressSync(INVALID_BYTES)]) {
    const error = t.throws(() => maybeDecompress(compressed, limits), { instanceOf: JobError });
    t.is(error?.code, 'E_PREVALIDATION');
    t.regex(error!.message, /not a WebAssembly module/);
  }
});

test('code above maxCodeBytes is E_PREVALIDATION before any decompression', (t) => {
  const gzip = zlib.gzipSync(fixtures.upper);
  const error = t.throws(() => maybeDecompress(gzip, { ...limits, maxCodeBytes: gzip.byteLength - 1 }), { instanceOf: JobError });
  t.is(error?.code, 'E_PREVALIDATION');
  t.regex(error!.message, /maxCodeBytes/);
});

test('arbitrary bytes give module bytes or a JobError, nothing else', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      try {
        const out = maybeDecompress(bytes, limits);
        return out[0] === 0 && out[1] === 0x61;
      } catch (error) {
        return error instanceof JobError && (error.code === 'E_PREVALIDATION' || error.code === 'E_DECOMPRESS');
      }
    }),
    { seed: 0x51ed },
  );
  // fc.assert throws on a counterexample; reaching here means every case held.
  t.pass();
});
