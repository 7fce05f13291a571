import fsp from 'node:fs/promises';
import { checkSecurity, type FeatureStatus, type SecurityStatus } from '../sandbox/security.js';
import { defaultCacheDir } from '../options.js';
import { cacheDirOption, helpOption, parseArgs } from './args.js';

export const securityHelp = `Usage: warden security [--json] [--cache-dir DIR]

Checks every sandbox layer on this machine, the way a host does at startup (all checks in
parallel, run by the real launcher from inside the cache dir), and prints a table.

Options:
  --json            print the status as JSON
  --cache-dir DIR   the cache dir to check from (default: ${defaultCacheDir()})
  -h, --help        show this help

A missing optional layer (cgroup: it bounds what a worker can use, not what it can reach) is
listed with its fix but does not make the sandbox incomplete.

Exit code: 0 when every required layer is available (the sandbox is complete), 1 otherwise,
2 for a usage error.`;

function table(status: SecurityStatus): string {
  const availability = (f: FeatureStatus): string => (f.available ? 'yes' : f.required ? 'NO' : 'no (optional)');
  const rows = status.features.map((f) => [f.feature, availability(f), f.available ? f.detail : f.detail || '-']);
  const header = ['feature', 'available', 'detail'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  for (const f of status.features.filter((x) => !x.available)) out.push('', `fix for ${f.feature}: ${f.fix}`);
  const optional = status.features.filter((f) => !f.available && !f.required).map((f) => f.feature);
  const complete = optional.length === 0 ? 'sandbox: complete' : `sandbox: complete, without ${optional.join(', ')} (a host starts and warns)`;
  out.push('', status.secure ? complete : 'sandbox: INCOMPLETE (a host refuses to start unless allowInsecure is set)');
  return out.join('\n');
}

export async function securityCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean' }, ...cacheDirOption, ...helpOption },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${securityHelp}\n`);
    return 0;
  }
  const cacheDir = values['cache-dir'] ?? defaultCacheDir();
  await fsp.mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const status = await checkSecurity(cacheDir);
  process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : `${table(status)}\n`);
  return status.secure ? 0 : 1;
}
