/**
 * What `warden diagram` prints is Mermaid that Mermaid itself accepts: every diagram it
 * prints, alone or in the Markdown document of `--machine all`, goes through `mermaid.parse`
 * of the real `mermaid` package, loaded into Chromium from node_modules over 127.0.0.1 (no
 * network), and so do the generated blocks of docs/architecture.md.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import test from 'ava';
import type { Page } from 'playwright-core';
import { launchChromium, needsChromium } from '../helpers/browser.js';
import { warden } from '../helpers/cli.js';

declare const mermaid: { parse(text: string): Promise<{ diagramType: string }> };

const MERMAID_JS = path.join(path.dirname(createRequire(import.meta.url).resolve('mermaid/package.json')), 'dist/mermaid.min.js');

/** The fenced mermaid blocks of a Markdown text. */
function fencedBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```mermaid\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** A page with mermaid loaded, served from node_modules on 127.0.0.1 (closed after the test). */
async function mermaidPage(t: import('ava').ExecutionContext): Promise<{ page: Page; remote: string[] }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/mermaid.min.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      fs.createReadStream(MERMAID_JS).pipe(res);
    } else {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><script src="/mermaid.min.js"></script>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const remote: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(origin)) remote.push(request.url());
  });
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => typeof (globalThis as { mermaid?: unknown }).mermaid === 'object');
  return { page, remote };
}

/** What mermaid.parse says of a text: the diagram type, or the error message. */
function parse(page: Page, text: string): Promise<{ ok: true; type: string } | { ok: false; error: string }> {
  return page.evaluate(async (source) => {
    try {
      return { ok: true as const, type: (await mermaid.parse(source)).diagramType };
    } catch (error) {
      return { ok: false as const, error: String((error as Error)?.message ?? error) };
    }
  }, text);
}

needsChromium(test)('every diagram warden diagram prints parses with the real Mermaid parser', async (t) => {
  const { page, remote } = await mermaidPage(t);
  // The parser refuses what is not one diagram: two diagrams in one stream, as warden once printed.
  const two = 'stateDiagram-v2\n    [*] --> a\nstateDiagram-v2\n    [*] --> b\n';
  t.false((await parse(page, two)).ok, 'two diagrams in one document do not parse');

  for (const machine of ['worker', 'supervisor']) {
    const { code, stdout } = await warden(['diagram', '--machine', machine]);
    t.is(code, 0);
    t.deepEqual(await parse(page, stdout), { ok: true, type: 'stateDiagram' }, `--machine ${machine}`);
  }

  // The default, every machine: a Markdown document with a fenced block per machine.
  const all = await warden(['diagram']);
  t.is(all.code, 0);
  const blocks = fencedBlocks(all.stdout);
  t.is(blocks.length, 2);
  t.is(all.stdout.replace(/^```mermaid\n[\s\S]*?^```$/gm, '').trim(), '## worker machine\n\n\n\n## supervisor machine', 'nothing but headings outside the blocks');
  for (const block of blocks) t.deepEqual(await parse(page, block), { ok: true, type: 'stateDiagram' });

  const doc = fencedBlocks(fs.readFileSync('docs/architecture.md', 'utf8'));
  t.is(doc.length, 2, 'docs/architecture.md has the worker and supervisor diagrams');
  for (const block of doc) t.deepEqual(await parse(page, block), { ok: true, type: 'stateDiagram' });
  t.deepEqual(remote, [], 'nothing was loaded from outside 127.0.0.1');
});
