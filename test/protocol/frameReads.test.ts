/**
 * Reads straight into the decoder (`readTarget`/`pushRead`, `readFrames`, `frameSocket`): a big
 * body's bytes are read into the body itself, anything else into one buffer the reader reuses.
 */
import test from 'ava';
import crypto from 'node:crypto';
import type net from 'node:net';
import { FrameDecoder, encodeFrame, frameSocket, readFrames, writeFrame, type Frame } from '../../src/protocol/frame.js';
import { ProtocolError } from '../../src/errors.js';
import { loadAddon } from '../../src/shared/addon.js';

/**
 * Feeds `stream` to `decoder` as a socket would: each read lands in the decoder's target when it
 * has one, else in `scratch` (overwritten with garbage after each read, as a reused buffer is),
 * at most `readBytes` at a time. Returns the frames and how many bytes went straight into a body.
 */
function feed(decoder: FrameDecoder, stream: Buffer, readBytes: number, scratch = Buffer.alloc(readBytes)): { frames: Frame[]; direct: number } {
  const frames: Frame[] = [];
  let direct = 0;
  for (let at = 0; at < stream.length; ) {
    const target = decoder.readTarget();
    const into = target ?? scratch;
    const n = Math.min(into.length, readBytes, stream.length - at);
    stream.copy(into, 0, at, at + n);
    at += n;
    if (target) direct += n;
    frames.push(...decoder.pushRead(into, n));
    if (!target) scratch.fill(0xee);
  }
  return { frames, direct };
}

test('a big body is read straight into the body; the frames around it come out whole', (t) => {
  const body = crypto.randomBytes(2 * 1024 * 1024 + 5);
  const stream = Buffer.concat([encodeFrame(1, 1, { a: 1 }), encodeFrame(2, 7, { big: true }, body), encodeFrame(3, 8, null, Buffer.from('after'))]);
  for (const readBytes of [64 * 1024, 4096, 1000, 3 * 1024 * 1024]) {
    const decoder = new FrameDecoder();
    const { frames, direct } = feed(decoder, stream, readBytes);
    t.is(frames.length, 3, `reads of ${readBytes}`);
    t.deepEqual(frames[0]!.header, { a: 1 });
    t.deepEqual(frames[1]!.header, { big: true });
    t.true(Buffer.from(frames[1]!.body).equals(body), `reads of ${readBytes}: the body byte for byte`);
    t.is(Buffer.from(frames[2]!.body).toString(), 'after', `reads of ${readBytes}: a small frame after a reused read buffer`);
    // Only what the read that carried the head also carried of the body was copied.
    t.true(direct >= body.length - readBytes, `reads of ${readBytes}: ${direct} of ${body.length} bytes read straight into the body`);
    t.is(decoder.pending, 0);
  }
});

test('the read target is the unfilled rest of the body the frame then carries', (t) => {
  const body = crypto.randomBytes(1024 * 1024);
  const stream = encodeFrame(4, 2, null, body);
  let given: Buffer | undefined;
  const decoder = new FrameDecoder({
    allocBody: (n) => {
      given = Buffer.alloc(n);
      return given;
    },
  });
  const scratch = Buffer.alloc(4096);
  t.is(decoder.readTarget(), undefined, 'no body is being filled before a head arrives');
  stream.copy(scratch, 0, 0, 4096);
  t.deepEqual(decoder.pushRead(scratch, 4096), []);
  const target = decoder.readTarget()!;
  t.is(target.buffer, given!.buffer);
  t.is(target.byteOffset, given!.byteOffset + (4096 - (stream.length - body.length)));
  t.is(target.length, stream.length - 4096);
  stream.copy(target, 0, 4096);
  const [frame] = decoder.pushRead(target, target.length);
  t.is(frame!.body, given!);
  t.true(Buffer.from(frame!.body).equals(body));
});

test('with reads into the decoder, a big body is reserved at its header (untouched memory), not once half of it has arrived', (t) => {
  const body = crypto.randomBytes(1024 * 1024);
  const stream = encodeFrame(5, 1, null, body);
  const sizes: number[] = [];
  const decoder = new FrameDecoder({
    allocBody: (n) => {
      sizes.push(n);
      return Buffer.allocUnsafeSlow(n);
    },
  });
  decoder.readTarget();
  const scratch = Buffer.alloc(100);
  stream.copy(scratch, 0, 0, 100);
  decoder.pushRead(scratch, 100);
  t.deepEqual(sizes, [body.length]);
  t.truthy(decoder.readTarget(), 'the next read goes into the body');
});

test('what the decoder keeps of a reused read buffer is a copy: a frame split across reads survives the buffer being overwritten', (t) => {
  const frames = [encodeFrame(1, 1, { n: 1 }, Buffer.from('one')), encodeFrame(2, 2, { n: 2 }, crypto.randomBytes(30_000))];
  const stream = Buffer.concat(frames);
  const decoder = new FrameDecoder();
  const out = feed(decoder, stream, 7).frames;
  t.is(out.length, 2);
  t.is(Buffer.from(out[0]!.body).toString(), 'one');
  t.true(Buffer.from(out[1]!.body).equals(stream.subarray(frames[0]!.length + 13 + 7)));
});

test('readFrames: a protocol error goes to onError once, reading stops, and the decoder stays failed', (t) => {
  const decoder = new FrameDecoder({ maxFrame: 1000 });
  const errors: ProtocolError[] = [];
  const got: Frame[] = [];
  const onread = readFrames(decoder, (frames) => got.push(...frames), (error) => errors.push(error));
  const buffer = () => (typeof onread.buffer === 'function' ? onread.buffer() : onread.buffer) as Buffer;
  const ok = encodeFrame(1, 1, null, Buffer.from('x'));
  let into = buffer();
  ok.copy(into);
  t.true(onread.callback(ok.length, into));
  t.is(got.length, 1);
  into = buffer();
  into.writeUInt32BE(1_000_000, 0);
  t.false(onread.callback(4, into), 'reading stops');
  t.is(errors.length, 1);
  t.true(errors[0] instanceof ProtocolError);
  t.throws(() => decoder.pushRead(Buffer.alloc(1), 1), { instanceOf: ProtocolError });
});

function socketPair(): [net.Socket, net.Socket, { a: Frame[]; b: Frame[]; errors: Error[] }] {
  const [x, y] = loadAddon().socketPair(4 * 1024 * 1024);
  const seen = { a: [] as Frame[], b: [] as Frame[], errors: [] as Error[] };
  const a = frameSocket(x, new FrameDecoder(), (frames) => seen.a.push(...frames), (error) => seen.errors.push(error));
  const b = frameSocket(y, new FrameDecoder(), (frames) => seen.b.push(...frames), (error) => seen.errors.push(error));
  return [a, b, seen];
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

test('frameSocket on an addon socketpair: big and small frames both ways, byte for byte', async (t) => {
  const [a, b, seen] = socketPair();
  t.teardown(() => {
    a.destroy();
    b.destroy();
  });
  const big = crypto.randomBytes(9 * 1024 * 1024 + 3);
  const parts = [crypto.randomBytes(2 * 1024 * 1024), crypto.randomBytes(70_000)];
  writeFrame(a, 1, 1, { to: 'b' }, big);
  writeFrame(a, 2, 2, { small: true }, Buffer.from('hi'));
  writeFrame(b, 3, 3, { to: 'a' }, parts);
  await until(() => seen.b.length === 2 && seen.a.length === 1);
  t.true(Buffer.from(seen.b[0]!.body).equals(big));
  t.is(Buffer.from(seen.b[1]!.body).toString(), 'hi');
  t.true(Buffer.from(seen.a[0]!.body).equals(Buffer.concat(parts)));
  t.deepEqual(seen.errors, []);
});

test('frameSocket: the end of the peer is seen (end, then close), with no frame and no error', async (t) => {
  const [a, b, seen] = socketPair();
  const events: string[] = [];
  a.on('end', () => events.push('end'));
  const closed = new Promise<void>((resolve) => a.once('close', () => resolve()));
  b.end();
  await closed;
  t.deepEqual(events, ['end']);
  t.deepEqual(seen.a, []);
  t.deepEqual(seen.errors, []);
});
