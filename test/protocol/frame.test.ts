import test from 'ava';
import { DEFAULT_MAX_HEADER, EncodedHeader, FrameDecoder, SEPARATE_BODY_BYTES, encodeFrame, writeFrame, type Frame, type FrameHead } from '../../src/protocol/frame.js';
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

test('an EncodedHeader is written as its JSON text, byte for byte, with the body after it', (t) => {
  const json = '{"limits":{"maxFuel":10},"abi":"run","note":"é"}';
  const body = new Uint8Array([9, 8, 7]);
  const encoded = encodeFrame(3, 7, new EncodedHeader(json), body);
  t.is(encoded.readUInt32BE(9), Buffer.byteLength(json), 'the header length counts UTF-8 bytes');
  t.is(encoded.subarray(13, 13 + Buffer.byteLength(json)).toString('utf8'), json);
  const [frame] = new FrameDecoder().push(encoded);
  t.deepEqual(frame!.header, { limits: { maxFuel: 10 }, abi: 'run', note: 'é' });
  t.deepEqual([...frame!.body], [...body]);
  t.deepEqual(encoded, encodeFrame(3, 7, JSON.parse(json), body), 'the same bytes as the object it says');
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

test('a header above the header bound is refused at the 13th byte, before it is buffered', (t) => {
  const decoder = new FrameDecoder({ maxHeader: 100 });
  const frame = encodeFrame(4, 1, 'x'.repeat(200));
  t.deepEqual(decoder.push(frame.subarray(0, 12)), []);
  const error = t.throws(() => decoder.push(frame.subarray(12, 13)), { instanceOf: ProtocolError });
  t.regex(error!.message, /header of 202 bytes exceeds the 100-byte limit/);
  t.is(decoder.pending, 0, 'what was buffered is let go');
  t.throws(() => decoder.push(frame.subarray(13)), { instanceOf: ProtocolError }, 'the stream stays failed');
  t.is(DEFAULT_MAX_HEADER, 16 * 1024);
  t.throws(() => new FrameDecoder().push(encodeFrame(4, 1, 'x'.repeat(DEFAULT_MAX_HEADER))), { instanceOf: ProtocolError });
});

test('checkHead sees each frame once, at its 13th byte, and can refuse it before its body is buffered', (t) => {
  const heads: FrameHead[] = [];
  const decoder = new FrameDecoder({
    checkHead: (head) => {
      heads.push(head);
      if (head.type === 99) throw new ProtocolError('type 99 is not allowed');
    },
  });
  const ok = encodeFrame(13, 7, { ok: true }, Buffer.alloc(1000, 1));
  for (let at = 0; at < ok.length; at += 5) decoder.push(ok.subarray(at, at + 5));
  t.deepEqual(heads, [{ type: 13, id: 7, headerLength: 11, bodyLength: 1000 }]);
  const bad = encodeFrame(99, 8, null, Buffer.alloc(1 << 20));
  t.throws(() => decoder.push(bad.subarray(0, 13)), { instanceOf: ProtocolError, message: /type 99/ });
  t.is(heads.length, 2);
});

test('a one-byte trickle costs about one byte per byte, and the frame comes out whole and owning its buffer', (t) => {
  const body = Buffer.alloc(300_000, 3);
  const frame = encodeFrame(13, 1, { ok: true }, body);
  const decoder = new FrameDecoder();
  let frames: Frame[] = [];
  // Fresh one-byte buffers, as a socket delivers them: each would be an object of its own if kept.
  for (let i = 0; i < frame.length; i++) frames = decoder.push(Buffer.from([frame[i]!]));
  t.is(frames.length, 1);
  t.true(Buffer.from(frames[0]!.body).equals(body));
  t.is(frames[0]!.body.buffer.byteLength, body.length, 'the body owns its whole ArrayBuffer');
});

test('a small frame in a coalesced buffer is copied out, never a view that pins the buffer', (t) => {
  const decoder = new FrameDecoder();
  const frame = encodeFrame(13, 1, { ok: true }, Buffer.from('tiny'));
  decoder.push(frame.subarray(0, 1));
  const [got] = [...decoder.push(frame.subarray(1, 2)), ...decoder.push(frame.subarray(2))];
  t.is(Buffer.from(got!.body).toString(), 'tiny');
  t.is(got!.body.buffer.byteLength, 4);
});
