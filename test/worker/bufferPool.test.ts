import test from 'ava';
import { BufferPool, MIN_POOLED_BYTES, adopt, isPooled } from '../../src/worker/bufferPool.js';

/** A timer the test fires by hand. */
function manualTimer() {
  const timers: { fn: () => void; armed: boolean }[] = [];
  const setTimer = (fn: () => void) => {
    const timer = { fn, armed: true, refresh: () => void (timer.armed = true) };
    timers.push(timer);
    return timer;
  };
  const fire = () => {
    for (const timer of timers) if (timer.armed) ((timer.armed = false), timer.fn());
  };
  return { setTimer, fire };
}

test('take gives exactly n bytes of a pooled buffer that fits, the smallest one', (t) => {
  const pool = new BufferPool({ setTimer: manualTimer().setTimer });
  const big = new ArrayBuffer(4 * MIN_POOLED_BYTES);
  const small = new ArrayBuffer(2 * MIN_POOLED_BYTES);
  pool.give(big, small);
  const view = pool.take(MIN_POOLED_BYTES + 1);
  t.is(view.length, MIN_POOLED_BYTES + 1);
  t.is(view.buffer, small);
  t.is(pool.size, 1);
  t.true(isPooled(view.buffer));
  const fresh = pool.take(8 * MIN_POOLED_BYTES);
  t.is(fresh.length, 8 * MIN_POOLED_BYTES);
  t.is(fresh.buffer.byteLength, 8 * MIN_POOLED_BYTES, 'a fresh buffer of its own');
  t.true(isPooled(fresh.buffer), 'a fresh buffer may move whole too');
  t.is(pool.takeLargest(), big);
  t.is(pool.takeLargest(), undefined);
});

test('the pool keeps within its bounds, drops small and detached buffers, and empties when idle', (t) => {
  const timer = manualTimer();
  const pool = new BufferPool({ maxBytes: 5 * MIN_POOLED_BYTES, maxBuffers: 2, setTimer: timer.setTimer });
  const detached = new ArrayBuffer(MIN_POOLED_BYTES);
  structuredClone(detached, { transfer: [detached] });
  pool.give(new ArrayBuffer(MIN_POOLED_BYTES - 1), detached, undefined);
  t.is(pool.size, 0);
  pool.give(new ArrayBuffer(MIN_POOLED_BYTES), new ArrayBuffer(2 * MIN_POOLED_BYTES), new ArrayBuffer(3 * MIN_POOLED_BYTES));
  t.is(pool.size, 2, 'at most maxBuffers, the largest kept');
  t.is(pool.bytes, 5 * MIN_POOLED_BYTES);
  pool.give(new ArrayBuffer(4 * MIN_POOLED_BYTES));
  t.true(pool.bytes <= 5 * MIN_POOLED_BYTES);
  const kept = pool.take(1);
  pool.give(kept.buffer);
  timer.fire();
  t.is(pool.size, 0, 'an idle pool lets its memory go');
  pool.give(new ArrayBuffer(MIN_POOLED_BYTES));
  pool.take(1);
  t.is(pool.size, 0);
});

test('adopt marks a buffer as movable whole', (t) => {
  const buffer = new ArrayBuffer(16);
  t.false(isPooled(buffer));
  t.is(adopt(buffer), buffer);
  t.true(isPooled(buffer));
});
