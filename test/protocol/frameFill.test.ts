/**
 * Big bodies are filled as they arrive (no chunk kept until the frame is whole), into a buffer the
 * caller provides (`allocBody`), and written from parts without a concatenation.
 */
import test from 'ava';
import crypto from 'node:crypto';
import { FrameDecoder, encodeFrame, writeFrame } from '../../src/protocol/frame.js';
import { ProtocolError } from '../../src/errors.js';

/** Splits `bytes` into chunks of the given sizes, cycling. */
function chunks(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

test('a big body split every which way comes out byte for byte, and frames around it too', (t) => {
  const body = crypto.randomBytes(3 * 1024 * 1024 + 17);
  const stream = Buffer.concat([encodeFrame(1, 1, { a: 1 }), encodeFrame(2, 7, { big: true }, body), encodeFrame(3, 8, null, Buffer.from('after'))]);
  for (const sizes of [[65536], [1, 13, 4096, 100_000], [7, 7, 7, 65536], [stream.length]]) {
    const decoder = new FrameDecoder();
    const frames = chunks(stream, sizes).flatMap((chunk) => decoder.push(chunk));
    t.is(frames.length, 3, `chunk sizes ${sizes.join(',')}`);
    t.deepEqual(frames[0]!.header, { a: 1 });
    t.deepEqual(frames[1]!.header, { big: true });
    t.is(frames[1]!.id, 7);
    t.true(Buffer.from(frames[1]!.body).equals(body));
    t.is(Buffer.from(frames[2]!.body).toString(), 'after');
    t.is(decoder.pending, 0);
    t.is(decoder.partialHead, undefined);
  }
});

test('while a big body fills, pending counts every byte received and the head is known', (t) => {
  const body = Buffer.alloc(1024 * 1024, 3);
  const frame = encodeFrame(9, 4, { x: 'y' }, body);
  const decoder = new FrameDecoder();
  t.deepEqual(decoder.push(frame.subarray(0, 300_000)), []);
  t.is(decoder.pending, 300_000);
  t.is(decoder.partialHead?.bodyLength, body.length);
  t.is(decoder.partialHead?.id, 4);
  t.deepEqual(decoder.push(frame.subarray(300_000, frame.length - 1)), []);
  t.is(decoder.pending, frame.length - 1);
  const [whole] = decoder.push(frame.subarray(frame.length - 1));
  t.true(Buffer.from(whole!.body).equals(body));
  t.is(decoder.pending, 0);
});

test('without allocBody, a big body is allocated once half of it has arrived, not at its header', (t) => {
  const body = crypto.randomBytes(1024 * 1024);
  const frame = encodeFrame(5, 1, null, body);
  const decoder = new FrameDecoder();
  const before = process.memoryUsage().arrayBuffers;
  decoder.push(frame.subarray(0, 100_000));
  t.true(process.memoryUsage().arrayBuffers - before < 512 * 1024, 'a peer that sent 100 KB does not make the decoder hold 1 MiB');
  const frames = chunks(frame.subarray(100_000), [65536]).flatMap((chunk) => decoder.push(chunk));
  t.true(Buffer.from(frames[0]!.body).equals(body));
});

test('a big body lands in the buffer allocBody gives, which is asked for once, after the head was checked', (t) => {
  const body = crypto.randomBytes(500_000);
  const frame = encodeFrame(5, 1, null, body);
  const asked: number[] = [];
  const backing = Buffer.alloc(600_000);
  const heads: number[] = [];
  const decoder = new FrameDecoder({
    checkHead: (head) => void heads.push(head.bodyLength),
    allocBody: (n) => {
      asked.push(n);
      t.is(heads.length, 1, 'the head was checked first');
      return backing.subarray(0, n);
    },
  });
  const frames = chunks(frame, [65536]).flatMap((chunk) => decoder.push(chunk));
  t.deepEqual(asked, [body.length]);
  t.is(frames[0]!.body.buffer, backing.buffer, 'the body is the given buffer');
  t.true(Buffer.from(frames[0]!.body).equals(body));
});

test('a frame whose head is refused allocates nothing; a bad header under a big body is E_PROTOCOL before its body is read', (t) => {
  let allocated = 0;
  const refusing = new FrameDecoder({
    checkHead: () => {
      throw new ProtocolError('no such request');
    },
    allocBody: (n) => {
      allocated += n;
      return Buffer.alloc(n);
    },
  });
  const frame = encodeFrame(5, 1, null, Buffer.alloc(200_000));
  t.throws(() => refusing.push(frame.subarray(0, 70_000)), { instanceOf: ProtocolError });
  t.is(allocated, 0);
  const notJson = encodeFrame(5, 1, 'x', Buffer.alloc(200_000));
  notJson.write('{', 13);
  const decoder = new FrameDecoder({ allocBody: (n) => ((allocated += n), Buffer.alloc(n)) });
  t.throws(() => decoder.push(notJson.subarray(0, 70_000)), { instanceOf: ProtocolError, message: /JSON/ });
  t.is(allocated, 0);
  t.throws(() => decoder.push(notJson.subarray(70_000)), { instanceOf: ProtocolError }, 'the stream stays failed');
});

test('a body above the frame bound is refused at its length, not filled', (t) => {
  let allocated = 0;
  const decoder = new FrameDecoder({ maxFrame: 100_000, allocBody: (n) => ((allocated += n), Buffer.alloc(n)) });
  t.throws(() => decoder.push(encodeFrame(5, 1, null, Buffer.alloc(200_000)).subarray(0, 20)), { instanceOf: ProtocolError, message: /exceeds/ });
  t.is(allocated, 0);
});

test('a body given in parts is written part by part beside its head, done called once they are written', async (t) => {
  const parts = [crypto.randomBytes(70_000), Buffer.alloc(0), crypto.randomBytes(5), crypto.randomBytes(100_000)];
  const writes: Uint8Array[] = [];
  const callbacks: (() => void)[] = [];
  const sink = {
    write: (chunk: Uint8Array, cb?: () => void) => {
      writes.push(chunk);
      if (cb) callbacks.push(cb);
      return true;
    },
    cork: () => {},
    uncork: () => {},
  };
  let done = 0;
  writeFrame(sink, 11, 3, { n: 1 }, parts, () => done++);
  t.is(writes[1], parts[0], 'no copy of a part');
  t.is(writes.length, 4, 'the head and the three non-empty parts');
  t.is(callbacks.length, 1);
  t.is(done, 0);
  callbacks[0]!();
  t.is(done, 1);
  const [frame] = new FrameDecoder().push(Buffer.concat(writes));
  t.true(Buffer.from(frame!.body).equals(Buffer.concat(parts)));
  // Small parts are one buffer with the head.
  writeFrame(sink, 11, 4, null, [Buffer.from('ab'), Buffer.from('cd')], () => done++);
  t.is(writes.length, 5);
  t.is(Buffer.from(new FrameDecoder().push(writes[4]!)[0]!.body).toString(), 'abcd');
  callbacks[1]!();
  t.is(done, 2);
});
