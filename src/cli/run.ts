import { parseArgs } from 'node:util';
import type { Abi } from '../artifactHandle.js';
import { DEFAULT_LIMITS } from '../options.js';
import { commonHelp, commonOptions, parseChoice, parseCount, parseDuration, requirePositionals } from './args.js';
import { readInput, readNamedFile } from './files.js';
import { encodeBytes, reportJsonFailure, writeJson } from './format.js';
import { withHost } from './session.js';

export const runHelp = `Usage: warden run <module> [--input FILE | -] [--abi run|wasi] [--timeout 2s] [--fuel N] [--json]

Prepares <module> (raw, gzip or brotli WebAssembly; cached) and executes it once in a
sandboxed worker. The output goes to stdout as raw bytes, the log (a WASI module's stderr)
to stderr.

Options:
  --input FILE       the input; "-" reads stdin; none means an empty input
  --abi run|wasi     the ABI (default: what the module's exports imply)
  --timeout T        CPU time the execution may use: 500ms, 2s, 1m or a number of ms
                     (default: ${DEFAULT_LIMITS.executeTimeoutMs}ms)
  --fuel N           fuel the execution may use, about one unit per instruction; out of
                     it the run fails with E_OUT_OF_FUEL (default: ${DEFAULT_LIMITS.maxFuel})
  --json             print one JSON object instead: { ok, output, outputEncoding, log,
                     fuelUsed, ... }; a failure: { ok: false, error: { code, ..., fuelUsed } }
${commonHelp}

Exit code: 0 when the module ran, 1 when it failed (warden: E_CODE: message on stderr),
2 for a usage error.`;

const ABIS: readonly Abi[] = ['run', 'wasi'];

/** `warden run`: one prepare and one execute on a host of single-worker pools. */
export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      input: { type: 'string' },
      abi: { type: 'string' },
      timeout: { type: 'string' },
      fuel: { type: 'string' },
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
  const fuel = values.fuel === undefined ? undefined : parseCount('fuel', values.fuel);
  try {
    const code = await readNamedFile('module', modulePath);
    const input = await readInput(values.input);
    // The command's own host: --fuel above the default raises its limit for this one run.
    const limits = fuel !== undefined && fuel > DEFAULT_LIMITS.maxFuel ? { limits: { maxFuel: fuel } } : {};
    const session = { cacheDir: values['cache-dir'], allowInsecure: values['allow-insecure'], ...limits };
    const { artifact, result } = await withHost(session, async (host) => {
      const prepared = await host.prepare(code);
      const executed = await host.execute(prepared, input, {
        ...(abi === undefined ? {} : { abi }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(fuel === undefined ? {} : { fuel }),
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
        fuelUsed: result.fuelUsed,
        cpuTimeMs: result.cpuTimeMs,
        wallTimeMs: result.wallTimeMs,
        workerId: result.workerId,
        artifactKey: result.artifactKey,
        cached: artifact.cached,
      });
    } else {
      process.stderr.write(result.log);
      if (result.logTruncated) process.stderr.write(`\nwarden: the log was truncated at ${result.log.byteLength} bytes\n`);
      process.stdout.write(result.output);
    }
    return 0;
  } catch (error) {
    if (values.json) return reportJsonFailure(error);
    throw error;
  }
}
