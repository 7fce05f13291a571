/**
 * `host.metrics()`: Prometheus text that parses line by line, counters that move by exactly
 * the jobs run (failures under their code), and a registry per host.
 */
import test from 'ava';
import { register as globalRegistry } from 'prom-client';
import type { Host } from '../../src/index.js';
import { hello, idleWorkers, nextEvent, sleepCode, startScheduler } from '../helpers/scheduler.js';
import { fixtures } from '../helpers/wat.js';

type Samples = Map<string, number>;

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const HELP = new RegExp(`^# HELP (${NAME}) .+$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*)\\})? (\\S+)$`);
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;

/**
 * A strict reader of Prometheus' text format: every line is `# HELP`, `# TYPE`, a sample or
 * blank; every sample belongs to a family whose TYPE came before it (histograms add
 * `_bucket`, `_sum` and `_count`). Samples are keyed `name{labels sorted}`.
 */
function parse(text: string): Samples {
  const types = new Map<string, string>();
  const samples: Samples = new Map();
  for (const [index, line] of text.split('\n').entries()) {
    const where = `line ${index + 1}: ${JSON.stringify(line)}`;
    if (line === '' || HELP.test(line)) continue;
    const type = TYPE.exec(line);
    if (type) {
      if (types.has(type[1]!)) throw new Error(`${where}: a second TYPE`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample || !VALUE.test(sample[3]!)) throw new Error(`${where}: not a HELP, TYPE or sample line`);
    const [, name, labels = '', value] = sample;
    const family = types.has(name!) ? name! : name!.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(family)) throw new Error(`${where}: no TYPE before the sample`);
    if (family !== name && types.get(family) !== 'histogram' && types.get(family) !== 'summary') throw new Error(`${where}: suffix on a ${types.get(family)}`);
    const key = `${name}{${labels.split(/,(?=[a-zA-Z_])/).filter(Boolean).sort().join(',')}}`;
    if (samples.has(key)) throw new Error(`${where}: a duplicate sample`);
    samples.set(key, Number(value!.replace('Inf', 'Infinity')));
  }
  return samples;
}

/** `name{a="1",b="2"}` with the labels in any order. */
function key(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;
}

async function read(host: Host): Promise<(name: string, labels: Record<string, string>) => number> {
  const samples = parse(await host.metrics());
  return (name, labels) => samples.get(key(name, labels)) ?? 0;
}

test('the strict parser refuses what is not Prometheus text', (t) => {
  t.throws(() => parse('warden_x 1'), { message: /no TYPE/ });
  t.throws(() => parse('# TYPE warden_x counter\nwarden_x{kind=execute} 1'), { message: /not a HELP/ });
  t.throws(() => parse('# TYPE warden_x counter\nwarden_x one'), { message: /not a HELP/ });
  t.is(parse('# HELP warden_x X\n# TYPE warden_x counter\nwarden_x{kind="execute"} 3\n').get('warden_x{kind="execute"}'), 3);
});

test.serial('the text parses, and job counters and histograms move by exactly the jobs run', async (t) => {
  const { host } = await startScheduler(t);
  t.regex(host.metricsContentType, /^text\/plain/);
  const artifact = await host.prepare(hello.wasm);
  const trap = await host.prepare(fixtures.trap);
  const before = await read(host);
  for (let i = 0; i < 5; i++) await host.execute(artifact, Buffer.from(`run ${i}`));
  for (let i = 0; i < 2; i++) await t.throwsAsync(host.execute(trap, Buffer.from('x'), { priority: 'high' }), { any: true });
  const after = await read(host);
  const delta = (name: string, labels: Record<string, string>): number => after(name, labels) - before(name, labels);
  t.is(delta('warden_jobs_enqueued_total', { kind: 'execute', priority: 'normal' }), 5);
  t.is(delta('warden_jobs_enqueued_total', { kind: 'execute', priority: 'high' }), 2);
  t.is(delta('warden_jobs_finished_total', { kind: 'execute', outcome: 'success' }), 5);
  t.is(delta('warden_jobs_finished_total', { kind: 'execute', outcome: 'E_TRAP' }), 2);
  t.is(delta('warden_jobs_finished_total', { kind: 'prepare', outcome: 'success' }), 0);
  t.is(after('warden_jobs_finished_total', { kind: 'prepare', outcome: 'success' }), 2);
  t.is(delta('warden_job_duration_seconds_count', { kind: 'execute' }), 5);
  t.is(delta('warden_job_cpu_seconds_count', { kind: 'execute' }), 5);
  t.true(delta('warden_job_duration_seconds_sum', { kind: 'execute' }) > 0);
  t.is(after('warden_job_duration_seconds_bucket', { kind: 'execute', le: '+Inf' }), after('warden_job_duration_seconds_count', { kind: 'execute' }));
  t.is(delta('warden_job_peak_rss_bytes_count', { kind: 'execute' }), 5);
  // A sandboxed node with V8 and a job thread takes more than a MiB.
  t.true(delta('warden_job_peak_rss_bytes_sum', { kind: 'execute' }) > 5 * 1024 * 1024);
  // Fuel, by outcome: the five runs of hello and the two traps, each observed once.
  t.is(delta('warden_job_fuel_used_count', { outcome: 'success' }), 5);
  t.is(delta('warden_job_fuel_used_count', { outcome: 'E_TRAP' }), 2);
  t.true(delta('warden_job_fuel_used_sum', { outcome: 'success' }) > 0);
  t.is(after('warden_job_fuel_used_bucket', { outcome: 'success', le: '+Inf' }), after('warden_job_fuel_used_count', { outcome: 'success' }));
  t.is(after('warden_workers_spawned_total', { kind: 'execute' }), 1);
  // Each prepare runs in a process of its own: the first worker, then one spare per prepare.
  await idleWorkers(host, 'prepare');
  t.is((await read(host))('warden_workers_spawned_total', { kind: 'prepare' }), 3);
  await idleWorkers(host, 'execute');
  t.is((await read(host))('warden_workers', { kind: 'execute', state: 'idle' }), 1);
});

test.serial('worker deaths are counted by reason, and the queue depth by pool and priority', async (t) => {
  const { host } = await startScheduler(t);
  const sleeper = await host.prepare(sleepCode(1_000));
  const before = await read(host);
  const exited = nextEvent(host, 'worker:exited', (e) => e.kind === 'execute');
  // Listening first: the job may start within the execute call.
  const started = nextEvent(host, 'job:started', (e) => e.kind === 'execute');
  const running = host.execute(sleeper, Buffer.alloc(0), { isolation: 'job', timeoutMs: 2_000 });
  await started;
  // Waiting behind the sleeping job (1 s): the read below takes a few ms.
  const waiting = [1, 2].map(() => host.execute(sleeper, Buffer.alloc(0), { priority: 'background', timeoutMs: 2_000 }));
  const during = await read(host);
  t.is(during('warden_queue_depth', { kind: 'execute', priority: 'background' }), 2);
  t.is(during('warden_queue_depth', { kind: 'execute', priority: 'normal' }), 0);
  await Promise.all([running, ...waiting]);
  const { reason } = await exited;
  const after = await read(host);
  t.is(after('warden_queue_depth', { kind: 'execute', priority: 'background' }), 0);
  t.is(after('warden_workers_died_total', { kind: 'execute', reason }) - before('warden_workers_died_total', { kind: 'execute', reason }), 1);
});

test.serial('each host has a registry of its own: two hosts do not clash, the global registry is untouched', async (t) => {
  const { host: first } = await startScheduler(t);
  // Prepared before the second host starts: the first host's check thread, which lives until it
  // closes, must not count as fds the second one left open.
  const artifact = await first.prepare(hello.wasm);
  const { host: second } = await startScheduler(t);
  await first.execute(artifact, Buffer.from('first'));
  t.is((await read(first))('warden_jobs_finished_total', { kind: 'execute', outcome: 'success' }), 1);
  t.is((await read(second))('warden_jobs_finished_total', { kind: 'execute', outcome: 'success' }), 0);
  t.false((await globalRegistry.metrics()).includes('warden_'));
});

test.serial('every successful job reports its peak memory, in both isolations', async (t) => {
  const { host } = await startScheduler(t);
  const results = [];
  for (const isolation of ['job', 'worker', 'job', 'worker'] as const) results.push(await host.execute(hello.wasm, Buffer.from(isolation), { isolation }));
  const metrics = await read(host);
  // Nothing is lost for a one-job process that is gone by now: the figure came with its reply.
  t.is(metrics('warden_job_peak_rss_bytes_count', { kind: 'execute' }), 4);
  for (const result of results) {
    // A worker's node is tens of MiB resident, and under the 768 MiB data limit.
    t.true(result.peakRssBytes > 16 * 1024 * 1024, `${result.peakRssBytes}`);
    t.true(result.peakRssBytes < 1024 * 1024 * 1024, `${result.peakRssBytes}`);
  }
  t.is(metrics('warden_job_peak_rss_bytes_sum', { kind: 'execute' }), results.reduce((sum, r) => sum + r.peakRssBytes, 0));
});

test.serial('every known label set is exported at 0 before anything happened', async (t) => {
  const { host } = await startScheduler(t);
  const text = await host.metrics();
  const samples = parse(text);
  const at = (name: string, labels: Record<string, string>): number | undefined => samples.get(key(name, labels));
  // Every state of the worker machine, for both pools, whether or not a worker is in it.
  const states = ['spawning', 'idle', 'running.populating', 'running.awaiting', 'running.collecting', 'clearingDir', 'retiring', 'dead'];
  for (const kind of ['prepare', 'execute']) {
    for (const state of states) t.not(at('warden_workers', { kind, state }), undefined, `warden_workers ${kind} ${state}`);
    t.is(states.reduce((sum, state) => sum + at('warden_workers', { kind, state })!, 0), 1, `one ${kind} worker, in some state`);
    for (const reason of ['spawn-failed', 'clear-failed', 'exited', 'killed', 'hard-timeout', 'retired']) {
      t.is(at('warden_workers_died_total', { kind, reason }), 0, `died ${kind} ${reason}`);
    }
    for (const priority of ['critical', 'high', 'normal', 'background']) t.is(at('warden_jobs_enqueued_total', { kind, priority }), 0);
    for (const outcome of ['success', 'E_TRAP', 'E_TIMEOUT', 'E_PREVALIDATION', 'E_WORKER_DIED']) t.is(at('warden_jobs_finished_total', { kind, outcome }), 0);
    t.is(at('warden_workers_spawned_total', { kind }), 1);
    for (const histogram of ['warden_job_duration_seconds', 'warden_job_cpu_seconds', 'warden_job_peak_rss_bytes']) {
      t.is(at(`${histogram}_count`, { kind }), 0, histogram);
      t.is(at(`${histogram}_bucket`, { kind, le: '+Inf' }), 0, histogram);
    }
  }
  // And a state that empties reads 0 rather than vanishing.
  await host.execute(hello.wasm, Buffer.from('x'));
  await idleWorkers(host, 'execute');
  const after = await read(host);
  t.is(after('warden_workers', { kind: 'execute', state: 'idle' }), 1);
  t.true(parse(await host.metrics()).has(key('warden_workers', { kind: 'execute', state: 'running.awaiting' })));
});
