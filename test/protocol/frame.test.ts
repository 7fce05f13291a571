import test from 'ava';
import { FrameDecoder, SEPARATE_BODY_BYTES, encodeFrame, writeFrame } from '../../src/protocol/frame.js';
import { ProtocolError } from '../../src/errors.js';

test('frames round-trip with raw bodies, split at every byte boundary', (t) => {
  const body = new Uint8Array([0, 1, 2, 255, 254]);
  const encoded = Buffer.concat([encodeFrame(5, 42, { name: 'probe', n: 1 }, body), encodeFrame(3, 43, null)]);
  for (let split = 0; split <= encoded.length; split++) {
    const decoder = new FrameDecoder();
    const frames = [...decoder.push(encoded.subarray(0, split)), ...decoder.push(encoded.subarray(split))];
    t.is(frames.length, 2);
    t.deepEqual(frames[0]!.header, { name: 'probe', n: 1 });
    t.deepEqual([...frames[0]!.body], [...body]);
    t.is(frames[0]!.type, 5);
    t.is(frames[0]!.id, 42);
    t.is(frames[1]!.header, null);
    t.is(decoder.pending, 0);
  }
});

test('a 4 GiB length prefix is refused before any allocation', (t) => {
  const decoder = new FrameDecoder();
  const error = t.throws(() => decoder.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1])), { instanceOf: ProtocolError });
  t.regex(error!.message, /exceeds/);
  t.throws(() => decoder.push(Buffer.from([0])), { instanceOf: ProtocolError }, 'the stream stays failed');
});

test('malformed frames are protocol errors', (t) => {
  const short = Buffer.alloc(8);
  short.writeUInt32BE(4, 0);
  t.throws(() => new FrameDecoder().push(short), { instanceOf: ProtocolError });
  const badHeader = encodeFrame(1, 1, { a: 1 });
  badHeader.writeUInt32BE(1000, 9);
  t.throws(() => new FrameDecoder().push(badHeader), { instanceOf: ProtocolError, message: /runs past/ });
  const notJson = encodeFrame(1, 1, 'x');
  notJson.write('{', 13);
  t.throws(() => new FrameDecoder().push(notJson), { instanceOf: ProtocolError, message: /JSON/ });
});

test('a frame above a custom maximum is refused', (t) => {
  const decoder = new FrameDecoder(64);
  t.throws(() => decoder.push(encodeFrame(1, 1, null, new Uint8Array(100))), { instanceOf: ProtocolError });
});

test('a big body is written beside its head in one corked write, and decodes the same', (t) => {
  const body = Buffer.alloc(SEPARATE_BODY_BYTES + 3, 7);
  const writes: Uint8Array[] = [];
  let corked = 0;
  const sink = { write: (chunk: Uint8Array) => writes.push(chunk) > 0, cork: () => corked++, uncork: () => corked-- };
  writeFrame(sink, 12, 9, { abi: 'run' }, body);
  t.is(writes.length, 2);
  t.is(writes[1], body, 'the body itself, not a copy');
  t.is(corked, 0);
  t.deepEqual(Buffer.concat(writes), encodeFrame(12, 9, { abi: 'run' }, body));
  writeFrame(sink, 3, 1, null, Buffer.from('small'));
  t.is(writes.length, 3, 'a small frame is one buffer');
});

test('a body gathered from several chunks owns its whole ArrayBuffer (movable to a thread)', (t) => {
  const body = Buffer.alloc(200_000, 1);
  const encoded = encodeFrame(12, 1, { abi: 'run' }, body);
  const decoder = new FrameDecoder();
  const frames = [];
  for (let at = 0; at < encoded.length; at += 65_536) frames.push(...decoder.push(encoded.subarray(at, at + 65_536)));
  t.is(frames.length, 1);
  const got = frames[0]!.body;
  t.true(Buffer.from(got).equals(body));
  t.is(got.byteOffset, 0);
  t.is(got.buffer.byteLength, body.length);
});
