import { createHost } from '../host.js';
import { startDemo } from '../inspector/demo.js';
import { UsageError, commonHelp, commonOptions, parseArgs, requirePositionals } from './args.js';
import { InterruptedError } from './session.js';

export const inspectHelp = `Usage: warden inspect [--demo] [--port N]

Starts a host and serves the inspector, a web page on 127.0.0.1 that draws the worker and
supervisor state charts and shows live which state each worker is in, the queues by
priority, running jobs, the security status and the host's events. Prints the page's
address, then runs until Ctrl-C. /metrics on the same address serves Prometheus text.

Options:
  --demo             feed the host a steady mix of good and failing jobs, to watch it work
  --port N           the port to listen on (default: a free one)
${commonHelp}

Ctrl-C (SIGINT) or SIGTERM stops it: the host is closed, then the command exits.
Exit code: 0 when stopped by Ctrl-C or SIGTERM (its normal end), 1 when the host cannot
start (warden: E_CODE: message on stderr, e.g. E_SANDBOX_UNAVAILABLE or E_CACHE_LOCKED),
2 for a usage error, 130 / 143 when a second Ctrl-C / SIGTERM ends it at once.`;

/** Execute workers of the inspected host: two, so the page shows jobs side by side. */
const EXECUTE_WORKERS = 2;

function parsePort(text: string): number {
  const port = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(port) || port > 65_535) throw new UsageError(`--port expects a number from 0 to 65535, got "${text}"`);
  return port;
}

/**
 * Resolves with the first SIGINT or SIGTERM; a second one exits at once (the launcher's
 * parent-death signal still takes the workers down).
 */
function untilSignal(): { signalled: Promise<NodeJS.Signals>; dispose(): void } {
  let onSignal!: (signal: NodeJS.Signals) => void;
  let received = false;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (signal) => {
      if (received) process.exit(new InterruptedError(signal).exitCode);
      received = true;
      resolve(signal);
    };
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signalled,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** `warden inspect`: a host with the inspector until Ctrl-C, which is its normal end (exit 0). */
export async function inspectCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...commonOptions, demo: { type: 'boolean' }, port: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${inspectHelp}\n`);
    return 0;
  }
  requirePositionals(positionals, []);
  const port = values.port === undefined ? 0 : parsePort(values.port);
  // Listening before the host starts: a Ctrl-C during startup still closes it.
  const signals = untilSignal();
  try {
    const host = await createHost({
      ...(values['cache-dir'] === undefined ? {} : { cacheDir: values['cache-dir'] }),
      allowInsecure: values['allow-insecure'] ?? false,
      prepareWorkers: 1,
      executeWorkers: EXECUTE_WORKERS,
    });
    try {
      const inspector = await host.inspect({ port });
      const demo = values.demo ? startDemo(host) : undefined;
      process.stdout.write(`warden inspector: ${inspector.url}\n${demo ? 'Feeding demo jobs (some fail on purpose). ' : ''}Press Ctrl-C to stop.\n`);
      const signal = await signals.signalled;
      process.stderr.write(`warden: ${signal}: stopping\n`);
      // Force: waiting and running jobs are cancelled rather than finished.
      await host.close({ force: true });
      await demo?.stop();
    } finally {
      await host.close({ force: true });
    }
    return 0;
  } finally {
    signals.dispose();
  }
}
