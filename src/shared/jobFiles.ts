/**
 * How a job's argv, environment and files cross the IPC channel: raw bytes after the input (in an
 * Execute request) or after the output and log (in an ExecuteResult), never base64, never in the
 * JSON header. The host encodes requests and decodes replies; the worker does the reverse. Every
 * decode checks counts, lengths and names against the limits before it keeps anything: a worker's
 * reply is untrusted input to the host.
 *
 * ```
 * strings: u32 count, then count × (u32 length, UTF-8 bytes)
 * files:   u32 count, then count × (u32 name length, UTF-8 name, u32 data length, data)
 * request: strings (argv) ‖ strings (environment, NAME=value) ‖ files
 * reply:   files
 * ```
 * Integers are big-endian, as in the frame header.
 */

/** The limits that bound what crosses: the same ones the job's directory enforces. */
export interface JobFilesLimits {
  maxFiles: number;
  maxFilesBytes: number;
  maxPathBytes: number;
  maxArgsBytes: number;
}

export interface JobConfig {
  args: string[];
  env: string[];
  files: [string, Uint8Array][];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The longest name of one path component (Linux's NAME_MAX). */
export const MAX_NAME_BYTES = 255;

/**
 * Why `name` is not a file name a job's directory can hold, or undefined if it is one: a relative
 * path of `/`-separated components, none empty, `.` or `..`, no NUL, within the length limits.
 */
export function fileNameProblem(name: string, maxPathBytes: number): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'is empty';
  const bytes = encoder.encode(name).byteLength;
  if (bytes > maxPathBytes) return `is ${bytes} bytes long, more than ${maxPathBytes} (maxPathBytes)`;
  if (name.includes('\0')) return 'contains a NUL character';
  if (name.startsWith('/')) return 'is absolute (names are relative to the job directory)';
  for (const part of name.split('/')) {
    if (part === '') return 'has an empty component (a doubled or trailing slash)';
    if (part === '.' || part === '..') return `has a "${part}" component`;
    if (encoder.encode(part).byteLength > MAX_NAME_BYTES) return `has a component longer than ${MAX_NAME_BYTES} bytes`;
  }
  if (/[\uD800-\uDFFF]/u.test(name.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) return 'is not valid Unicode (a lone surrogate)';
  return undefined;
}

/**
 * Why a set of names cannot be one directory's files, or undefined: no name twice, and no name
 * both a file and a directory (`a` and `a/b`).
 */
export function fileSetProblem(names: readonly string[]): string | undefined {
  const files = new Set<string>();
  for (const name of names) {
    if (files.has(name)) return `"${name}" is given twice`;
    files.add(name);
  }
  for (const name of names) {
    for (let slash = name.indexOf('/'); slash !== -1; slash = name.indexOf('/', slash + 1)) {
      if (files.has(name.slice(0, slash))) return `"${name.slice(0, slash)}" is both a file and a directory`;
    }
  }
  return undefined;
}

/** Bytes the strings take as argv or environ in the job (each with its NUL): what maxArgsBytes bounds. */
export function argsBytes(strings: readonly string[]): number {
  return strings.reduce((sum, s) => sum + encoder.encode(s).byteLength + 1, 0);
}

/** The largest encoded request section and reply section the limits allow (for the frame bound). */
export function maxEncodedBytes(limits: JobFilesLimits): { request: number; reply: number } {
  const files = 4 + limits.maxFiles * (8 + limits.maxPathBytes) + limits.maxFilesBytes;
  // Each string costs its bytes plus a NUL in the job (maxArgsBytes) and a 4-byte length here.
  return { request: 8 + limits.maxArgsBytes * 5 + files, reply: files };
}

class Writer {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  offset = 0;

  constructor(length: number) {
    this.bytes = new Uint8Array(length);
    this.#view = new DataView(this.bytes.buffer);
  }

  u32(value: number): void {
    this.#view.setUint32(this.offset, value);
    this.offset += 4;
  }

  raw(bytes: Uint8Array): void {
    this.u32(bytes.byteLength);
    this.bytes.set(bytes, this.offset);
    this.offset += bytes.byteLength;
  }
}

function encodeParts(args: readonly Uint8Array[] | undefined, env: readonly Uint8Array[] | undefined, files: readonly (readonly [Uint8Array, Uint8Array])[]): Uint8Array {
  const lists = [args, env].filter((list) => list !== undefined);
  let length = 4 + files.reduce((sum, [name, data]) => sum + 8 + name.byteLength + data.byteLength, 0);
  for (const list of lists) length += 4 + list.reduce((sum, s) => sum + 4 + s.byteLength, 0);
  const writer = new Writer(length);
  for (const list of lists) {
    writer.u32(list.length);
    for (const s of list) writer.raw(s);
  }
  writer.u32(files.length);
  for (const [name, data] of files) {
    writer.raw(name);
    writer.raw(data);
  }
  return writer.bytes;
}

/** The request section: argv, environment and the job directory's files. */
export function encodeJobConfig(config: JobConfig): Uint8Array {
  const utf8 = (s: string) => encoder.encode(s);
  return encodeParts(config.args.map(utf8), config.env.map(utf8), config.files.map(([name, data]) => [utf8(name), data] as const));
}

/** The reply section: the files a job leaves. */
export function encodeFileList(files: readonly (readonly [string, Uint8Array])[]): Uint8Array {
  return encodeParts(undefined, undefined, files.map(([name, data]) => [encoder.encode(name), data] as const));
}

/** Thrown for a section that breaks the format or the limits. */
export class JobFilesFormatError extends Error {
  override name = 'JobFilesFormatError';
}

class Reader {
  readonly #view: DataView;
  offset = 0;

  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u32(what: string): number {
    if (this.offset + 4 > this.bytes.byteLength) throw new JobFilesFormatError(`${what}: the section ends early`);
    const value = this.#view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  /** A length-prefixed run of bytes, as a view (no copy). */
  raw(what: string, max: number): Uint8Array {
    const length = this.u32(what);
    if (length > max) throw new JobFilesFormatError(`${what} of ${length} bytes is over its bound of ${max}`);
    if (this.offset + length > this.bytes.byteLength) throw new JobFilesFormatError(`${what}: the section ends early`);
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  text(what: string, max: number): string {
    try {
      return decoder.decode(this.raw(what, max));
    } catch (error) {
      if (error instanceof JobFilesFormatError) throw error;
      throw new JobFilesFormatError(`${what} is not UTF-8`);
    }
  }
}

function readStrings(reader: Reader, what: string, limits: JobFilesLimits, budget: { args: number }): string[] {
  const count = reader.u32(`${what} count`);
  if (count > limits.maxArgsBytes) throw new JobFilesFormatError(`${count} ${what} strings are more than maxArgsBytes allows`);
  const out: string[] = [];
  for (let n = 0; n < count; n++) {
    const s = reader.text(`${what} string`, limits.maxArgsBytes);
    if (s.includes('\0')) throw new JobFilesFormatError(`${what} string ${n} contains a NUL`);
    budget.args -= encoder.encode(s).byteLength + 1;
    if (budget.args < 0) throw new JobFilesFormatError(`argv and environment are over maxArgsBytes (${limits.maxArgsBytes})`);
    out.push(s);
  }
  return out;
}

function readFiles(reader: Reader, limits: JobFilesLimits): [string, Uint8Array][] {
  const count = reader.u32('file count');
  if (count > limits.maxFiles) throw new JobFilesFormatError(`${count} files are more than maxFiles (${limits.maxFiles})`);
  const files: [string, Uint8Array][] = [];
  let total = 0;
  for (let n = 0; n < count; n++) {
    const name = reader.text('file name', limits.maxPathBytes);
    const problem = fileNameProblem(name, limits.maxPathBytes);
    if (problem !== undefined) throw new JobFilesFormatError(`file name ${JSON.stringify(name.slice(0, 200))} ${problem}`);
    const data = reader.raw(`file ${JSON.stringify(name.slice(0, 200))}`, limits.maxFilesBytes);
    total += data.byteLength;
    if (total > limits.maxFilesBytes) throw new JobFilesFormatError(`files of more than ${limits.maxFilesBytes} bytes in all (maxFilesBytes)`);
    files.push([name, data]);
  }
  const setProblem = fileSetProblem(files.map(([name]) => name));
  if (setProblem !== undefined) throw new JobFilesFormatError(setProblem);
  return files;
}

function finished(reader: Reader): void {
  if (reader.offset !== reader.bytes.byteLength) {
    throw new JobFilesFormatError(`${reader.bytes.byteLength - reader.offset} bytes follow the end of the section`);
  }
}

/** Decodes and checks a request section; file contents are views of `bytes`. */
export function decodeJobConfig(bytes: Uint8Array, limits: JobFilesLimits): JobConfig {
  const reader = new Reader(bytes);
  const budget = { args: limits.maxArgsBytes };
  const args = readStrings(reader, 'argv', limits, budget);
  const env = readStrings(reader, 'environment', limits, budget);
  const files = readFiles(reader, limits);
  finished(reader);
  return { args, env, files };
}

/** Decodes and checks a reply section; file contents are views of `bytes`. */
export function decodeFileList(bytes: Uint8Array, limits: JobFilesLimits): [string, Uint8Array][] {
  const reader = new Reader(bytes);
  const files = readFiles(reader, limits);
  finished(reader);
  return files;
}
