import test from 'ava';
import { FrameDecoder, encodeFrame } from '../../src/protocol/frame.js';
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
