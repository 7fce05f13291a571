/**
 * Why a cold start costs what it costs, and what would change it: the worker started by hand
 * (launcher → node → Hello → Ready → Ping → Pong → one execute job) with one thing changed at a
 * time — a node flag, a different entry file (bundles, code cache, snapshot), a sandbox layer
 * off — interleaved with the shipped baseline, round by round. Deltas are medians of per-round
 * differences against the baseline of the same round.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packagePaths } from '../src/sandbox/paths.js';
import type { BenchContext } from './context.js';
import { manualStart, sandboxed, timeToExit, type ManualStart } from './sandbox.js';
import { buildEntryVariants, buildJobThreadScripts, type EntryVariant } from './variants.js';
import { HELLO_WASM, OUTPUT_DIR } from './context.js';
import type { ProcMemory } from './procfs.js';
import { interleave, pairedDelta, sleep, summarize, type Metrics } from './stats.js';

export const BASELINE = 'baseline: dist/worker/main.js, shipped flags';

/** Node flags to try on the shipped entry. `breaksWasm`: WebAssembly is gone, so no job can run. */
export const FLAG_VARIANTS: Record<string, { flags: string[]; breaksWasm?: boolean; note?: string }> = {
  '--v8-pool-size=1': { flags: ['--v8-pool-size=1'], note: 'node option: one V8 platform thread instead of 4' },
  '--stack-trace-limit=20 (control)': { flags: ['--stack-trace-limit=20'], note: 'a V8 flag that changes nothing here: what ANY V8 flag costs' },
  '--optimize-for-size': { flags: ['--optimize-for-size'], note: 'V8: favour memory over speed' },
  '--single-threaded': { flags: ['--single-threaded'], note: 'no V8 background tasks (GC, compile)' },
  '--max-semi-space-size=1': { flags: ['--max-semi-space-size=1'], note: 'young generation ≤ 1 MB semi-spaces' },
  '--no-opt': { flags: ['--no-opt'], note: 'no TurboFan for JS' },
  '--max-lazy': { flags: ['--max-lazy'], note: 'ignore eager-compile hints' },
  'no web globals': {
    flags: ['--no-experimental-fetch', '--no-experimental-global-webcrypto', '--no-experimental-global-customevent'],
    note: 'node options: fetch, webcrypto, CustomEvent not installed',
  },
  'without --disable-proto=throw': { flags: [], note: 'cost of the hardening flag itself' },
  '--jitless': { flags: ['--jitless'], breaksWasm: true, note: 'UNUSABLE: no WebAssembly (so is --lite-mode)' },
};

/** Sandbox layers off, one at a time: what each costs (not a recommendation to drop it). */
export const LAYER_VARIANTS: Record<string, { sandboxFlags: string[]; layers?: Partial<BenchContext['plan']['info']['layers']>; hostDir?: boolean }> = {
  'layer off: network namespace (--no-netns)': { sandboxFlags: ['--no-netns'], layers: { netns: false } },
  'layer off: new root (--no-pivot-root)': { sandboxFlags: ['--no-pivot-root'], layers: { pivotRoot: false }, hostDir: true },
  'layer off: Landlock (--no-landlock)': { sandboxFlags: ['--no-landlock'], layers: { landlock: false } },
  "layer off: launcher's seccomp (--no-seccomp)": { sandboxFlags: ['--no-seccomp'] },
  "layer off: addon's seccomp lockdown": { sandboxFlags: [], layers: { seccomp: false } },
};

export interface VariantRow {
  name: string;
  kind: 'baseline' | 'flag' | 'entry' | 'layer';
  ready: number;
  readyDelta: number;
  pong: number;
  pongDelta: number;
  firstJob: number;
  firstJobDelta: number;
  cpu: number;
  usable: boolean;
  note: string | undefined;
}

export interface Investigation {
  rows: VariantRow[];
  skipped: Record<string, string>;
  memory: { name: string; rss: number; pss: number; uss: number }[];
  jobThread: { name: string; ms: number[]; rss: number[] }[];
  combined: { node: number[]; rows: { name: string; ready: number[]; pong: number[]; firstJob: number[] }[] } | undefined;
  micro: { name: string; ms: number[] }[];
  /** Per flag variant: did node compile its non-snapshot built-in modules with their code cache? */
  codeCache: Record<string, string>;
}

/** `compiledWithCache / compiledWithoutCache` of node's built-in modules under some flags (node's own test hook). */
function builtinCodeCache(node: string, flags: string[]): Promise<string> {
  const script =
    "for (const m of ['net', 'child_process', 'worker_threads', 'module']) require('node:' + m);" +
    "const u = require('internal/test/binding').internalBinding('builtins').getCacheUsage();" +
    'const n = (x) => (x.size ?? x.length);' +
    "console.log(n(u.compiledWithoutCache) === 0 ? 'used' : `REJECTED (${n(u.compiledWithoutCache)} compiled from source)`);";
  return new Promise((resolve, reject) => {
    const child = spawn(node, ['--expose-internals', '--no-warnings', ...flags, '-e', script], { env: {}, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0) resolve(last);
      else reject(new Error(last || `exit ${code}`));
    });
  });
}

type Runner = (extra?: { measureMemory?: boolean; execute?: boolean }) => Promise<ManualStart>;

export async function investigate(ctx: BenchContext, rounds: number): Promise<Investigation> {
  const { plan } = ctx;
  const { variants: entries, skipped } = await buildEntryVariants(ctx);
  const HOST_PACKAGE = [packagePaths.dist, packagePaths.addon, packagePaths.packageJson];

  const runner = (program: string[], options: { binds?: string[]; sandboxFlags?: string[]; info?: typeof plan.info; execute?: boolean } = {}): Runner => {
    return (extra = {}) =>
      // The variants resolve the package's dist/ and addon at their host paths (they predate the
      // worker's neutral /warden view): bound here, for the investigation only.
      manualStart(...sandboxed(plan, [plan.node, ...program], { ...options, binds: [...(options.binds ?? []), ...HOST_PACKAGE] }), options.info ?? plan.info, plan.cwd, {
        ...((extra.execute ?? options.execute ?? true) ? { execute: ctx.manualJob } : {}),
        measureMemory: extra.measureMemory ?? false,
      });
  };
  const entryProgram = (entry: EntryVariant, flags: string[] = plan.nodeFlags) => [...flags, ...entry.args];

  const runners: Record<string, { run: Runner; kind: VariantRow['kind']; usable: boolean; note?: string | undefined }> = {
    [BASELINE]: { run: runner([...plan.nodeFlags, plan.entry]), kind: 'baseline', usable: true },
  };
  for (const [name, v] of Object.entries(FLAG_VARIANTS)) {
    const flags = name.startsWith('without ') ? plan.nodeFlags.filter((f) => f !== '--disable-proto=throw') : [...plan.nodeFlags, ...v.flags];
    const usable = !v.breaksWasm && !name.startsWith('without ') && !name.includes('(control)');
    runners[name] = { run: runner([...flags, plan.entry], { execute: !v.breaksWasm }), kind: 'flag', usable, note: v.note };
  }
  for (const [name, entry] of Object.entries(entries)) {
    runners[name] = { run: runner(entryProgram(entry), { binds: entry.binds }), kind: 'entry', usable: true, note: entry.note };
  }
  for (const [name, v] of Object.entries(LAYER_VARIANTS)) {
    const info = { ...plan.info, layers: { ...plan.info.layers, ...v.layers }, ...(v.hostDir ? { dir: ctx.unsandboxedInfo.dir } : {}) };
    runners[name] = { run: runner([...plan.nodeFlags, plan.entry], { sandboxFlags: v.sandboxFlags, info }), kind: 'layer', usable: false, note: 'what the layer costs' };
  }

  // Evidence for the flag rows: node's own code cache for the built-in modules it compiles at run time
  // (net, child_process, the ESM loader, ...) is only used when V8 runs with the flags it was built under.
  const codeCache: Record<string, string> = {};
  for (const [name, v] of Object.entries(FLAG_VARIANTS)) {
    if (name.startsWith('without ')) continue;
    codeCache[name] = await builtinCodeCache(plan.node, v.flags).catch((error: Error) => `unknown (${error.message.slice(0, 80)})`);
  }
  codeCache[BASELINE] = await builtinCodeCache(plan.node, plan.nodeFlags).catch((error: Error) => `unknown (${error.message.slice(0, 80)})`);

  // Each variant must work before it is timed; a broken one is reported, not timed.
  for (const [name, r] of Object.entries(runners)) {
    try {
      await r.run();
    } catch (error) {
      skipped[name] = (error as Error).message.split('\n')[0]!.slice(0, 200);
      delete runners[name];
    }
  }
  const cases = Object.fromEntries(
    Object.entries(runners).map(([name, r]) => [
      name,
      async (): Promise<Metrics> => {
        const result = await r.run();
        return { pong: result.pong, ready: result.ready, firstJob: result.firstJob, cpu: result.cpu };
      },
    ]),
  );
  const samples = await interleave(rounds, cases, { settleMs: 20, progress: 'investigation' });
  const base = samples[BASELINE]!;
  const rows: VariantRow[] = Object.entries(runners).map(([name, r]) => {
    const s = samples[name]!;
    return {
      name,
      kind: r.kind,
      ready: summarize(s.ready!).median,
      readyDelta: pairedDelta(s.ready!, base.ready!),
      pong: summarize(s.pong!).median,
      pongDelta: pairedDelta(s.pong!, base.pong!),
      firstJob: summarize(s.firstJob ?? []).median,
      firstJobDelta: s.firstJob ? pairedDelta(s.firstJob, base.firstJob!) : Number.NaN,
      cpu: summarize(s.cpu ?? []).median,
      usable: r.usable,
      note: r.note,
    };
  });

  // Memory of an idle worker after one job, per variant that could change it (3 runs each).
  const memoryVariants = [BASELINE, '--max-semi-space-size=1', '--optimize-for-size', '--v8-pool-size=1', '--single-threaded', ...Object.keys(entries)].filter(
    (n) => runners[n],
  );
  const memorySamples: Record<string, ProcMemory[]> = Object.fromEntries(memoryVariants.map((n) => [n, []]));
  for (let i = 0; i < 3; i++) {
    for (const name of memoryVariants) {
      const result = await runners[name]!.run({ measureMemory: true });
      if (result.memory) memorySamples[name]!.push(result.memory);
      await sleep(20);
    }
  }
  const memory = memoryVariants.map((name) => ({
    name,
    rss: summarize(memorySamples[name]!.map((m) => m.rss)).median,
    pss: summarize(memorySamples[name]!.map((m) => m.pss)).median,
    uss: summarize(memorySamples[name]!.map((m) => m.uss)).median,
  }));

  // The job thread on its own, outside the sandbox: as shipped vs a one-file bundle of its module.
  const jobThread: Investigation['jobThread'] = [];
  const scripts = await buildJobThreadScripts();
  {
    const modes = ['shipped', ...(scripts.bundled === 'yes' ? ['bundled'] : [])];
    const runDriver = (mode: string) =>
      new Promise<{ ms: number; rss: number }>((resolve, reject) => {
        const child = spawn(plan.node, [...plan.nodeFlags, scripts.driver, mode, HELLO_WASM], { env: {}, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.once('exit', (code) => {
          try {
            if (code !== 0) throw new Error(out);
            resolve(JSON.parse(out.trim().split('\n').pop()!) as { ms: number; rss: number });
          } catch (error) {
            reject(new Error(`job-thread driver ${mode} failed: ${(error as Error).message.slice(0, 300)}`));
          }
        });
      });
    const threadSamples = await interleave(
      Math.max(10, rounds),
      Object.fromEntries(modes.map((mode) => [mode, async () => await runDriver(mode)])),
      { settleMs: 10, progress: 'job thread' },
    );
    const label: Record<string, string> = {
      shipped: 'JobRunner as shipped (Worker on dist/worker/jobThread.js, warm-up task)',
      bundled: 'Worker on a one-file bundle of the job module, no warm-up',
    };
    for (const mode of modes) jobThread.push({ name: label[mode]!, ms: threadSamples[mode]!.ms!, rss: threadSamples[mode]!.rss! });
  }

  // Two small facts behind the entry rows, each its own node process: what the ESM loader costs an
  // (empty) entry file, and what loading the addon through createRequire costs an ESM process.
  const microDir = path.join(OUTPUT_DIR, 'micro');
  fs.mkdirSync(microDir, { recursive: true });
  const write = (name: string, text: string) => {
    fs.writeFileSync(path.join(microDir, name), text);
    return path.join(microDir, name);
  };
  const emptyCjs = write('empty.cjs', '');
  const emptyMjs = write('empty.mjs', '');
  const addon = JSON.stringify(packagePaths.addon);
  const viaRequire = write('addon-require.mjs', `import { createRequire } from 'node:module';\nconst t0 = performance.now();\ncreateRequire(import.meta.url)(${addon});\nconsole.log(performance.now() - t0);\n`);
  const viaDlopen = write('addon-dlopen.mjs', `const t0 = performance.now();\nprocess.dlopen({ exports: {} }, ${addon});\nconsole.log(performance.now() - t0);\n`);
  const printed = (file: string) => async (): Promise<Metrics> => {
    const child = spawn(plan.node, [...plan.nodeFlags, file], { env: {}, stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await new Promise((resolve) => child.once('exit', resolve));
    return { ms: Number(text.trim()) };
  };
  const microCases: Record<string, () => Promise<Metrics>> = {
    'node <flags> empty.cjs (spawn → exit)': async () => ({ ms: await timeToExit(plan.node, [...plan.nodeFlags, emptyCjs], { cwd: plan.cwd }) }),
    'node <flags> empty.mjs (spawn → exit): the ESM loader': async () => ({ ms: await timeToExit(plan.node, [...plan.nodeFlags, emptyMjs], { cwd: plan.cwd }) }),
    'addon load in an ESM process: createRequire(import.meta.url)(addon) (as shipped)': printed(viaRequire),
    'addon load in an ESM process: process.dlopen(module, addon)': printed(viaDlopen),
  };
  const microSamples = await interleave(rounds, microCases, { settleMs: 10, progress: 'micro' });
  const micro = Object.keys(microCases).map((name) => ({ name, ms: microSamples[name]!.ms! }));

  // Everything that helped, together: the entries that were best by pong and by Ready (and the plain
  // ESM bundle, the least invasive change), each with the usable flags that gained on both pong and
  // first job; timed against the baseline and `node -e 0` in the same rounds.
  const gainers = rows.filter((r) => r.kind === 'flag' && r.usable && r.pongDelta < -1 && r.firstJobDelta <= 0);
  const extraFlags = gainers.flatMap((g) => FLAG_VARIANTS[g.name]!.flags);
  const entryRows = rows.filter((r) => r.kind === 'entry');
  const best = [
    entryRows.slice().sort((a, b) => a.pongDelta - b.pongDelta)[0],
    entryRows.slice().sort((a, b) => a.readyDelta - b.readyDelta)[0],
    // The least invasive change, for comparison: bundling only.
    entryRows.find((r) => r.name === 'ESM bundle + lazy node:child_process'),
  ].filter((r, i, all): r is VariantRow => r !== undefined && r.pongDelta + r.readyDelta < 0 && all.indexOf(r) === i);
  const combos: Record<string, Runner> = {};
  for (const row of best) {
    const entry = entries[row.name]!;
    const name = [row.name, ...gainers.map((g) => g.name)].join(' + ');
    const run = runner(entryProgram(entry, [...plan.nodeFlags, ...extraFlags]), { binds: entry.binds });
    try {
      await run();
      combos[name] = run;
    } catch (error) {
      skipped[`combined: ${name}`] = (error as Error).message.split('\n')[0]!;
    }
  }
  let combined: Investigation['combined'];
  if (Object.keys(combos).length > 0) {
    const timed = (run: Runner) => async (): Promise<Metrics> => {
      const r = await run();
      return { ready: r.ready, pong: r.pong, firstJob: r.firstJob };
    };
    const s = await interleave(
      rounds,
      {
        [BASELINE]: timed(runners[BASELINE]!.run),
        ...Object.fromEntries(Object.entries(combos).map(([name, run]) => [name, timed(run)])),
        node: async () => ({ ms: await timeToExit(plan.node, ['-e', '0'], { cwd: plan.cwd }) }),
      },
      { settleMs: 20, progress: 'combined' },
    );
    combined = {
      node: s.node!.ms!,
      rows: [BASELINE, ...Object.keys(combos)].map((name) => ({ name, ready: s[name]!.ready!, pong: s[name]!.pong!, firstJob: s[name]!.firstJob! })),
    };
  }
  return { rows, skipped, memory, jobThread, combined, codeCache, micro };
}
