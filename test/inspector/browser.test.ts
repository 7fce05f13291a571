/**
 * The inspector page in a real browser (Debian's chromium, driven by playwright-core) against a
 * real host: it loads nothing from outside 127.0.0.1, draws one chart per machine and one row
 * per worker, follows a worker through its states while a job runs, and its event log pauses
 * and filters. Every wait is on the page's DOM, never a sleep.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TimeoutError, type Host, type HostOptions } from '../../src/index.js';
import { demoModule, startDemo } from '../../src/inspector/demo.js';
import { machineCharts } from '../../src/inspector/snapshot.js';
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

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.resolve('test-output/inspector.png');
const DOCS_SCREENSHOT = path.resolve('docs/inspector.png');

async function launch(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Opens the inspector; every URL the page requests is recorded. */
async function openPage(browser: Browser, url: string): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
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
async function inspectInBrowser(t: ExecutionContext, executeWorkers: number, options: HostOptions = {}): Promise<{ host: Host; url: string; page: Page; requests: string[] }> {
  const { host } = await startHost(t, { executeWorkers, ...options });
  const { url } = await host.inspect();
  const browser = await launch();
  t.teardown(() => browser.close());
  return { host, url, ...(await openPage(browser, url)) };
}

const workerRows = (page: Page) => page.locator('#workers tbody tr').count();

test.serial('the page loads only from 127.0.0.1, draws each machine and lists each worker', async (t) => {
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

test.serial("a worker's highlighted state follows a running job, and back", async (t) => {
  // Fuel for far longer than the test waits: the CPU-time limit, the backstop, ends the spin.
  const { host, page } = await inspectInBrowser(t, 1, { limits: { maxFuel: 1e15 } });
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

  await t.throwsAsync(job, { instanceOf: TimeoutError });
  await page.waitForFunction(() => {
    const node = document.querySelector('svg[data-machine="worker"] [data-state="worker.running.awaiting"]');
    return node?.getAttribute('data-count') === '0' && document.querySelectorAll('#running tbody tr').length === 0;
  });
  t.pass();
});

test.serial("event data is shown as text: markup in a job's error message is not run", async (t) => {
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

test.serial('the event log pauses, resumes and filters; /metrics answers; screenshot', async (t) => {
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
