import { DEFAULT_LIMITS } from '../options.js';
import { commonHelp, commonOptions, parseArgs, parseDuration, requirePositionals } from './args.js';
import { readModule } from './files.js';
import { fields, humanBytes, reportJsonFailure, writeJson } from './format.js';
import { withHost } from './session.js';

export const prepareHelp = `Usage: warden prepare <module> [--timeout 10s] [--json]

Validates and compiles <module> (raw, gzip or brotli WebAssembly) into an artifact in the
cache, and prints its key, size, exports and ABI. A module already cached is not prepared
again ("cached: yes").

Options:
  --timeout T        CPU time the preparation may use: 500ms, 2s, 1m or a number of ms
                     (default: ${DEFAULT_LIMITS.prepareTimeoutMs}ms)
  --json             print { ok, key, size, exports, abi, cached } as JSON
${commonHelp}

Exit code: 0 when the artifact is ready, 1 when preparation failed (warden: E_CODE:
message on stderr), 2 for a usage error.`;

/** `warden prepare`: prepares one module into the cache. */
export async function prepareCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...commonOptions, timeout: { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${prepareHelp}\n`);
    return 0;
  }
  const [modulePath] = requirePositionals(positionals, ['module']) as [string];
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration('timeout', values.timeout);
  try {
    const code = await readModule(modulePath);
    const session = { cacheDir: values['cache-dir'], allowInsecure: values['allow-insecure'] };
    const artifact = await withHost(session, (host) => host.prepare(code, timeoutMs === undefined ? {} : { timeoutMs }));
    if (values.json) {
      writeJson({ ok: true, key: artifact.key, size: artifact.size, exports: artifact.exports, abi: artifact.abi ?? null, cached: artifact.cached });
    } else {
      const text = fields([
        ['key', artifact.key],
        ['size', `${artifact.size} bytes (${humanBytes(artifact.size)})`],
        ['exports', artifact.exports.join(', ') || '(none)'],
        ['abi', artifact.abi ?? '(none: neither run + memory nor _start is exported)'],
        ['cached', artifact.cached ? 'yes' : 'no'],
      ]);
      process.stdout.write(`${text}\n`);
    }
    return 0;
  } catch (error) {
    if (values.json) return reportJsonFailure(error);
    throw error;
  }
}
