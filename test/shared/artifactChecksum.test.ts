// The artifact's checksum (src/shared/artifact.ts) is computed by the addon's sha256 where the
// addon is loaded (a worker then never loads node:crypto for it), by node:crypto elsewhere: both
// must give the same digest, or a worker would refuse every artifact the host wrote.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ADDON_RELATIVE_PATH, loadAddon } from '../../src/shared/addon.js';
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
    const digest = Buffer.alloc(32);
    addon.sha256(first, second, digest);
    t.is(digest.toString('hex'), reference(first, second), `${a} + ${b} bytes`);
  }
});

test('sha256 refuses what is not three Uint8Arrays with a 32-byte out, and writes nothing then', (t) => {
  const sha256 = addon.sha256 as unknown as (...args: unknown[]) => unknown;
  const out = Buffer.alloc(32);
  t.throws(() => sha256(Buffer.alloc(1), Buffer.alloc(1)), { instanceOf: TypeError });
  t.throws(() => sha256('ab', Buffer.alloc(1), out), { instanceOf: TypeError });
  t.throws(() => sha256(new Uint16Array(2), Buffer.alloc(1), out), { instanceOf: TypeError });
  t.throws(() => sha256(Buffer.alloc(1), Buffer.alloc(1), Buffer.alloc(31)), { instanceOf: TypeError });
  t.deepEqual(out, Buffer.alloc(32));
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

test('a thread terminated while it hashes ends alone: the process lives on (a job thread stopped at its limit, a check thread at close)', (t) => {
  // In a child process: the failure this guards against is node's fatal error, which would end
  // the test runner too (a digest returned as a new Buffer could not be made once V8 terminated
  // the thread, and node-addon-api turned the failed throw into an abort).
  const addonPath = fileURLToPath(new URL(ADDON_RELATIVE_PATH, new URL('../../src/shared/addon.ts', import.meta.url)));
  const script = `
    const { Worker } = require('node:worker_threads');
    const code = \`
      const m = { exports: {} };
      process.dlopen(m, \${JSON.stringify(process.argv[1])});
      const first = Buffer.alloc(32), second = Buffer.alloc(8 << 20, 1), out = Buffer.alloc(32);
      require('node:worker_threads').parentPort.postMessage('hashing');
      for (;;) m.exports.sha256(first, second, out);\`;
    (async () => {
      for (let i = 0; i < 40; i++) {
        const worker = new Worker(code, { eval: true });
        await new Promise((resolve) => worker.once('message', resolve));
        await new Promise((resolve) => setTimeout(resolve, 1 + (i % 7)));
        await worker.terminate();
      }
      console.log('alive');
    })();`;
  const child = spawnSync(process.execPath, ['-e', script, addonPath], { encoding: 'utf8', timeout: 120_000 });
  t.is(child.status, 0, child.stderr);
  t.is(child.stdout.trim(), 'alive');
});
