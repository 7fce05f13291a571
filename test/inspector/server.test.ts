/**
 * The inspector's server over plain HTTP (the browser tests cover the page), its options,
 * the `inspect` option of `createHost` with XState's own inspection API, and the demo module.
 */
import http from 'node:http';
import test from 'ava';
import type { InspectionEvent } from 'xstate';
import { createHost, HostClosedError, InvalidOptionError, type Host } from '../../src/index.js';
import { DEMO_WAT, demoModule } from '../../src/inspector/demo.js';
import { EVENTS_BUFFER_PER_CLIENT } from '../../src/inspector/server.js';
import { machineCharts, type ChartGraph } from '../../src/inspector/snapshot.js';
import { startHost, tempCacheDir, waitFor } from '../helpers/host.js';
import { readEvents } from '../helpers/sse.js';
import { wat } from '../helpers/wat.js';

/** What `/state` answers (the part these tests read). */
interface StateJson {
  machines: ChartGraph[];
  workers: { id: string; state: string }[];
  pools: { kind: string; state: string }[];
  queues: { prepare: Record<string, number>; execute: Record<string, number> };
  security: { secure: boolean };
}

async function readState(url: string): Promise<StateJson> {
  return (await (await fetch(new URL('/state', url))).json()) as StateJson;
}

/** The machine an inspection event is about (`worker` or `supervisor`). */
function machineOf(event: InspectionEvent): string {
  return (event.actorRef as unknown as { logic: { id: string } }).logic.id;
}

/** A GET with a chosen Host header (fetch does not let one set it) and other headers. */
function getWithHost(url: string, hostHeader: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { ...headers, host: hostHeader } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject);
  });
}

test.serial('/state describes machines, workers, pools, queues and security; /events streams host events', async (t) => {
  const { host } = await startHost(t);
  const { url } = await host.inspect({ host: '127.0.0.1', port: 0 });
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await fetch(url);
  t.is(page.status, 200);
  t.regex(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);

  const state = await readState(url);
  // As JSON: without the undefined fields.
  t.deepEqual(state.machines, JSON.parse(JSON.stringify(machineCharts())));
  t.deepEqual(state.pools.map((p) => p.kind).sort(), ['execute', 'prepare']);
  t.deepEqual(Object.keys(state.queues.execute), ['critical', 'high', 'normal', 'background']);
  t.is(state.security.secure, host.securityStatus.secure);

  // Every state a worker reports is a node of the worker chart (`worker.` + its state).
  const workerNodes = new Set(state.machines.find((m) => m.machine === 'worker')!.states.map((s) => s.id));
  const seen = new Set<string>();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const streamed = readEvents(url, (records) => records.some((r) => r.type === 'job:succeeded'), opened);
  await open;
  host.on('worker:state', ({ state: value }) => seen.add(value));
  const code = demoModule();
  await host.execute(code, Buffer.from('ok'));
  const { response, records } = await streamed;
  t.is(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.true(records.some((r) => r.type === 'job:started'));
  t.true(seen.size >= 3);
  for (const value of seen) t.true(workerNodes.has(`worker.${value}`), `worker.${value} is drawn`);
  for (const s of (await readState(url)).workers) t.true(workerNodes.has(`worker.${s.state}`));
});

test.serial("a burst beyond a page's buffer reaches it as an events:overflow record, then events flow on", async (t) => {
  const { host } = await startHost(t);
  const { url } = await host.inspect();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const last = `burst-${EVENTS_BUFFER_PER_CLIENT * 5 - 1}`;
  const streamed = readEvents(url, (records) => records.some((r) => r.data.jobId === 'after'), opened);
  await open;
  // Synchronous: the stream cannot send any of it before the burst ends, so all but the
  // buffer's worth are dropped and counted.
  for (let i = 0; i < EVENTS_BUFFER_PER_CLIENT * 5; i++) host.emitSafely('job:queued', { jobId: `burst-${i}`, kind: 'execute', priority: 'normal' });
  setImmediate(() => host.emitSafely('job:queued', { jobId: 'after', kind: 'execute', priority: 'normal' }));
  const { records } = await streamed;
  const burst = records.filter((r) => String(r.data.jobId).startsWith('burst-'));
  const overflow = records.filter((r) => r.type === 'events:overflow');
  t.is(overflow.length, 1);
  // The buffer's worth, plus the one the waiting stream took at once.
  t.true(burst.length <= EVENTS_BUFFER_PER_CLIENT + 1, String(burst.length));
  t.is(burst.length + Number(overflow[0]!.data.dropped), EVENTS_BUFFER_PER_CLIENT * 5, 'every event is delivered or counted');
  t.false(burst.some((r) => r.data.jobId === last));
});

test.serial('a page that goes away while its stream waits for an event unsubscribes at once', async (t) => {
  const { host } = await startHost(t);
  const { url } = await host.inspect();
  // An idle host emits nothing: no later event can end the stream in its place.
  const idle = (workers: { state: string }[]): boolean => workers.length === 2 && workers.every((w) => w.state === 'idle');
  t.true(idle(await waitFor(() => host.workers(), idle)));
  const listeners = host.listenerCount('job:failed');
  // Disconnects as soon as the stream is open, before any event: the server waits on the next one.
  await readEvents(url, () => true);
  t.is(await waitFor(() => host.listenerCount('job:failed'), (n) => n === listeners), listeners);
});

test.serial('requests addressed to another host name (DNS rebinding) or made by another site are refused', async (t) => {
  const { host } = await startHost(t);
  const { url } = await host.inspect();
  const port = new URL(url).port;
  t.is(await getWithHost(new URL('/state', url).href, `evil.example:${port}`), 403);
  t.is(await getWithHost(new URL('/state', url).href, `localhost:${port}`), 200);
  // What a browser says of a request that a page of another site makes: refused, even for /events.
  for (const site of ['cross-site', 'same-site']) {
    for (const path of ['/state', '/events', '/metrics']) {
      t.is(await getWithHost(new URL(path, url).href, `127.0.0.1:${port}`, { 'sec-fetch-site': site }), 403, `${site} ${path}`);
    }
  }
  t.is(await getWithHost(new URL('/state', url).href, `127.0.0.1:${port}`, { 'sec-fetch-site': 'same-origin' }), 200);
  t.is(await getWithHost(url, `127.0.0.1:${port}`, { 'sec-fetch-site': 'none' }), 200);
  t.is((await fetch(new URL('/nothing', url))).status, 404);
  t.is((await fetch(new URL('/state', url), { method: 'POST' })).status, 405);
});

test.serial('inspect options are checked: only loopback addresses, a free port', async (t) => {
  const { host } = await startHost(t);
  for (const options of [{ host: '0.0.0.0' }, { host: '192.168.1.10' }, { host: 'example.com' }, { port: -1 }, { port: 70_000 }, { port: 1.5 }, { listen: 1 }]) {
    await t.throwsAsync(host.inspect(options as never), { instanceOf: InvalidOptionError }, JSON.stringify(options));
  }
  const { url } = await host.inspect();
  await t.throwsAsync(host.inspect({ port: Number(new URL(url).port) }), { instanceOf: InvalidOptionError, message: /port \d+: the port is in use/ });
});

test.serial('host.close() closes its inspectors; inspect() after close is refused', async (t) => {
  const cacheDir = await tempCacheDir();
  const host: Host = await createHost({ cacheDir, executeWorkers: 1 });
  const first = await host.inspect();
  const second = await host.inspect();
  await second.close();
  await t.throwsAsync(fetch(second.url));
  // An open event stream does not hold the close up.
  const open = await fetch(new URL('/events', first.url));
  await host.close();
  await t.throwsAsync(fetch(first.url));
  t.is((await open.text()).startsWith(': warden inspector'), true);
  await t.throwsAsync(host.inspect(), { instanceOf: HostClosedError });
  await first.close();
});

test.serial('the inspect option passes an XState inspector to every machine actor', async (t) => {
  const events: InspectionEvent[] = [];
  const observed: InspectionEvent[] = [];
  const { host } = await startHost(t, { inspect: (event) => events.push(event) });
  await host.execute(demoModule(), Buffer.from('ok'));
  const machineIds = (type: string) => new Set(events.filter((e) => e.type === type).map(machineOf));
  t.deepEqual([...machineIds('@xstate.actor')].sort(), ['supervisor', 'worker']);
  const workerSnapshots = events.flatMap((e) => (e.type === '@xstate.snapshot' && machineOf(e) === 'worker' ? [e] : []));
  const values = new Set(workerSnapshots.map((e) => JSON.stringify((e.snapshot as unknown as { value: unknown }).value)));
  t.true(values.has('"idle"') && values.has(JSON.stringify({ running: 'awaiting' })), [...values].join(' '));
  t.true(events.some((e) => e.type === '@xstate.event' && (e.event as { type: string }).type === 'ASSIGN'));

  // An observer object with `next`, as @statelyai/inspect's `inspector.inspect` is.
  const { host: other } = await startHost(t, { inspect: { next: (event: InspectionEvent) => observed.push(event) } });
  await other.execute(demoModule(), Buffer.from('ok'));
  t.true(observed.some((e) => e.type === '@xstate.snapshot'));
});

test.serial('an inspect option that throws is ignored: the host starts and runs jobs', async (t) => {
  let calls = 0;
  const inspect = (): void => {
    calls++;
    throw new Error('the inspector throws');
  };
  for (const option of [inspect, { next: inspect }]) {
    const { host } = await startHost(t, { inspect: option });
    const result = await host.execute(demoModule(), Buffer.from('ok'));
    t.is(Buffer.from(result.output).toString(), 'ok');
  }
  t.true(calls > 0);
});

test('the inspect option must be a function or an observer', async (t) => {
  for (const inspect of [42, 'yes', null, {}, { next: 1 }]) {
    await t.throwsAsync(createHost({ inspect: inspect as never }), { instanceOf: InvalidOptionError, message: /inspect/ });
  }
});

test('the demo module embedded for the CLI is what wabt makes of its source', (t) => {
  t.deepEqual(demoModule(), wat(DEMO_WAT));
});
