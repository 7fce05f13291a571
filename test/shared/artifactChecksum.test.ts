// The artifact's checksum (src/shared/artifact.ts) is computed by the addon's sha256 where the
// addon is loaded (a worker then never loads node:crypto for it), by node:crypto elsewhere: both
// must give the same digest, or a worker would refuse every artifact the host wrote.
import crypto from 'node:crypto';
import test from 'ava';
import { loadAddon } from '../../src/shared/addon.js';
import { ARTIFACT_HEADER_BYTES, ArtifactFormatError, decodeArtifact, encodeArtifact } from '../../src/shared/artifact.js';

const addon = loadAddon();
const reference = (first: Uint8Array, second: Uint8Array): string => crypto.createHash('sha256').update(first).update(second).digest('hex');

test("the addon's sha256 of two views is node:crypto's, at every block boundary and for views into a larger buffer", (t) => {
  const bytes = crypto.randomBytes(3 * 1024 * 1024 + 17);
  for (const [a, b] of [
    [0, 0],
    [0, 1],
    [32, 0],
    [32, 31],
    [32, 32],
    [55, 1],
    [56, 8],
    [63, 1],
    [64, 64],
    [1, 1024 * 1024],
    [32, 3 * 1024 * 1024 - 40],
  ] as const) {
    const first = bytes.subarray(5, 5 + a);
    const second = new Uint8Array(bytes.buffer, bytes.byteOffset + 7 + a, b);
    const digest = addon.sha256(first, second);
    t.true(Buffer.isBuffer(digest));
    t.is(digest.toString('hex'), reference(first, second), `${a} + ${b} bytes`);
  }
});

test('sha256 refuses what is not two typed arrays', (t) => {
  t.throws(() => (addon.sha256 as unknown as (...args: unknown[]) => unknown)(Buffer.alloc(1)), { instanceOf: TypeError });
  t.throws(() => (addon.sha256 as unknown as (...args: unknown[]) => unknown)('ab', Buffer.alloc(1)), { instanceOf: TypeError });
});

test("an artifact's checksum is node:crypto's sha256 of the params hash and the module, and a flipped byte is refused", (t) => {
  const module = crypto.randomBytes(70_000);
  const paramsHash = crypto.randomBytes(32).toString('hex');
  const artifact = encodeArtifact(module, paramsHash);
  t.is(artifact.subarray(16, 48).toString('hex'), reference(Buffer.from(paramsHash, 'hex'), module));
  const decoded = decodeArtifact(artifact);
  t.is(decoded.paramsHash, paramsHash);
  t.deepEqual(Buffer.from(decoded.module), module);
  const flipped = Buffer.from(artifact);
  flipped[ARTIFACT_HEADER_BYTES + 1234]! ^= 1;
  t.throws(() => decodeArtifact(flipped), { instanceOf: ArtifactFormatError, message: /checksum mismatch/ });
});
