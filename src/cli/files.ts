import fsp from 'node:fs/promises';
import { PrevalidationError, WardenError } from '../errors.js';

/**
 * A file named on the command line cannot be read (missing, a directory, no permission).
 * A CLI-only code: the library never reads files the caller names.
 */
export class FileReadError extends WardenError {
  readonly code = 'E_READ_FILE';
  readonly deterministic = false;
}

const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
};

/** Reads a file named on the command line; `what` says which (`module`, `input`) in the message. */
export async function readNamedFile(what: string, file: string): Promise<Uint8Array> {
  try {
    return await fsp.readFile(file);
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw new FileReadError(`cannot read ${what} ${file}: ${REASONS[errno] ?? (error as Error).message} (${errno})`, {
      cause: error,
      details: { file, errno },
    });
  }
}

/** A module named on the command line; an empty file is said to be one, with its name. */
export async function readModule(file: string): Promise<Uint8Array> {
  const code = await readNamedFile('module', file);
  if (code.byteLength === 0) throw new PrevalidationError(`module ${file} is an empty file (0 bytes)`, { details: { file } });
  return code;
}

/**
 * All of stdin, for `--input -` (`what` names it in the message). On a terminal the command
 * would otherwise wait in silence for what it reads: it says so first.
 */
export async function readStdin(what = 'the input'): Promise<Uint8Array> {
  if (process.stdin.isTTY) process.stderr.write(`warden: reading ${what} from stdin, the terminal: end it with Ctrl-D\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What `--input` names: nothing (an empty input), `-` (stdin) or a file. */
export function readInput(input: string | undefined): Promise<Uint8Array> {
  if (input === undefined) return Promise.resolve(new Uint8Array(0));
  if (input === '-') return readStdin();
  return readNamedFile('input', input);
}
