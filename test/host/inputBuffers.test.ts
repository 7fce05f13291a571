/**
 * The host's copies of execute inputs (src/host/inputBuffers.ts): a big one lives in memory reused
 * from job to job, which goes back only once the job has settled and no write of it is under way.
 */
import test from 'ava';
import crypto from 'node:crypto';
import { InputBuffers } from '../../src/host/inputBuffers.js';
import { waitFor } from '../helpers/host.js';

const MiB = 1024 * 1024;

test('a copy is taken at once: the caller may change its buffer afterwards', (t) => {
  const buffers = new InputBuffers();
  for (const n of [10, 3 * MiB]) {
    const input = crypto.randomBytes(n);
    const expected = Buffer.from(input);
    const copy = buffers.copy(input);
    input.fill(0);
    t.true(Buffer.from(copy.bytes).equals(expected), `${n} bytes`);
    t.is(copy.bytes.byteLength, n);
  }
});

test('the memory goes back only when the job has settled and every write of it has ended, in any order', (t) => {
  const buffers = new InputBuffers();
  const copy = buffers.copy(Buffer.alloc(3 * MiB, 1));
  const first = copy.hold();
  const retry = copy.hold();
  copy.release();
  t.is(buffers.idleBytes, 0, 'settled, but two writes are under way');
  first();
  first();
  t.is(buffers.idleBytes, 0, 'a write ending twice counts once');
  retry();
  t.is(buffers.idleBytes, 4 * MiB, 'back, as whole 2 MiB pages');
  copy.release();
  t.is(buffers.idleBytes, 4 * MiB, 'release is idempotent');

  const other = buffers.copy(Buffer.alloc(3 * MiB, 2));
  const write = other.hold();
  write();
  t.is(buffers.idleBytes, 0, 'written, but the job is not settled: it may be sent again');
  other.release();
  t.is(buffers.idleBytes, 4 * MiB);
});

test('a later input reuses the memory, with its own bytes; a much smaller one does not take a big buffer', (t) => {
  const buffers = new InputBuffers();
  const a = buffers.copy(crypto.randomBytes(5 * MiB));
  a.release();
  const input = crypto.randomBytes(5 * MiB - 100);
  const b = buffers.copy(input);
  t.is(b.bytes.buffer, a.bytes.buffer, 'the same memory');
  t.true(Buffer.from(b.bytes).equals(input));
  t.is(b.bytes.byteLength, input.length, 'a view of exactly the input: no byte of the earlier one is sent');
  b.release();
  const small = buffers.copy(crypto.randomBytes(MiB + 1));
  t.not(small.bytes.buffer, a.bytes.buffer, 'a 2 MiB input does not hold a 6 MiB buffer');
  t.is(buffers.idleBytes, 6 * MiB);
});

test('idle memory is bounded (the oldest go first) and let go on clear; small inputs are never pooled', (t) => {
  const buffers = new InputBuffers(8 * MiB, 60_000);
  const copies = [buffers.copy(Buffer.alloc(3 * MiB)), buffers.copy(Buffer.alloc(3 * MiB)), buffers.copy(Buffer.alloc(3 * MiB))];
  for (const copy of copies) copy.release();
  t.is(buffers.idleBytes, 8 * MiB, 'two of three 4 MiB buffers kept');
  const big = buffers.copy(Buffer.alloc(9 * MiB));
  big.release();
  t.is(buffers.idleBytes, 8 * MiB, 'one larger than the bound is not kept');
  buffers.clear();
  t.is(buffers.idleBytes, 0);
  const small = buffers.copy(Buffer.alloc(1000));
  small.hold()();
  small.release();
  t.is(buffers.idleBytes, 0);
});

test('idle memory is let go after the idle time', async (t) => {
  const buffers = new InputBuffers(64 * MiB, 50);
  buffers.copy(Buffer.alloc(2 * MiB)).release();
  t.is(buffers.idleBytes, 2 * MiB);
  // Liveness, not timing: the timer fires at some point after 50 ms, however loaded the machine.
  const idle = await waitFor(() => buffers.idleBytes, (n) => n === 0, 10_000);
  t.is(idle, 0);
});
