/**
 * Runs a command on a real pseudo-terminal (python3's pty module, test/fixtures/on-terminal.py),
 * for what a command does only when its output is a terminal: a final newline, a progress bar
 * that fits the width and follows a resize, a note before it reads stdin from the keyboard.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const SCRIPT = path.resolve('test/fixtures/on-terminal.py');

/** After `after` was written to the terminal, type `send` or resize it to `columns`. */
export type TerminalStep = { after: string; send: string } | { after: string; columns: number };

export interface TerminalRun {
  /** Everything written to the terminal (stdout and stderr both), as text. */
  output: string;
  exitCode: number;
  /** Where in `output` each step was taken. */
  marks: number[];
}

/** Runs `argv` on a terminal `columns` wide; rejects if it has not ended within `timeoutSeconds`. */
export async function onTerminal(argv: string[], options: { columns: number; steps?: TerminalStep[]; timeoutSeconds?: number }): Promise<TerminalRun> {
  const spec = { argv, columns: options.columns, steps: options.steps ?? [], timeoutSeconds: options.timeoutSeconds ?? 90 };
  const { stdout } = await exec('python3', [SCRIPT, JSON.stringify(spec)], { env: { PATH: process.env.PATH }, maxBuffer: 64 * 1024 * 1024 });
  const result = JSON.parse(stdout) as { output: string; exitCode: number; marks: number[]; timedOut: boolean };
  const bytes = Buffer.from(result.output, 'base64');
  const output = bytes.toString('utf8');
  if (result.timedOut) throw new Error(`${argv.join(' ')} did not end within ${spec.timeoutSeconds} s on the terminal; it wrote: ${JSON.stringify(output)}`);
  const marks = result.marks.map((offset) => bytes.subarray(0, offset).toString('utf8').length);
  return { output, exitCode: result.exitCode, marks };
}
