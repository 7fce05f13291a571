/**
 * A host SIGKILLed mid-work (test/fixtures/crash-host.mjs, in a child process, busy preparing
 * and executing distinct modules), then a new host on the same cache dir: the lock is free,
 * the dead host's temp files and worker dirs are gone, every cached artifact is complete and
 * runs, the index matches the disk, and the dead host's workers died with it (PDEATHSIG).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ArtifactCache } from '../../src/actors/artifactCache.js';
import { createHost, type Host } from '../../src/index.js';
import { prepareLimitsOf } from '../../src/options.js';
import { decodeArtifact, preparationParamsHash } from '../../src/shared/artifact.js';
import { tempCacheDir, waitFor, workerDirsIn, workerProcesses } from '../helpers/host.js';
import { hello, rejection, text } from '../helpers/scheduler.js';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/crash-host.mjs');

/** The same variants as the fixture: hello plus a custom section `crash-<i>`. */
function variant(i: number): Buffer {
  const name = Buffer.from(`crash-${i}`);
  const payload = Buffer.from(String(i));
  const body = Buffer.concat([Buffer.from([name.length]), name, payload]);
  return Buffer.concat([hello.wasm, Buffer.from([0, body.length]), body]);
}

/** Runs the fixture until it reported `killAfter` started jobs, waits `extraMs`, SIGKILLs it. */
async function crashHost(cacheDir: string, killAfter: number, extraMs: number): Promise<{ started: number; workers: number[]; failures: string[] }> {
  const child = spawn(process.execPath, [FIXTURE, cacheDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  const failures: string[] = [];
  let started = 0;
  let workers: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = /^started (\d+) jobs$/.exec(line);
      if (match) started = Number(match[1]);
      if (line.startsWith('failed ')) failures.push(line);
      if (started >= killAfter) {
        lines.removeAllListeners('line');
        lines.on('line', (l) => {
          const m = /^started (\d+) jobs$/.exec(l);
          if (m) started = Number(m[1]);
        });
        resolve();
      }
    });
    void exited.then((how) => reject(new Error(`crash host exited (${String(how)}) before ${killAfter} jobs: ${stderr}`)));
  });
  await new Promise((resolve) => setTimeout(resolve, extraMs));
  // The host's workers, seen just before the kill: they must die with it.
  workers = workerProcesses(cacheDir);
  child.kill('SIGKILL');
  const how = await exited;
  if (how !== 'SIGKILL') throw new Error(`crash host ended with ${String(how)}, not SIGKILL: ${stderr}`);
  return { started, workers, failures };
}

const moments = [
  { name: 'early (a few jobs started, workers just up)', min: 1, max: 4 },
  { name: 'mid-work (tens of jobs started)', min: 20, max: 60 },
  { name: 'late (a hundred and more jobs started)', min: 100, max: 200 },
];

for (const moment of moments) {
  test.serial(`SIGKILLed ${moment.name}: a new host finds a consistent cache and no leftovers`, async (t) => {
    const cacheDir = await tempCacheDir('warden-crash-');
    t.teardown(() => fsp.rm(cacheDir, { recursive: true, force: true }));
    const killAfter = moment.min + Math.floor(Math.random() * (moment.max - moment.min + 1));
    const extraMs = Math.floor(Math.random() * 30);
    t.log(`killing after ${killAfter} started jobs + ${extraMs} ms`);
    const { started, workers, failures } = await crashHost(cacheDir, killAfter, extraMs);
    t.deepEqual(failures, [], 'the crash host ran every job it finished correctly');

    // PDEATHSIG: the dead host's workers die with it (none of another host: none runs yet).
    t.true(workers.length > 0, 'the crash host had workers running when it was killed');
    const left = await waitFor(() => workerProcesses(cacheDir), (p) => p.length === 0);
    t.deepEqual(left, [], 'no worker process of the killed host remains');

    const artifactsDir = path.join(cacheDir, 'artifacts');
    const deadDirs = workerDirsIn(cacheDir);
    const tempsBefore = fs.existsSync(artifactsDir) ? fs.readdirSync(artifactsDir).filter((n) => n.startsWith('.tmp-')) : [];
    t.log(`left by the killed host: ${deadDirs.length} worker dirs, ${tempsBefore.length} temp files`);

    // The lock was dropped with the process: startup succeeds.
    const host = await createHost({ cacheDir, prepareWorkers: 1, executeWorkers: 1 });
    t.teardown(() => host.close());

    const names = fs.readdirSync(artifactsDir);
    t.deepEqual(names.filter((n) => n.startsWith('.tmp-')), [], 'no temp file remains after startup');
    const removedTemps = host.cache.removedOnOpen.filter((r) => r.kind === 'temp').map((r) => r.name);
    t.deepEqual(removedTemps.sort(), [...tempsBefore].sort(), 'open removed exactly the temp files left');
    t.deepEqual(
      workerDirsIn(cacheDir).filter((d) => deadDirs.includes(d)),
      [],
      'no worker dir of the killed host remains',
    );

    // The index matches the disk (nothing prepared by this host yet).
    const listed = host.cache.list();
    t.deepEqual(
      listed.map((e) => path.basename(e.path)).sort(),
      names.filter((n) => n.endsWith('.wdna')).sort(),
      'list() matches the artifact files on disk',
    );
    t.deepEqual(
      names.filter((n) => !n.endsWith('.wdna')),
      [],
      'nothing else is in the artifacts dir',
    );
    for (const entry of listed) {
      const bytes = fs.readFileSync(entry.path);
      t.is(bytes.length, entry.size);
      const decoded = decodeArtifact(bytes);
      t.is(decoded.paramsHash.slice(0, 16), entry.key.split('-')[1] ?? '', `${entry.key} was prepared under its key's params`);
      t.true(WebAssembly.validate(decoded.module), `${entry.key} holds a valid module`);
    }

    // Every cached artifact is one of the variants the killed host started, and runs.
    const cachedKeys = new Set(listed.map((e) => e.key));
    const seen = new Set<string>();
    for (let i = 0; i < started; i++) {
      const key = keyOf(host, i);
      if (!cachedKeys.has(key)) continue;
      const artifact = await host.prepare(variant(i));
      t.true(artifact.cached, `variant ${i} is served from the cache`);
      t.is(artifact.key, key);
      seen.add(key);
      t.is(text((await host.execute(artifact, Buffer.from(`crash-${i}`))).output), `Hello, crash-${i}!`);
    }
    t.deepEqual([...cachedKeys].filter((k) => !seen.has(k)), [], 'no cached artifact comes from elsewhere');
    t.log(`${cachedKeys.size} artifacts cached for ${started} started jobs`);

    // A variant the killed host never reached prepares and runs normally.
    const fresh = await host.execute(variant(started + 1000), Buffer.from('after'));
    t.is(text(fresh.output), 'Hello, after!');

    // A second host on the same dir while this one runs is refused.
    const second = await rejection(createHost({ cacheDir }));
    t.is(second.code, 'E_CACHE_LOCKED');
    t.is(second.details.owner, String(process.pid));
  });
}

/** The cache key variant `i` gets under `host`'s prepare limits. */
function keyOf(host: Host, i: number): string {
  return ArtifactCache.keyFor(variant(i), preparationParamsHash(prepareLimitsOf(host.options.limits)));
}
