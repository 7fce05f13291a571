import fs from 'node:fs';
import path from 'node:path';
import type { ArtifactCache, ArtifactEntry } from '../actors/artifactCache.js';
import { resolveHostOptions } from '../options.js';
import { cacheDirHelp, cacheDirOption, helpOption, parseArgs, parseByteCount, requirePositionals, UsageError } from './args.js';
import { humanBytes, isoSeconds, table, writeJson } from './format.js';
import { cacheDirOf, withCache, type SessionOptions } from './session.js';

/** The size bound a host prunes to when `cacheMaxBytes` is not set. */
const DEFAULT_MAX_BYTES = resolveHostOptions({}).cacheMaxBytes;

export const cacheHelp = `Usage: warden cache <ls|prune|clear> [options]

Lists and removes the prepared artifacts in the cache dir. The cache dir is locked
meanwhile: while a host uses it, these commands fail with E_CACHE_LOCKED. A cache dir
that does not exist holds no artifacts: it is not created.

Commands:
  ls [--json]                 list the artifacts, least recently used first, and the total
  prune [--max-bytes N]       remove least recently used artifacts until at most N bytes
                              remain (default: ${humanBytes(DEFAULT_MAX_BYTES)}, a host's default bound)
  clear                       remove every artifact

Options (every cache command):
  --json             print JSON instead of text
${cacheDirHelp}
  -h, --help         show this help

N is a byte count: 0, 1048576, or with a binary suffix 512K, 64M, 1G.
Exit code: 0 on success, 1 on a failure (warden: E_CODE: message on stderr), 2 for a
usage error.`;

// No --allow-insecure: these commands start no host and check no sandbox.
const subcommandOptions = { ...cacheDirOption, ...helpOption, json: { type: 'boolean' } } as const;

function entryJson(entry: { key: string; size: number; lastUsed: Date }): Record<string, unknown> {
  return { key: entry.key, size: entry.size, lastUsed: entry.lastUsed.toISOString() };
}

function entriesTable(entries: { key: string; size: number; lastUsed: Date }[]): string {
  return table(
    ['key', 'size', 'last used'],
    entries.map((e) => [e.key, humanBytes(e.size), isoSeconds(e.lastUsed)]),
  );
}

/** Artifacts that failed verification when the cache was opened were removed: say so. */
function reportRemovedOnOpen(cache: ArtifactCache): void {
  for (const removed of cache.removedOnOpen) {
    process.stderr.write(`warden: removed ${removed.kind === 'temp' ? 'temp file' : 'invalid artifact'} ${removed.name}: ${removed.reason}\n`);
  }
}

async function ls(cache: ArtifactCache, json: boolean): Promise<void> {
  const entries = cache.list();
  if (json) {
    writeJson({ cacheDir: path.dirname(cache.dir), artifacts: entries.map(entryJson), count: entries.length, totalBytes: cache.totalBytes });
    return;
  }
  const summary = `${entries.length} artifact${entries.length === 1 ? '' : 's'}, total ${cache.totalBytes} bytes (${humanBytes(cache.totalBytes)})`;
  process.stdout.write(entries.length === 0 ? `${summary}\n` : `${entriesTable(entries)}\n\n${summary}\n`);
}

async function prune(cache: ArtifactCache, json: boolean, maxBytes: number): Promise<void> {
  const pruned = await cache.prune(maxBytes);
  const prunedBytes = pruned.reduce((sum, e) => sum + e.size, 0);
  if (json) {
    writeJson({ pruned: pruned.map(entryJson), prunedBytes, totalBytes: cache.totalBytes, maxBytes });
    return;
  }
  const left = `${humanBytes(cache.totalBytes)} left (bound ${humanBytes(maxBytes)})`;
  const text =
    pruned.length === 0
      ? `nothing to prune: ${left}`
      : `${entriesTable(pruned)}\n\npruned ${pruned.length} artifact${pruned.length === 1 ? '' : 's'}, ${humanBytes(prunedBytes)}; ${left}`;
  process.stdout.write(`${text}\n`);
}

/** What `ls`, `prune` and `clear` print for a cache dir that does not exist: an empty cache. */
function emptyCache(name: 'ls' | 'prune' | 'clear', json: boolean, maxBytes: number, cacheDir: string): void {
  if (name === 'ls') {
    if (json) writeJson({ cacheDir, artifacts: [], count: 0, totalBytes: 0 });
    else process.stdout.write('0 artifacts, total 0 bytes (0 B)\n');
  } else if (name === 'prune') {
    if (json) writeJson({ pruned: [], prunedBytes: 0, totalBytes: 0, maxBytes });
    else process.stdout.write(`nothing to prune: 0 B left (bound ${humanBytes(maxBytes)})\n`);
  } else if (json) writeJson({ removed: [], removedBytes: 0 });
  else process.stdout.write('removed 0 artifacts, 0 bytes (0 B)\n');
}

async function clear(cache: ArtifactCache, json: boolean): Promise<void> {
  const entries: ArtifactEntry[] = cache.list();
  await cache.clear();
  const removedBytes = entries.reduce((sum, e) => sum + e.size, 0);
  if (json) {
    writeJson({ removed: entries.map(entryJson), removedBytes });
    return;
  }
  process.stdout.write(`removed ${entries.length} artifact${entries.length === 1 ? '' : 's'}, ${removedBytes} bytes (${humanBytes(removedBytes)})\n`);
}

/** `warden cache ls|prune|clear`: the artifact cache, opened under its lock without workers. */
export async function cacheCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '-h' || name === '--help') {
    process.stdout.write(`${cacheHelp}\n`);
    return 0;
  }
  if (name === undefined) throw new UsageError('missing <ls|prune|clear>');
  if (name !== 'ls' && name !== 'prune' && name !== 'clear') {
    throw new UsageError(`unknown command "${name}" (expected ls, prune or clear)`);
  }
  const options = name === 'prune' ? { ...subcommandOptions, 'max-bytes': { type: 'string' } } as const : subcommandOptions;
  const { values, positionals } = parseArgs({ args: rest, options, strict: true, allowPositionals: true });
  if (values.help) {
    process.stdout.write(`${cacheHelp}\n`);
    return 0;
  }
  requirePositionals(positionals, []);
  const maxBytesText = (values as { 'max-bytes'?: string })['max-bytes'];
  const maxBytes = maxBytesText === undefined ? DEFAULT_MAX_BYTES : parseByteCount('max-bytes', maxBytesText);
  const session: SessionOptions = { cacheDir: values['cache-dir'], allowInsecure: false };
  const json = values.json ?? false;
  const cacheDir = cacheDirOf(session);
  // Listing or removing must not leave a new directory behind (a typo in --cache-dir).
  if (!fs.existsSync(cacheDir)) {
    process.stderr.write(`warden: no cache dir at ${cacheDir}: nothing is cached there\n`);
    emptyCache(name, json, maxBytes, cacheDir);
    return 0;
  }
  await withCache(session, async (cache) => {
    reportRemovedOnOpen(cache);
    if (name === 'ls') await ls(cache, json);
    else if (name === 'prune') await prune(cache, json, maxBytes);
    else await clear(cache, json);
  });
  return 0;
}
