import test from 'ava';
import { DEFAULT_IDLE_CPU_POLICY, IdleCpuWatch, cpuMsOfStat, readProcessCpuMs } from '../../src/actors/idleCpu.js';

/** A watch on a clock and a CPU counter the test moves. */
function setup(policy = DEFAULT_IDLE_CPU_POLICY) {
  const state = { now: 0, cpu: new Map<number, number>() };
  const watch = new IdleCpuWatch<string>(policy, () => state.now, (pid) => state.cpu.get(pid));
  /** One tick: time passes, each worker uses `used[pid]` ms of CPU, the pool samples the idle ones. */
  const tick = (used: Record<number, number>, epochs: Record<number, number> = {}) => {
    state.now += policy.periodMs;
    for (const [pid, ms] of Object.entries(used)) state.cpu.set(Number(pid), (state.cpu.get(Number(pid)) ?? 0) + ms);
    return watch.sample(Object.keys(used).map((pid) => ({ key: `w${pid}`, pid: Number(pid), epoch: epochs[Number(pid)] ?? 1 })));
  };
  return { watch, tick, state };
}

test('a spinning idle worker is reported once its burst is spent; a quiet one never', (t) => {
  const { tick } = setup();
  t.deepEqual(tick({ 1: 0, 2: 0 }), [], 'the first sample is the baseline');
  // 1000 ms/s spinning: 500 ms of burst + 20 ms/s refill are gone within the first second.
  const over = tick({ 1: 1000, 2: 5 });
  t.deepEqual(over, [{ key: 'w1', cpuMs: 1000, idleMs: 1000 }]);
  for (let i = 0; i < 100; i++) t.deepEqual(tick({ 2: 15 }), [], 'below 2 % of a core: never');
});

test('a niced spinner that gets a tenth of a core is caught too, after its burst', (t) => {
  const { tick } = setup();
  tick({ 1: 0 });
  let seconds = 0;
  while (tick({ 1: 100 }).length === 0) seconds++;
  // 500 ms burst drained at 100 − 20 ms per second.
  t.is(seconds, 6);
});

test('a burst of background work after a job (garbage collection, compilation) is allowed', (t) => {
  const { tick } = setup();
  tick({ 1: 0 });
  t.deepEqual(tick({ 1: 450 }), []);
  for (let i = 0; i < 30; i++) t.deepEqual(tick({ 1: 2 }), []);
  // The bucket has refilled: another burst is fine.
  t.deepEqual(tick({ 1: 450 }), []);
});

test('CPU used while running a job does not count: a new epoch starts a new stretch, the bucket is kept', (t) => {
  const { tick } = setup();
  tick({ 1: 0 }, { 1: 1 });
  // Between these samples it ran a job (epoch 2) that used 5 s of CPU.
  t.deepEqual(tick({ 1: 5000 }, { 1: 2 }), []);
  t.deepEqual(tick({ 1: 300 }, { 1: 2 }), []);
  // What it spent idle stays spent across jobs: short idle gaps cannot reset it.
  t.deepEqual(tick({ 1: 0 }, { 1: 3 }), []);
  t.is(tick({ 1: 300 }, { 1: 3 }).length, 1);
});

test('a counter that goes back (another process under the pid) starts over; a gone process is skipped', (t) => {
  const { tick, state, watch } = setup();
  tick({ 1: 0 });
  state.cpu.set(1, -10_000);
  t.deepEqual(tick({ 1: 0 }), []);
  state.now += 1000;
  t.deepEqual(watch.sample([{ key: 'gone', pid: 99, epoch: 1 }]), []);
});

test('the stat line is read after the last parenthesis: a process cannot forge its CPU time with its name', (t) => {
  const fields = (utime: number, stime: number) => `S 1 1 1 0 -1 4194560 10 0 0 0 ${utime} ${stime} 0 0 20 0 1 0 100 1000 10`;
  t.is(cpuMsOfStat(`42 (node) ${fields(150, 50)}`), 2000);
  t.is(cpuMsOfStat(`42 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0) ${fields(3, 4)}`), 70);
  t.is(cpuMsOfStat('garbage'), undefined);
  const own = readProcessCpuMs(process.pid);
  t.true(own !== undefined && own > 0);
  t.is(readProcessCpuMs(2 ** 30), undefined);
});
