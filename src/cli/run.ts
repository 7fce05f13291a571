import { missingAbiExports, type Abi, type Artifact } from '../artifactHandle.js';
import { DEFAULT_LIMITS } from '../options.js';
import { UsageError, commonHelp, commonOptions, parseArgs, parseChoice, parseCount, parseDuration } from './args.js';
import { readInput, readModule, readNamedFile } from './files.js';
import { encodeBytes, endLineOnTerminal, reportJsonFailure, roundMs, writeJson } from './format.js';
import { filesJson, moduleJobArgs, readJobFiles, reportFailedJob, writeOutDir } from './jobFiles.js';
import { WardenError } from '../errors.js';
import { withHost } from './session.js';

export const runHelp = `Usage: warden run <module> [--input FILE | -] [--abi run|wasi] [--timeout 2s] [--fuel N]
                  [--file NAME=PATH]... [--env NAME=VALUE]... [--out-dir DIR] [--json] [-- ARGS...]

Prepares <module> (raw, gzip or brotli WebAssembly; cached) and executes it once in a
sandboxed worker. The output goes to stdout as raw bytes, the log (a WASI module's stderr)
to stderr, also when the module fails; on a terminal, a newline ends each if it does not end with one.

Options:
  --input FILE       the input (a WASI module's stdin); "-" reads stdin; none means empty
  --abi run|wasi     the ABI (default: what the module's exports imply)
  --timeout T        CPU time the execution may use: 500ms, 2s, 1m or a number of ms
                     (default: ${DEFAULT_LIMITS.executeTimeoutMs}ms)
  --fuel N           fuel the execution may use, about one unit per instruction; out of
                     it the run fails with E_OUT_OF_FUEL (default: ${DEFAULT_LIMITS.maxFuel})
  --file NAME=PATH   put the file PATH in the job's directory as NAME (repeatable; a bare
                     PATH is named by its base name); the module sees it as NAME or /NAME
  --env NAME=VALUE   set a variable of the module's environment (repeatable)
  --out-dir DIR      write the files the module created or changed into DIR
  --json             print one JSON object instead: { ok, output, outputEncoding, log,
                     fuelUsed, ... }; a failure: { ok: false, error: { code, ..., fuelUsed } }
  -- ARGS...         the module's arguments: its argv is <module> ARGS...
${commonHelp}

Exit code: 0 when the module ran, 1 when it failed (warden: E_CODE: message on stderr; a
WASI module that exits with a code other than 0 is E_EXIT), 2 for a usage error.`;

const ABIS: readonly Abi[] = ['run', 'wasi'];

/** `--abi` names an ABI the module cannot run with: the command line is wrong, not the module. */
function checkAbi(abi: Abi, artifact: Artifact, modulePath: string): void {
  const missing = missingAbiExports(abi, artifact.exports);
  if (missing.length === 0 || artifact.exports.length === 0) return;
  const implied = artifact.abi ? `; its exports imply --abi ${artifact.abi}, the default` : '';
  throw new UsageError(
    `--abi ${abi} runs a module through ${missing.map((name) => `\`${name}\``).join(' and ')}, which ${modulePath} does not export (it exports ${artifact.exports.join(', ')}${implied})`,
  );
}

/** `warden run`: one prepare and one execute on a host of single-worker pools. */
export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      input: { type: 'string' },
      abi: { type: 'string' },
      timeout: { type: 'string' },
      fuel: { type: 'string' },
      json: { type: 'boolean' },
      file: { type: 'string', multiple: true },
      env: { type: 'string', multiple: true },
      'out-dir': { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
    tokens: true,
  });
  if (values.help) {
    process.stdout.write(`${runHelp}\n`);
    return 0;
  }
  const { modulePath, moduleArgs, fileOptions, env, outDir } = moduleJobArgs(argv, { values, positionals, tokens });
  const abi = values.abi === undefined ? undefined : parseChoice('abi', values.abi, ABIS);
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration('timeout', values.timeout);
  const fuel = values.fuel === undefined ? undefined : parseCount('fuel', values.fuel);
  try {
    const code = await readModule(modulePath);
    const input = await readInput(values.input);
    const files = await readJobFiles(fileOptions);
    // The command's own host: --fuel above the default raises its limit for this one run.
    const limits = fuel !== undefined && fuel > DEFAULT_LIMITS.maxFuel ? { limits: { maxFuel: fuel } } : {};
    const session = { cacheDir: values['cache-dir'], allowInsecure: values['allow-insecure'], ...limits };
    const { artifact, result } = await withHost(session, async (host) => {
      const prepared = await host.prepare(code);
      if (abi !== undefined) checkAbi(abi, prepared, modulePath);
      const executed = await host.execute(prepared, input, {
        ...(abi === undefined ? {} : { abi }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        args: [modulePath, ...moduleArgs],
        env,
        files,
        ...(fuel === undefined ? {} : { fuel }),
      });
      return { artifact: prepared, result: executed };
    });
    if (outDir !== undefined) await writeOutDir(outDir, result.files);
    if (values.json) {
      const output = encodeBytes(result.output);
      const log = encodeBytes(result.log);
      writeJson({
        ok: true,
        output: output.text,
        outputEncoding: output.encoding,
        log: log.text,
        logEncoding: log.encoding,
        logTruncated: result.logTruncated,
        files: filesJson(result.files),
        memoryPages: result.memoryPages,
        fuelUsed: result.fuelUsed,
        cpuTimeMs: roundMs(result.cpuTimeMs),
        wallTimeMs: roundMs(result.wallTimeMs),
        workerId: result.workerId,
        artifactKey: result.artifactKey,
        cached: artifact.cached,
      });
    } else {
      process.stderr.write(result.log);
      if (result.logTruncated) {
        const cut = result.log.byteLength > 0 && result.log[result.log.byteLength - 1] !== 0x0a;
        process.stderr.write(`${cut ? '\n' : ''}warden: the log was truncated at ${result.log.byteLength} bytes\n`);
      } else {
        endLineOnTerminal(process.stderr, result.log);
      }
      process.stdout.write(result.output);
      // Raw bytes for a pipe or a file; a terminal's prompt must not glue to the output.
      endLineOnTerminal(process.stdout, result.output);
    }
    return 0;
  } catch (error) {
    if (error instanceof WardenError) await reportFailedJob(error, { json: values.json === true, outDir });
    if (values.json && error instanceof WardenError) return 1;
    if (values.json) return reportJsonFailure(error);
    throw error;
  }
}

