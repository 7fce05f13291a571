import type { HostOptions } from '../options.js';
import { DEFAULT_LIMITS } from '../options.js';
import { UsageError, commonHelp, commonOptions, parseArgs, parseChoice, parseDuration, requirePositionals } from './args.js';
import { parsePositive, queueHelp, queueOf, queueOptions, redactedUrl } from './queueArgs.js';
import { InterruptedError } from './session.js';

export const serveHelp = `Usage: warden serve --redis URL --queue NAME [--concurrency N] [options]

Runs a warden node: takes jobs from a BullMQ queue on Redis (as submitted by "warden submit"
or the warden/bullmq library) and runs each in this machine's sandboxed workers, with its own
artifact cache. Start one per machine; they share the queue.

SIGINT or SIGTERM stops it gracefully: it takes no more jobs, lets running ones finish (up to
--shutdown-grace), hands the others back to the queue, and exits 0. A second signal hands
them back at once; a third exits at once (BullMQ's stalled-job check recovers the jobs).

Options:
${queueHelp}
  --concurrency N    jobs taken from the queue at once (default: the execute workers)
  --node NAME        this node's name in results, metrics and BullMQ (default: host-pid)
  --execute-workers N   execute workers (default: the CPUs of this machine)
  --prepare-workers N   prepare workers (default: 1)
  --isolation worker|job  a process per worker (default) or per job
  --timeout T        CPU time a job may use unless it says: 500ms, 2s, 1m or a number of ms
                     (default: ${DEFAULT_LIMITS.executeTimeoutMs}ms)
  --inspect-port N   serve the inspector (and /metrics) on 127.0.0.1:N; 0 picks a port
  --lock-duration T  a job's lock without renewal (default: 30s); a node silent that long
                     loses its jobs to the others
  --stalled-interval T  how often to look for stalled jobs (default: 30s)
  --max-stalled-count N  stalls a job may suffer before it fails (default: 1)
  --shutdown-grace T  how long running jobs may finish at shutdown (default: 30s)
${commonHelp}

Prints one line when it takes jobs: "warden serve: node NAME on queue Q at URL".`;

/** `warden serve`: a node on a BullMQ queue until SIGINT/SIGTERM. */
export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      ...queueOptions,
      concurrency: { type: 'string' },
      node: { type: 'string' },
      'execute-workers': { type: 'string' },
      'prepare-workers': { type: 'string' },
      isolation: { type: 'string' },
      timeout: { type: 'string' },
      'inspect-port': { type: 'string' },
      'lock-duration': { type: 'string' },
      'stalled-interval': { type: 'string' },
      'max-stalled-count': { type: 'string' },
      'shutdown-grace': { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${serveHelp}\n`);
    return 0;
  }
  requirePositionals(positionals, []);
  const { redis, queue, prefix } = queueOf(values);
  const inspectPort = values['inspect-port'] === undefined ? undefined : parsePort(values['inspect-port']);
  const host: HostOptions = {
    ...(values['cache-dir'] === undefined ? {} : { cacheDir: values['cache-dir'] }),
    allowInsecure: values['allow-insecure'] ?? false,
    ...(values['execute-workers'] === undefined ? {} : { executeWorkers: parsePositive('execute-workers', values['execute-workers']) }),
    ...(values['prepare-workers'] === undefined ? {} : { prepareWorkers: parsePositive('prepare-workers', values['prepare-workers']) }),
    ...(values.isolation === undefined ? {} : { isolation: parseChoice('isolation', values.isolation, ['worker', 'job'] as const) }),
    ...(values.timeout === undefined ? {} : { limits: { executeTimeoutMs: parseDuration('timeout', values.timeout) } }),
  };
  const options = {
    connection: redis,
    host,
    ...(prefix === undefined ? {} : { prefix }),
    ...(values.node === undefined ? {} : { node: values.node }),
    ...(values.concurrency === undefined ? {} : { concurrency: parsePositive('concurrency', values.concurrency) }),
    ...(values['lock-duration'] === undefined ? {} : { lockDurationMs: parseDuration('lock-duration', values['lock-duration']) }),
    ...(values['stalled-interval'] === undefined ? {} : { stalledIntervalMs: parseDuration('stalled-interval', values['stalled-interval']) }),
    ...(values['max-stalled-count'] === undefined ? {} : { maxStalledCount: parsePositive('max-stalled-count', values['max-stalled-count']) }),
    ...(values['shutdown-grace'] === undefined ? {} : { shutdownGraceMs: parseDuration('shutdown-grace', values['shutdown-grace']) }),
  };
  // Loaded here: the other commands do not pay for BullMQ and ioredis at startup.
  const { createWardenWorker } = await import('../bullmq/wardenWorker.js');

  let signals = 0;
  let node: Awaited<ReturnType<typeof createWardenWorker>> | undefined;
  let stop!: (signal: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      stop(signal);
    } else if (signals === 2) {
      process.stderr.write(`warden: ${signal}: handing running jobs back to the queue now\n`);
      void node?.close({ graceMs: 0 });
    } else {
      process.exit(new InterruptedError(signal).exitCode);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    node = await createWardenWorker(queue, options);
    const inspector = inspectPort === undefined ? undefined : await node.host.inspect({ port: inspectPort });
    process.stdout.write(
      `warden serve: node ${node.node} on queue ${queue} at ${redactedUrl(redis)}${inspector ? `; inspector ${inspector.url}` : ''}\n`,
    );
    const signal = await stopped;
    process.stderr.write(`warden: ${signal}: taking no more jobs; running ones may finish (a second signal hands them back now)\n`);
    await node.close();
    process.stderr.write('warden: node stopped\n');
    // A node that had to drop a lost Redis may leave BullMQ's timers behind: they must not
    // keep the process alive once everything of ours is closed.
    setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
    return 0;
  } finally {
    await node?.close({ graceMs: 0 });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function parsePort(text: string): number {
  const port = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(port) || port > 65_535) throw new UsageError(`--inspect-port expects a number from 0 to 65535, got "${text}"`);
  return port;
}
