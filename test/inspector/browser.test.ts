/**
 * The inspector page in a real browser (Debian's chromium, driven by playwright-core) against a
 * real host: it loads nothing from outside 127.0.0.1, draws one chart per machine and one row
 * per worker, follows a worker through its states while a job runs, and its event log pauses
 * and filters. Every wait is on the page's DOM, never a sleep.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { Browser, Page } from 'playwright-core';
import { TimeoutError, type Host, type HostOptions } from '../../src/index.js';
import { demoModule, startDemo } from '../../src/inspector/demo.js';
import { machineCharts } from '../../src/inspector/snapshot.js';
import { launchChromium, needsChromium } from '../helpers/browser.js';
import { startHost } from '../helpers/host.js';

/** The page's DOM as the callbacks below use it: they run in the browser, and the tests compile without the DOM library. */
interface PageElement {
  getAttribute(name: string): string | null;
  classList: { contains(name: string): boolean };
  dataset: Record<string, string | undefined>;
}
declare const document: {
  body: PageElement;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): { length: number };
  getElementById(id: string): PageElement | null;
};

const SCREENSHOT = path.resolve('test-output/inspector.png');
const DOCS_SCREENSHOT = path.resolve('docs/inspector.png');

const launch = launchChromium;
/** The browser tests: they need chromium (they skip, saying so, where it is missing; CI requires it). */
const browserTest = needsChromium(test.serial);

/** Opens the inspector; every URL the page requests is recorded. */
async function openPage(browser: Browser, url: string, viewport = { width: 1280, height: 800 }): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage({ viewport });
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.charts !== undefined);
  if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
  return { page, requests };
}

/** A host with `executeWorkers` execute workers, its inspector, and the page open in a browser (closed after the test). */
async function inspectInBrowser(
  t: ExecutionContext,
  executeWorkers: number,
  viewport?: { width: number; height: number },
  options: HostOptions = {},
): Promise<{ host: Host; url: string; page: Page; requests: string[]; browser: Browser }> {
  const { host } = await startHost(t, { executeWorkers, ...options });
  const { url } = await host.inspect();
  const browser = await launch();
  t.teardown(() => browser.close());
  return { host, url, browser, ...(await openPage(browser, url, viewport)) };
}

/**
 * Edges of a chart that pass through a state box other than their ends and the states around
 * or inside them, checked on the drawn paths (40 points each), not on the page's own routing.
 */
async function edgesCrossingStates(page: Page, machine: string): Promise<string[]> {
  return page.evaluate((name) => {
    const document = (globalThis as any).document; // eslint-disable-line @typescript-eslint/no-explicit-any
    const svg = document.querySelector(`svg[data-machine="${name}"]`);
    // No named function in here: the test's compiler would wrap it in a helper the page lacks.
    const boxes = [...svg.querySelectorAll('g.state')].map((g: any) => ({ id: g.getAttribute('data-state'), box: g.querySelector('rect').getBBox() })); // eslint-disable-line @typescript-eslint/no-explicit-any
    const crossing: string[] = [];
    for (const path of svg.querySelectorAll('path.edge[data-source][data-target]')) {
      const source = path.getAttribute('data-source');
      const target = path.getAttribute('data-target');
      const length = path.getTotalLength();
      for (const { id, box } of boxes) {
        const nearSource = source !== 'any' && (id === source || id.startsWith(`${source}.`) || source.startsWith(`${id}.`));
        if (nearSource || id === target || id.startsWith(`${target}.`) || target.startsWith(`${id}.`)) continue;
        for (let i = 2; i <= 38; i++) {
          const point = path.getPointAtLength((length * i) / 40);
          if (point.x > box.x + 2 && point.x < box.x + box.width - 2 && point.y > box.y + 2 && point.y < box.y + box.height - 2) {
            crossing.push(`${source} → ${target} crosses ${id}`);
            break;
          }
        }
      }
    }
    return crossing;
  }, machine);
}

const workerRows = (page: Page) => page.locator('#workers tbody tr').count();

browserTest('the page loads only from 127.0.0.1, draws each machine and lists each worker', async (t) => {
  const { host, url, page, requests } = await inspectInBrowser(t, 2);

  const charts = machineCharts();
  t.deepEqual(await page.locator('svg[data-machine]').evaluateAll((svgs) => svgs.map((s) => s.getAttribute('data-machine'))), ['worker', 'supervisor']);
  for (const chart of charts) {
    const drawn = await page.locator(`svg[data-machine="${chart.machine}"] g.state`).evaluateAll((gs) => gs.map((g) => g.getAttribute('data-state')));
    t.deepEqual(drawn, chart.states.map((s) => s.id), `every state of the ${chart.machine} machine is drawn`);
  }

  // One prepare worker and two execute workers, each once in the table, once they have spawned.
  await page.waitForFunction(() => document.querySelectorAll('#workers tbody tr[data-state="idle"]').length === 3);
  t.is(await workerRows(page), 3);
  t.deepEqual(
    (await page.locator('#workers tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-worker')))).sort(),
    host.workers().map((w) => w.id).sort(),
  );
  // The worker chart counts them where they are.
  await page.waitForFunction(() => document.querySelector('svg[data-machine="worker"] [data-state="worker.idle"]')?.getAttribute('data-count') === '3');
  t.is(await page.locator('svg[data-machine="supervisor"] [data-state="supervisor.running"]').getAttribute('data-count'), '2');
  t.is(await page.locator('#security .verdict').getAttribute('data-secure'), String(host.securityStatus.secure));

  const origin = new URL(url).origin;
  // data: URLs (the empty favicon) are not requests to anywhere.
  const remote = requests.filter((r) => !r.startsWith(`${origin}/`) && !r.startsWith('data:'));
  t.deepEqual(remote, [], 'no request leaves 127.0.0.1');
  t.true(origin.startsWith('http://127.0.0.1:'));
  t.true(requests.some((r) => r === `${origin}/events`));
});

browserTest("a worker's highlighted state follows a running job, and back", async (t) => {
  // Fuel for far longer than the test waits: the CPU-time limit, the backstop, ends the spin.
  const { host, page } = await inspectInBrowser(t, 1, undefined, { limits: { maxFuel: 1e15 } });
  const code = demoModule();
  await host.prepare(code);
  await page.waitForFunction(() => document.querySelector('#workers tbody tr[data-state="idle"][data-worker^="execute-"]') !== null);

  // `spin` loops until its CPU-time limit: the worker sits in running.awaiting for over a second.
  const job = host.execute(code, Buffer.from('spin'), { timeoutMs: 1500 });
  await page.waitForFunction(() => {
    const node = document.querySelector('svg[data-machine="worker"] [data-state="worker.running.awaiting"]');
    const row = document.querySelector('#workers tbody tr[data-worker^="execute-"]');
    return node?.getAttribute('data-count') === '1' && node.classList.contains('active') && row?.getAttribute('data-state') === 'running.awaiting';
  });
  t.is(await page.locator('svg[data-machine="worker"] [data-state="worker.running"]').getAttribute('class').then((c) => c?.includes('active-inside')), true);
  t.is(await page.locator('#running tbody tr').count(), 1);
  // Recent transitions show: the arrow idle → running was taken, running.awaiting counts an entry.
  t.true(Number(await page.locator('svg[data-machine="worker"] path.edge[data-source="worker.idle"][data-target="worker.running"]').getAttribute('data-taken')) >= 1);
  t.true(Number(await page.locator('svg[data-machine="worker"] [data-state="worker.running.awaiting"]').getAttribute('data-recent')) >= 1);

  await t.throwsAsync(job, { instanceOf: TimeoutError });
  await page.waitForFunction(() => {
    const node = document.querySelector('svg[data-machine="worker"] [data-state="worker.running.awaiting"]');
    return node?.getAttribute('data-count') === '0' && document.querySelectorAll('#running tbody tr').length === 0;
  });
  t.pass();
});

browserTest("event data is shown as text: markup in a job's error message is not run", async (t) => {
  const { host, page } = await inspectInBrowser(t, 1);
  await page.waitForFunction(() => document.getElementById('connection')?.getAttribute('data-connected') === 'true');
  // An error message may quote what an untrusted module holds (an export name, a custom section).
  const markup = '<img src=x onerror="document.body.dataset.pwned=1"><b>bold</b>';
  host.emitSafely('job:failed', { jobId: '<i>job</i>', kind: 'execute', code: 'E_TRAP', deterministic: true, message: markup });
  await page.waitForFunction(() => document.querySelectorAll('#log li[data-type="job:failed"]').length === 1);
  t.true((await page.locator('#log li[data-type="job:failed"]').textContent())!.includes(`jobId=<i>job</i>`));
  t.true((await page.locator('#log li[data-type="job:failed"]').textContent())!.includes(markup));
  t.is(await page.locator('#log img, #log b, #log i').count(), 0);
  t.is(await page.evaluate(() => document.body.dataset.pwned), undefined);
});

browserTest('the event log pauses, resumes and filters; /metrics answers; screenshot', async (t) => {
  const { host, url, page } = await inspectInBrowser(t, 2);
  const code = demoModule();
  await host.execute(code, Buffer.from('ok'));
  await page.waitForFunction(() => document.querySelectorAll('#log li[data-type="job:succeeded"]').length >= 1);

  // Paused: new events wait (counted), the list stays as it is.
  await page.click('#log-pause');
  t.is(await page.locator('#log').getAttribute('data-paused'), 'true');
  const before = await page.locator('#log li').count();
  await t.throwsAsync(host.execute(code, Buffer.from('trap')), { message: /unreachable|trap/ });
  await page.waitForFunction(() => Number(document.getElementById('log-pending')?.dataset.count ?? 0) >= 3);
  t.is(await page.locator('#log li').count(), before);
  t.is(await page.locator('#log li[data-type="job:failed"]').count(), 0);
  // Resumed: they are all there.
  await page.click('#log-pause');
  await page.waitForFunction(() => document.querySelectorAll('#log li[data-type="job:failed"]').length === 1);
  t.true((await page.locator('#log li').count()) > before);

  // The text filter hides what does not match.
  await page.fill('#log-filter', 'E_TRAP');
  const visible = page.locator('#log li:not([hidden])');
  t.is(await visible.count(), 1);
  t.regex((await visible.first().textContent()) ?? '', /job:failed.*E_TRAP/);
  await page.fill('#log-filter', '');
  // A type checkbox hides its group.
  await page.uncheck('#log-groups input[data-group="worker"]');
  t.is(await page.locator('#log li[data-type^="worker:"]:not([hidden])').count(), 0);
  t.true((await page.locator('#log li[data-type^="job:"]:not([hidden])').count()) >= 4);
  await page.check('#log-groups input[data-group="worker"]');
  t.true((await page.locator('#log li[data-type^="worker:"]:not([hidden])').count()) > 0);

  const metrics = await fetch(new URL('/metrics', url));
  t.is(metrics.status, 200);
  t.is(metrics.headers.get('content-type'), host.metricsContentType);
  t.regex(host.metricsContentType, /^text\/plain; version=0\.0\.4/);
  t.regex(await metrics.text(), /^# HELP /m);

  // The screenshot README shows: the demo's traffic, once a few jobs have ended either way.
  const demo = startDemo(host);
  t.teardown(() => demo.stop());
  await page.waitForFunction(() => {
    const totals = document.getElementById('totals')!.dataset;
    return Number(totals.succeeded) >= 5 && Number(totals.failed) >= 3 && document.querySelectorAll('#running tbody tr').length > 0;
  });
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  t.true(fs.statSync(SCREENSHOT).size > 10_000);
  // README's copy is retaken on request, so a test run leaves the working tree clean.
  if (process.env.WARDEN_UPDATE_SCREENSHOT === '1') fs.copyFileSync(SCREENSHOT, DOCS_SCREENSHOT);
});

browserTest('at 1440×900 the charts sit on top with no edge across a state, and the event log takes the rest', async (t) => {
  const { host, page } = await inspectInBrowser(t, 2, { width: 1440, height: 900 });
  const demo = startDemo(host);
  t.teardown(() => demo.stop());
  await page.waitForFunction(() => document.querySelectorAll('#log li').length >= 40);

  for (const chart of machineCharts()) t.deepEqual(await edgesCrossingStates(page, chart.machine), [], `${chart.machine}: no edge crosses a state`);
  // The root's transitions (EXITED, KILL from any live state) are one arrow from one frame, not one per state.
  const worker = machineCharts().find((c) => c.machine === 'worker')!;
  const rootTargets = new Set(worker.edges.filter((e) => e.fromRoot).map((e) => e.target));
  t.true(rootTargets.size >= 1);
  t.is(await page.locator('svg[data-machine="worker"] .any-live').count(), 1);
  t.is(await page.locator('svg[data-machine="worker"] path.edge[data-source="any"]').count(), rootTargets.size);
  t.is(
    await page.locator('svg[data-machine="worker"] path.edge[data-source]:not([data-source="any"])').count(),
    worker.edges.filter((e) => !e.fromRoot && e.source !== e.target).length,
  );

  const layout = await page.evaluate(() => {
    const document = (globalThis as any).document; // eslint-disable-line @typescript-eslint/no-explicit-any
    const log = document.getElementById('log');
    const line = log.querySelector('li').getBoundingClientRect().height;
    return {
      chartsBottom: document.querySelector('.charts').getBoundingClientRect().bottom,
      lowerTop: document.querySelector('.lower').getBoundingClientRect().top,
      eventsBottom: document.querySelector('.events').getBoundingClientRect().bottom, logHeight: log.clientHeight, line, innerHeight: (globalThis as any).innerHeight }; // eslint-disable-line @typescript-eslint/no-explicit-any
  });
  // No empty band: the panels and the log start right under the charts and reach the bottom.
  t.true(layout.lowerTop - layout.chartsBottom <= 12, JSON.stringify(layout));
  t.true(layout.innerHeight - layout.eventsBottom <= 12, JSON.stringify(layout));
  t.true(layout.logHeight / layout.line >= 20, `the log shows ${Math.floor(layout.logHeight / layout.line)} lines`);
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: path.resolve('test-output/inspector-1440x900.png') });
});

browserTest('at 800 px wide the labels stay readable and wide tables scroll instead of clipping', async (t) => {
  const { host, page, browser, url } = await inspectInBrowser(t, 2, { width: 800, height: 900 });
  const demo = startDemo(host);
  t.teardown(() => demo.stop());
  await page.waitForFunction(() => document.querySelectorAll('#workers tbody tr').length === 3);
  const readable = async (p: Page) =>
    p.evaluate(() => {
      const document = (globalThis as any).document; // eslint-disable-line @typescript-eslint/no-explicit-any
      const sizes: number[] = [];
      for (const svg of document.querySelectorAll('svg[data-machine]')) {
        const scale = svg.getScreenCTM().a;
        for (const text of svg.querySelectorAll('text.name')) sizes.push(scale * parseFloat((globalThis as any).getComputedStyle(text).fontSize)); // eslint-disable-line @typescript-eslint/no-explicit-any
      }
      return Math.min(...sizes);
    });
  t.true((await readable(page)) >= 10, `state names at ${await readable(page)} px`);
  t.true(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth <= 800), 'nothing overflows the page sideways');
  await page.screenshot({ path: path.resolve('test-output/inspector-800.png'), fullPage: true });

  // Narrower still, the tables are wider than their panels: they scroll, nothing is cut off.
  const narrow = (await openPage(browser, url, { width: 420, height: 900 })).page;
  await narrow.waitForFunction(() => document.querySelectorAll('#workers tbody tr').length === 3);
  const tables = await narrow.evaluate(() =>
    [...(globalThis as any).document.querySelectorAll('.scroll')].map((wrapper: any) => ({ // eslint-disable-line @typescript-eslint/no-explicit-any
      wider: wrapper.scrollWidth > wrapper.clientWidth,
      overflowX: (globalThis as any).getComputedStyle(wrapper).overflowX, // eslint-disable-line @typescript-eslint/no-explicit-any
    })),
  );
  t.true(tables.some((table) => table.wider), 'at 420 px some table is wider than its panel');
  for (const table of tables) t.is(table.overflowX, 'auto');
  t.true((await readable(narrow)) >= 10, 'the charts scroll sideways rather than shrink their labels');
});
