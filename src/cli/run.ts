import { missingAbiExports, type Abi, type Artifact } from '../artifactHandle.js';
import { DEFAULT_LIMITS } from '../options.js';
import { UsageError, commonHelp, commonOptions, parseArgs, parseChoice, parseDuration, requirePositionals } from './args.js';
import { readInput, readModule } from './files.js';
import { encodeBytes, endLineOnTerminal, reportJsonFailure, roundMs, writeJson } from './format.js';
import { withHost } from './session.js';

export const runHelp = `Usage: warden run <module> [--input FILE | -] [--abi run|wasi] [--timeout 2s] [--json]

Prepares <module> (raw, gzip or brotli WebAssembly; cached) and executes it once in a
sandboxed worker. The output goes to stdout as raw bytes, the log (a WASI module's stderr)
to stderr; on a terminal, a newline ends each if it does not end with one.

Options:
  --input FILE       the input; "-" reads stdin; none means an empty input
  --abi run|wasi     the ABI (default: what the module's exports imply)
  --timeout T        CPU time the execution may use: 500ms, 2s, 1m or a number of ms
                     (default: ${DEFAULT_LIMITS.executeTimeoutMs}ms)
  --json             print one JSON object instead: { ok, output, outputEncoding, log, ... }
${commonHelp}

Exit code: 0 when the module ran, 1 when it failed (warden: E_CODE: message on stderr),
2 for a usage error.`;

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
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      input: { type: 'string' },
      abi: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${runHelp}\n`);
    return 0;
  }
  const [modulePath] = requirePositionals(positionals, ['module']) as [string];
  const abi = values.abi === undefined ? undefined : parseChoice('abi', values.abi, ABIS);
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration('timeout', values.timeout);
  try {
    const code = await readModule(modulePath);
    const input = await readInput(values.input);
    const session = { cacheDir: values['cache-dir'], allowInsecure: values['allow-insecure'] };
    const { artifact, result } = await withHost(session, async (host) => {
      const prepared = await host.prepare(code);
      if (abi !== undefined) checkAbi(abi, prepared, modulePath);
      const executed = await host.execute(prepared, input, {
        ...(abi === undefined ? {} : { abi }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
      return { artifact: prepared, result: executed };
    });
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
    if (values.json) return reportJsonFailure(error);
    throw error;
  }
}
