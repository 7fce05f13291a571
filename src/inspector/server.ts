import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import createDebug from 'debug';
import { InvalidOptionError } from '../errors.js';
import { describe } from '../options.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import { inspectorPanels } from './panels.js';
import { PANELS_JS } from './panelsScript.js';
import { hostSnapshot, machineCharts, type ChartGraph } from './snapshot.js';
import type { InspectedHost } from './source.js';

const debug = createDebug('warden:inspector');

export interface InspectOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** A loopback address to listen on: `127.0.0.1` (default), `::1` or `localhost`. */
  host?: string;
}

/** A running inspector server. */
export interface Inspector {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** Ends the event streams and stops the server. Idempotent. */
  close(): Promise<void>;
}

/**
 * Events buffered per page that reads them slower than the host emits: past this the page is
 * told how many it missed (an `events:overflow` record) instead of the server's memory growing.
 */
export const EVENTS_BUFFER_PER_CLIENT = 1000;

/** Static responses: they only talk to this server (no external asset, works offline). */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

const EVENT_STREAM = 'text/event-stream; charset=utf-8';

const INSPECT_OPTION_NAMES = ['port', 'host'];

function inspectOptions(options: InspectOptions): { port: number; host: string } {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`Expected the inspect options to be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!INSPECT_OPTION_NAMES.includes(key)) {
      throw new InvalidOptionError(`Unknown inspect option \`${key}\`; known: ${INSPECT_OPTION_NAMES.join(', ')}`, { details: { option: key } });
    }
  }
  const port = options.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidOptionError(`Expected the \`port\` option to be an integer from 0 to 65535, got ${describe(port)}`, { details: { option: 'port' } });
  }
  const host = options.host ?? '127.0.0.1';
  // The page shows what the host runs and serves no authentication: it stays on this machine.
  if (!isLoopback(host)) {
    throw new InvalidOptionError(`Expected the \`host\` option to be a loopback address (127.0.0.1, ::1 or localhost), got ${describe(host)}`, {
      details: { option: 'host' },
    });
  }
  return { port, host };
}

function isLoopback(host: unknown): host is string {
  if (host === 'localhost' || host === '::1') return true;
  return typeof host === 'string' && net.isIPv4(host) && host.startsWith('127.');
}

/**
 * A request whose Host header names another machine came through a name that resolves here
 * (DNS rebinding): a web page elsewhere must not read the inspector through its own origin.
 */
function hostHeaderIsLoopback(header: string | undefined): boolean {
  if (!header) return false;
  const name = header.startsWith('[') ? header.slice(1, header.indexOf(']')) : header.replace(/:\d+$/, '');
  return isLoopback(name);
}

/** Starts the inspector's HTTP server for a host. Use `host.inspect()`. @internal */
export async function startInspector(host: InspectedHost, options: InspectOptions = {}): Promise<Inspector> {
  const { port, host: address } = inspectOptions(options);
  const charts = machineCharts();
  const streams = new Set<AsyncIterator<unknown>>();
  const server = http.createServer((req, res) => {
    void route(host, charts, streams, req, res).catch((error: Error) => {
      debug('request %s failed: %s', req.url, error.message);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });
  await listen(server, port, address);
  // After startup an error of the server is only worth a log line: the host runs on.
  server.on('error', (error) => debug('server error: %s', error.message));
  const bound = server.address() as AddressInfo;
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/`;
  debug('inspector at %s', url);
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        // The event streams never end on their own: end them, then drop idle keep-alive sockets.
        await Promise.all([...streams].map((stream) => stream.return?.()));
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}

/** Listens, or says why it cannot (the port is taken, or reserved) as an option error. */
async function listen(server: http.Server, port: number, address: string): Promise<void> {
  server.listen(port, address);
  try {
    await once(server, 'listening');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new InvalidOptionError(`Cannot listen on ${address} port ${port}: ${code === 'EADDRINUSE' ? 'the port is in use' : message}`, {
      details: { option: 'port' },
      cause: error,
    });
  }
}

type Streams = Set<AsyncIterator<unknown>>;

/**
 * A browser marks the requests that a page of another site makes (`Sec-Fetch-Site`). Such a
 * page cannot read the answers, but it could still make the inspector work for it (an event
 * stream per request): refused before anything is done. Clients other than browsers send no
 * such header.
 */
function fromAnotherSite(req: http.IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  return site === 'cross-site' || site === 'same-site';
}

async function route(host: InspectedHost, charts: ChartGraph[], streams: Streams, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (!hostHeaderIsLoopback(req.headers.host)) {
    res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' }).end('the inspector only answers requests addressed to a loopback host\n');
    return;
  }
  if (fromAnotherSite(req)) {
    res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' }).end('the inspector only answers its own page\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  const path = new URL(req.url ?? '/', 'http://inspector').pathname;
  switch (path) {
    case '/':
      return send(res, 'text/html; charset=utf-8', PAGE_HTML);
    case '/app.js':
      return send(res, 'text/javascript; charset=utf-8', PAGE_JS);
    case '/app.css':
      return send(res, 'text/css; charset=utf-8', PAGE_CSS);
    case '/state':
      return send(res, 'application/json', JSON.stringify({ machines: charts, ...hostSnapshot(host) }));
    case '/panels':
      return send(res, 'application/json', JSON.stringify(await inspectorPanels(host)));
    case '/panels.js':
      return send(res, 'text/javascript; charset=utf-8', PANELS_JS);
    case '/metrics':
      return send(res, host.metricsContentType, await host.metrics());
    case '/events':
      if (req.method === 'HEAD') return void res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': EVENT_STREAM }).end();
      return streamEvents(host, streams, res);
    default:
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
  }
}

function send(res: http.ServerResponse, contentType: string, body: string): void {
  res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) }).end(body);
}

/**
 * `/events`: the host's events as Server-Sent Events, one JSON record per message. A page that
 * reads slowly (the socket stops draining) leaves them in the host's bounded event buffer,
 * which reports what it had to drop as an `events:overflow` record.
 */
async function streamEvents(host: InspectedHost, streams: Streams, res: http.ServerResponse): Promise<void> {
  const events = host.events({ bufferSize: EVENTS_BUFFER_PER_CLIENT });
  streams.add(events);
  // The page went away: stop reading events, and stop waiting for a drain that cannot come.
  const gone = new AbortController();
  res.once('close', () => {
    gone.abort();
    void events.return?.();
  });
  res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': EVENT_STREAM, Connection: 'keep-alive' });
  // The comment line makes the browser's EventSource report "open" at once.
  res.write(': warden inspector\n\n');
  try {
    for await (const record of events) {
      if (!res.write(`data: ${JSON.stringify(record)}\n\n`)) await once(res, 'drain', { signal: gone.signal });
    }
  } catch (error) {
    debug('event stream ended: %s', (error as Error).message);
  } finally {
    streams.delete(events);
    res.end();
  }
}
