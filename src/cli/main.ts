#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { WardenError } from '../errors.js';
import { packagePaths } from '../sandbox/paths.js';
import { UsageError, nodeParseArgsMessage } from './args.js';
import { batchCommand, batchHelp } from './batch.js';
import { cacheCommand, cacheHelp } from './cache.js';
import { diagramCommand, diagramHelp } from './diagram.js';
import { inspectCommand, inspectHelp } from './inspect.js';
import { prepareCommand, prepareHelp } from './prepare.js';
import { runCommand, runHelp } from './run.js';
import { securityCommand, securityHelp } from './security.js';
import { serveCommand, serveHelp } from './serve.js';
import { submitCommand, submitHelp } from './submit.js';
import { InterruptedError } from './session.js';

const commands: Record<string, { run: (argv: string[]) => Promise<number>; summary: string; help: string }> = {
  run: { run: runCommand, summary: 'prepare and execute a module once, output to stdout', help: runHelp },
  batch: { run: batchCommand, summary: 'run many jobs from a file of JSON lines, with a summary per outcome', help: batchHelp },
  prepare: { run: prepareCommand, summary: 'prepare a module into the cache and describe the artifact', help: prepareHelp },
  cache: { run: cacheCommand, summary: 'list, prune or clear the cached artifacts', help: cacheHelp },
  security: { run: securityCommand, summary: 'check the sandbox layers this machine offers', help: securityHelp },
  diagram: { run: diagramCommand, summary: 'print state diagrams of the worker and supervisor machines', help: diagramHelp },
  inspect: { run: inspectCommand, summary: 'serve a live web page of the host: state charts, workers, queues, events', help: inspectHelp },
  serve: { run: serveCommand, summary: 'run a node that takes jobs from a BullMQ queue on Redis', help: serveHelp },
  submit: { run: submitCommand, summary: 'add a job to a BullMQ queue for the nodes, and wait for its result', help: submitHelp },
};

/** Our own usage errors and parseArgs' (unknown option, missing option value). */
function isUsageError(error: unknown): error is Error {
  if (error instanceof UsageError) return true;
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

const mainHelp = `Usage: warden <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`)
  .join('\n')}

Options:
  -h, --help     show help (also after a command: warden security --help)
  -v, --version  print the version

Set DEBUG=warden:* to see what the host does.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // No command is a usage error like the others: the help goes to stderr, stdout stays empty.
  if (name === undefined) {
    process.stderr.write(`warden: missing <command>\n\n${mainHelp}\n`);
    return 2;
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${mainHelp}\n`);
    return 0;
  }
  if (name === '-v' || name === '--version') {
    process.stdout.write(`${JSON.parse(readFileSync(packagePaths.packageJson, 'utf8')).version}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`warden: unknown command "${name}"\n\n${mainHelp}\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (!isUsageError(error)) throw error;
    const message = error instanceof UsageError ? error.message : nodeParseArgsMessage(error);
    process.stderr.write(`warden ${name}: ${message}\nRun "warden ${name} --help" for usage.\n`);
    return 2;
  }
}

// A reader that goes away (`warden run ... | head -c1`) is not an error of the command.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof WardenError) {
      process.stderr.write(`warden: ${error.code}: ${error.message}\n`);
      process.exitCode = 1;
    } else if (error instanceof InterruptedError) {
      process.stderr.write(`warden: ${error.message}\n`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(`warden: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 70;
    }
  },
);
