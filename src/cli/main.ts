#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { WardenError } from '../errors.js';
import { packagePaths } from '../sandbox/paths.js';
import { securityCommand, securityHelp } from './security.js';

const commands: Record<string, { run: (argv: string[]) => Promise<number>; summary: string; help: string }> = {
  security: { run: securityCommand, summary: 'check the sandbox layers this machine offers', help: securityHelp },
};

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
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${mainHelp}\n`);
    return name === undefined ? 2 : 0;
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
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof WardenError) {
      process.stderr.write(`warden: ${error.code}: ${error.message}\n`);
      process.exitCode = 1;
    } else if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`warden: ${(error as Error).message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`warden: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 70;
    }
  },
);
