/**
 * Builds the alternative worker entries the investigation measures, from the compiled dist/
 * (src/ is never touched): ESM and CJS bundles (esbuild, from tsx's dependencies), a lazy
 * `node:child_process` in the probes, a V8 code cache for the CJS bundle, and a user-land
 * startup snapshot. Everything goes under .bench-output/ (gitignored, regenerated each run).
 *
 * Each bundle sits two levels below the package root, like dist/worker/, so the addon's
 * relative path (`../../build/Release/warden_addon.node`) resolves the same way.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { FrameDecoder, encodeFrame } from '../src/protocol/frame.js';
import { MessageType, PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { PACKAGE_ROOT } from '../src/sandbox/paths.js';
import { OUTPUT_DIR, type BenchContext } from './context.js';

/** A worker entry to try: what to append to node's flags, and what to bind into the sandbox. */
export interface EntryVariant {
  /** Node arguments after the worker's flags (the script, or `--snapshot-blob FILE`). */
  args: string[];
  binds: string[];
  note?: string;
}

const DIST_WORKER = path.join(PACKAGE_ROOT, 'dist', 'worker');
const MAIN_JS = path.join(DIST_WORKER, 'main.js');

/** `import { spawnSync } from 'node:child_process'` made lazy: loaded on the first probe that spawns. */
const lazyChildProcess: Plugin = {
  name: 'lazy-child-process',
  setup(build) {
    build.onResolve({ filter: /^node:child_process$/ }, (args) =>
      args.importer.endsWith(`${path.sep}probes.js`) ? { path: 'child_process', namespace: 'lazy' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents:
        "import { createRequire } from 'node:module';\n" +
        'export function spawnSync(...args) { return createRequire(import.meta.url)("node:child_process").spawnSync(...args); }\n',
      resolveDir: DIST_WORKER,
      loader: 'js',
    }));
  },
};

/** dist/worker/main.js with its top level moved into `export function __wardenStart()`. */
function deferredMain(): string {
  const source = fs.readFileSync(MAIN_JS, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  const importStatement = /^import\s[^;]*;[ \t]*$/gm;
  const imports = source.match(importStatement) ?? [];
  const body = source.replace(importStatement, '');
  if (imports.length === 0 || /^export\s/m.test(body)) throw new Error('dist/worker/main.js does not have the shape the snapshot experiment expects');
  return `${imports.join('\n')}\nexport function __wardenStart() {\n${body}\n}\n`;
}

async function esbuildOrUndefined(): Promise<typeof import('esbuild') | undefined> {
  try {
    return await import('esbuild');
  } catch {
    return undefined;
  }
}

/**
 * Runs a CJS bundle once outside the sandbox through its loader, so the loader writes a V8 code
 * cache on exit (`--make-cache`): Hello → Ready, Ping → Pong, Shutdown (a clean exit). Uses the
 * worker's own node flags: V8 rejects a cache made under other flags.
 */
function makeCodeCache(ctx: BenchContext, loader: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(ctx.plan.node, [...ctx.plan.nodeFlags, loader, '--make-cache'], { env: {}, stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
    const channel = child.stdio[3] as net.Socket;
    const decoder = new FrameDecoder();
    channel.on('error', () => {});
    channel.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.type === MessageType.Ready) channel.write(encodeFrame(MessageType.Ping, 2, null));
        if (frame.type === MessageType.Pong) channel.write(encodeFrame(MessageType.Shutdown, 0, null));
      }
    });
    channel.write(encodeFrame(MessageType.Hello, 1, { protocol: PROTOCOL_VERSION, info: ctx.unsandboxedInfo }));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`code cache run exited ${code}`))));
  });
}

/** A CommonJS loader that runs main.cjs through vm.Script with a V8 code cache (what v8-compile-cache does). */
const CODE_CACHE_LOADER = `'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');
const file = path.join(__dirname, 'main.cjs');
const cacheFile = file + '.v8cache';
let cachedData;
try { cachedData = fs.readFileSync(cacheFile); } catch {}
const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
if (cachedData && script.cachedDataRejected) process.emitWarning('warden bench: V8 code cache rejected');
const mod = new Module(file, module);
mod.filename = file;
mod.paths = Module._nodeModulePaths(__dirname);
if (process.argv.includes('--make-cache')) process.on('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
script.runInThisContext().call(mod.exports, mod.exports, (id) => mod.require(id), mod, file, __dirname);
`;

/**
 * Builds every entry variant; returns those that built, and why the others did not.
 * The baseline (dist/worker/main.js as shipped) is not in the list.
 */
export async function buildEntryVariants(ctx: BenchContext): Promise<{ variants: Record<string, EntryVariant>; skipped: Record<string, string> }> {
  const variants: Record<string, EntryVariant> = {};
  const skipped: Record<string, string> = {};
  const esbuild = await esbuildOrUndefined();
  if (!esbuild) {
    skipped['all bundles'] = 'esbuild is not installed (it comes with tsx)';
    return { variants, skipped };
  }
  const dir = (name: string) => {
    const out = path.join(OUTPUT_DIR, name);
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out, { recursive: true });
    return out;
  };
  const common = { bundle: true, platform: 'node' as const, target: 'node20', logLevel: 'silent' as const, external: ['piscina'] };
  const importMetaUrl = { 'import.meta.url': JSON.stringify(pathToFileURL(MAIN_JS).href) };

  const attempt = async (name: string, build: () => Promise<EntryVariant>) => {
    try {
      variants[name] = await build();
    } catch (error) {
      skipped[name] = (error as Error).message.split('\n')[0]!;
    }
  };

  // 1. ESM bundle: main (with the lazily imported job runner as its own chunk) and the job thread.
  for (const [name, plugins] of [
    ['ESM bundle (main + job thread, code splitting)', []],
    ['ESM bundle + lazy node:child_process', [lazyChildProcess]],
  ] as const) {
    await attempt(name, async () => {
      const out = dir(plugins.length ? 'bundle-esm-lazy' : 'bundle-esm');
      await esbuild.build({
        ...common,
        entryPoints: [MAIN_JS, path.join(DIST_WORKER, 'jobThread.js')],
        outdir: out,
        format: 'esm',
        splitting: true,
        chunkNames: '[name]-[hash]',
        plugins: [...plugins],
      });
      return { args: [path.join(out, 'main.js')], binds: [out] };
    });
  }

  // 1b. The same, with the job thread started as the first thing the worker does (in parallel with
  //     the rest of its start and the handshake) instead of after its Ready. Its limits are known
  //     here; in warden they would have to come on the command line instead of in the Hello.
  if (variants['ESM bundle + lazy node:child_process']) {
    await attempt('ESM bundle + lazy cp + job thread started first', async () => {
      const from = path.join(OUTPUT_DIR, 'bundle-esm-lazy');
      const out = dir('bundle-esm-early');
      fs.cpSync(from, out, { recursive: true });
      const mainFile = path.join(out, 'main.js');
      const chunk = fs.readdirSync(out).find((f) => f.startsWith('jobRunner-'));
      const text = fs.readFileSync(mainFile, 'utf8');
      const lazy = `runner ??= import("./${chunk}")`;
      if (!chunk || !text.includes(lazy)) throw new Error('the bundle does not have the expected shape (job runner chunk)');
      const { jobHeapMb, jobStackMb } = ctx.plan.info.limits;
      const early =
        `globalThis.__wardenEarlyRunner = import("./${chunk}").then(({ JobRunner }) => ` +
        `new JobRunner({ maxOldGenerationSizeMb: ${jobHeapMb}, stackSizeMb: ${jobStackMb}, execArgv: [] }));\n`;
      fs.writeFileSync(mainFile, early + text.replace(lazy, `runner ??= globalThis.__wardenEarlyRunner ?? import("./${chunk}")`));
      return { args: [mainFile], binds: [out] };
    });
  }

  // 2. One CommonJS file: no ESM loader at all. import.meta.url points at dist/worker/main.js so the
  //    addon and the job thread (still dist/worker/jobThread.js) resolve as before.
  const cjsDir = dir('bundle-cjs');
  await attempt('CJS bundle, one file + lazy node:child_process', async () => {
    await esbuild.build({ ...common, entryPoints: [MAIN_JS], outfile: path.join(cjsDir, 'main.cjs'), format: 'cjs', define: importMetaUrl, plugins: [lazyChildProcess] });
    return { args: [path.join(cjsDir, 'main.cjs')], binds: [cjsDir] };
  });

  // 2b. Main AND job thread as CommonJS files: the runner starts `jobThread.cjs` beside `main.cjs`,
  //     so no ESM loader (and none of its eager built-in wrappers) in either isolate.
  await attempt('CJS bundles: main + job thread', async () => {
    const out = dir('bundle-cjs-all');
    const main = path.join(out, 'main.cjs');
    const ownUrl = { 'import.meta.url': JSON.stringify(pathToFileURL(main).href) };
    await esbuild.build({ ...common, entryPoints: [MAIN_JS], outfile: main, format: 'cjs', define: ownUrl, plugins: [lazyChildProcess] });
    await esbuild.build({ ...common, entryPoints: [path.join(DIST_WORKER, 'jobThread.js')], outfile: path.join(out, 'jobThread.cjs'), format: 'cjs' });
    return { args: [main], binds: [out] };
  });

  // 3. The same CJS file through vm.Script with a V8 code cache made by one run outside the sandbox.
  if (variants['CJS bundle, one file + lazy node:child_process']) {
    await attempt('CJS bundle + V8 code cache (vm.Script cachedData)', async () => {
      const loader = path.join(cjsDir, 'load.cjs');
      fs.writeFileSync(loader, CODE_CACHE_LOADER);
      await makeCodeCache(ctx, loader);
      return { args: [loader], binds: [cjsDir] };
    });
  }

  // 4. A user-land startup snapshot: the CJS bundle evaluated at build time, main's top level run by
  //    the deserialize function. piscina is required lazily at run time (a snapshot holds no user modules).
  await attempt('startup snapshot (--snapshot-blob), CJS bundle', async () => {
    const out = dir('snapshot');
    const entry = path.join(out, 'entry.cjs');
    const blob = path.join(out, 'worker.blob');
    const main = deferredMain();
    await esbuild.build({
      ...common,
      external: [],
      stdin: {
        contents: `import v8 from 'node:v8';
import { createRequire } from 'node:module';
import { __wardenStart } from 'warden-deferred-main';
v8.startupSnapshot.setDeserializeMainFunction(() => {
  globalThis.__wardenRequire = createRequire(${JSON.stringify(MAIN_JS)});
  __wardenStart();
});`,
        resolveDir: DIST_WORKER,
        sourcefile: 'snapshot-entry.js',
      },
      outfile: entry,
      format: 'cjs',
      define: importMetaUrl,
      plugins: [
        lazyChildProcess,
        {
          name: 'snapshot',
          setup(build) {
            build.onResolve({ filter: /^warden-deferred-main$/ }, () => ({ path: 'main', namespace: 'deferred' }));
            build.onLoad({ filter: /.*/, namespace: 'deferred' }, () => ({ contents: main, resolveDir: DIST_WORKER, loader: 'js' }));
            build.onResolve({ filter: /^piscina$/ }, () => ({ path: 'piscina', namespace: 'runtime-require' }));
            build.onLoad({ filter: /.*/, namespace: 'runtime-require' }, () => ({
              contents: "const m = globalThis.__wardenRequire('piscina'); export const Piscina = m.Piscina; export default m;",
              loader: 'js',
            }));
          },
        },
      ],
    });
    // --disable-proto=throw makes node 20 abort while writing the snapshot ("Unknown external
    // reference"): the blob is built without it; the worker still runs with it.
    const buildFlags = ctx.plan.nodeFlags.filter((flag) => !flag.startsWith('--disable-proto'));
    await new Promise<void>((resolve, reject) => {
      const child = spawn(ctx.plan.node, [...buildFlags, '--snapshot-blob', blob, '--build-snapshot', entry], { env: {}, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`--build-snapshot exited ${code}: ${stderr.trim().split('\n').pop()}`))));
    });
    return { args: ['--snapshot-blob', blob], binds: [blob], note: 'blob built without --disable-proto=throw (node 20 aborts with it)' };
  });

  return { variants, skipped };
}

/**
 * Scripts for the job-thread experiment (outside the sandbox): the time from "start a job
 * thread" to the first job's result, with the worker's JobRunner as shipped (a Worker on
 * dist/worker/jobThread.js, warm-up task first) and with a Worker on a one-file bundle of the
 * job module (no warm-up).
 */
export async function buildJobThreadScripts(): Promise<{ driver: string; bundled: 'yes' | 'no' }> {
  const esbuild = await esbuildOrUndefined();
  const out = path.join(OUTPUT_DIR, 'job-thread');
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  if (esbuild) {
    await esbuild.build({
      entryPoints: [path.join(DIST_WORKER, 'jobThread.js')],
      outfile: path.join(out, 'jobThread.bundle.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
  }
  const dist = (file: string) => JSON.stringify(pathToFileURL(path.join(PACKAGE_ROOT, 'dist', file)).href);
  // Prints {"ms": <start of the job thread → first result>, "rss": <bytes it added>}.
  const driver = `import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { prepare } from ${dist('worker/jobs/prepare.js')};
import { DEFAULT_PREPARE_LIMITS, DEFAULT_EXECUTE_LIMITS } from ${dist('shared/limits.js')};
const artifact = prepare(fs.readFileSync(process.argv[3]), DEFAULT_PREPARE_LIMITS, 'a'.repeat(64)).artifact;
const task = { kind: 'execute', artifact: new Uint8Array(artifact), input: Buffer.from('world'), abi: 'run', limits: DEFAULT_EXECUTE_LIMITS };
const limits = { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 };
const mode = process.argv[2];
const rssBefore = process.memoryUsage().rss;
// RSS the job thread added, once it has settled after its first job.
const report = (ms) => setTimeout(() => {
  console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss - rssBefore }));
  process.exit(0);
}, 500);
const t0 = performance.now();
if (mode === 'shipped') {
  const { JobRunner } = await import(${dist('worker/jobRunner.js')});
  const runner = new JobRunner({ execArgv: [] });
  const result = await runner.run(task, { cpuTimeLimitMs: 2000 });
  if (!result.ok) throw new Error(result.failure.message);
  report(performance.now() - t0);
} else {
  const worker = new Worker(new URL('./jobThread.bundle.mjs', import.meta.url), { execArgv: [], resourceLimits: limits });
  worker.once('message', (reply) => {
    if (!reply.ok || !reply.outcome?.ok) throw new Error(JSON.stringify(reply));
    report(performance.now() - t0);
  });
  worker.postMessage(task);
}
`;
  fs.writeFileSync(path.join(out, 'driver.mjs'), driver);
  return { driver: path.join(out, 'driver.mjs'), bundled: esbuild ? 'yes' : 'no' };
}
