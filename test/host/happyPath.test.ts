/**
 * Jobs that succeed, on real sandboxed workers: both ABIs, both job kinds, raw and compressed code.
 */
import test from 'ava';
import zlib from 'node:zlib';
import { Artifact } from '../../src/index.js';
import { needsExamples } from '../helpers/examples.js';
import { example, hello, startScheduler, text } from '../helpers/scheduler.js';

test.serial('run ABI: execute with code directly ("world" → "Hello, world!")', async (t) => {
  const { host, events } = await startScheduler(t);
  const result = await host.execute(hello.wasm, Buffer.from('world'));
  t.is(text(result.output), 'Hello, world!');
  t.is(text(result.output), text(hello.expected));
  t.is(result.log.byteLength, 0);
  t.false(result.logTruncated);
  t.is(result.attempts, 1);
  t.regex(result.workerId, /^execute-/);
  t.regex(result.jobId, /^execute-job-/);
  t.regex(result.artifactKey, /^[0-9a-f]{64}-[0-9a-f]{16}$/);
  t.true(result.cpuTimeMs >= 0 && result.wallTimeMs >= 0);
  // One prepare job then one execute job, each queued, started and succeeded once.
  t.deepEqual(events.of('job:queued').map((e) => e.kind), ['prepare', 'execute']);
  t.deepEqual(events.of('job:started').map((e) => [e.kind, e.attempt]), [['prepare', 1], ['execute', 1]]);
  t.deepEqual(events.of('job:succeeded').map((e) => e.kind), ['prepare', 'execute']);
  t.deepEqual(events.of('job:failed'), []);
  t.deepEqual(events.of('artifact:prepared').map((e) => e.key), [result.artifactKey]);
});

test.serial('run ABI: sha256 (AssemblyScript) of the example input', async (t) => {
  const { host } = await startScheduler(t);
  const sha = example('sha256');
  const result = await host.execute(sha.wasm, sha.input);
  t.is(text(result.output).trim(), text(sha.expected).trim());
});

needsExamples(['wordcount'], test.serial)('WASI ABI: wordcount reads stdin, writes stdout, and its stderr is the log', async (t) => {
  const { host } = await startScheduler(t);
  const wc = example('wordcount');
  const artifact = await host.prepare(wc.wasm);
  t.is(artifact.abi, 'wasi');
  const result = await host.execute(artifact, wc.input);
  t.is(text(result.output), text(wc.expected));
  t.is(text(result.log), text(wc.expectedStderr!));
  t.false(result.logTruncated);
});

test.serial('prepare then execute with the Artifact; a second prepare comes from the cache', async (t) => {
  const { host, events } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  t.true(artifact instanceof Artifact);
  t.false(artifact.cached);
  t.is(artifact.abi, 'run');
  t.true(artifact.exports.includes('run') && artifact.exports.includes('memory'));
  t.true(artifact.size > hello.wasm.byteLength);
  t.true(host.cache.has(artifact.key));

  const first = await host.execute(artifact, Buffer.from('world'));
  const second = await host.execute(artifact, Buffer.from('warden'));
  t.is(text(first.output), 'Hello, world!');
  t.is(text(second.output), 'Hello, warden!');
  t.is(first.artifactKey, artifact.key);

  const again = await host.prepare(hello.wasm);
  t.true(again.cached);
  t.is(again.key, artifact.key);
  t.deepEqual(again.exports, artifact.exports);
  t.is(events.of('job:queued').filter((e) => e.kind === 'prepare').length, 1, 'the cached artifact needs no second prepare job');
  t.is(events.of('job:succeeded').filter((e) => e.kind === 'execute').length, 2);
});

test.serial('execute with code directly reuses the cached artifact on the next call', async (t) => {
  const { host, events } = await startScheduler(t);
  const a = await host.execute(hello.wasm, Buffer.from('a'));
  const b = await host.execute(hello.wasm, Buffer.from('b'));
  t.is(text(a.output), 'Hello, a!');
  t.is(text(b.output), 'Hello, b!');
  t.is(a.artifactKey, b.artifactKey);
  t.is(events.of('job:queued').filter((e) => e.kind === 'prepare').length, 1);
});

test.serial('gzip- and brotli-compressed code are prepared and run', async (t) => {
  const { host } = await startScheduler(t);
  const gzip = zlib.gzipSync(hello.wasm);
  const brotli = zlib.brotliCompressSync(hello.wasm);
  const [viaGzip, viaBrotli] = await Promise.all([host.execute(gzip, Buffer.from('gzip')), host.execute(brotli, Buffer.from('brotli'))]);
  t.is(text(viaGzip.output), 'Hello, gzip!');
  t.is(text(viaBrotli.output), 'Hello, brotli!');
  const artifact = await host.prepare(gzip);
  t.true(artifact.cached);
  t.is(artifact.abi, 'run');
});

needsExamples(['wordcount'], test.serial)('compressed WASI code: the ABI is read from the decompressed module', async (t) => {
  const { host } = await startScheduler(t);
  const wc = example('wordcount');
  const wasi = await host.execute(zlib.brotliCompressSync(wc.wasm), wc.input);
  t.is(text(wasi.output), text(wc.expected));
});

test.serial('a pool of two execute workers runs a burst of jobs, each once', async (t) => {
  const { host } = await startScheduler(t, { executeWorkers: 2 });
  const artifact = await host.prepare(hello.wasm);
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => host.execute(artifact, Buffer.from(`n${i}`))));
  results.forEach((result, i) => t.is(text(result.output), `Hello, n${i}!`));
  t.true(results.every((r) => r.attempts === 1));
});
