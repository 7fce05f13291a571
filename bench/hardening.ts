/**
 * What issue 11's hardening costs, interleaved so that load changes hit both sides alike:
 *   - an artifact change in an execute worker's dir: a private copy (`copyArtifact`, a reflink
 *     where the filesystem has them) against the hard link it replaced, at several sizes, each
 *     followed by the unlink the clear step does;
 *   - a worker's cgroups alone: created, limited as the launcher does and removed as the host
 *     does (synchronous calls here, on the host's own cgroup place), where the host has them;
 *   - a worker spawn to its handshake with its cgroups (the launcher's step `cgroup`, their
 *     removal at exit) against one without (`cgroups: false`), where the host has cgroups;
 *   - a job of the same artifact on a reused worker (the hot path), which the copy does not
 *     touch: its dir keeps the copy as it kept the link.
 *
 * `npx tsx bench/hardening.ts [--quick]`; quote it with `uptime`'s load average beside it.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHost, type Host } from './warden.js';
import { copyArtifact } from '../src/sandbox/workerDir.js';
import { findCgroupPlace } from '../src/sandbox/cgroup.js';
import { HELLO_INPUT, HELLO_WASM } from './context.js';
import { ms, since, spread, summarize, table, type Summary } from './stats.js';

/** The median, then the quartiles. */
const show = (s: Summary): string => `${ms(s.median)} (${spread(s)})`;

const quick = process.argv.includes('--quick');
const SIZES = [16 * 1024, 256 * 1024, 1024 * 1024, 16 * 1024 * 1024];

async function artifactChange(dir: string, n: number): Promise<string[][]> {
  const rows: string[][] = [];
  for (const size of SIZES) {
    const source = path.join(dir, `artifact-${size}`);
    fs.writeFileSync(source, Buffer.alloc(size, 7));
    const target = path.join(dir, 'worker-dir', 'artifact');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const link: number[] = [];
    const copy: number[] = [];
    const rounds = size >= 16 * 1024 * 1024 ? Math.ceil(n / 10) : n;
    for (let i = 0; i < rounds; i++) {
      let t0 = process.hrtime.bigint();
      await fsp.link(source, target);
      await fsp.unlink(target);
      link.push(since(t0));
      t0 = process.hrtime.bigint();
      await copyArtifact(path.dirname(target), source);
      await fsp.unlink(target);
      copy.push(since(t0));
    }
    const l = summarize(link);
    const c = summarize(copy);
    rows.push([`${size / 1024} KiB`, show(l), show(c), ms(c.median - l.median)]);
  }
  return rows;
}

/** Create + limit + remove a worker's cgroups (one per hierarchy), as the launcher and the host do. */
function cgroupLife(n: number): number[] | string {
  const place = findCgroupPlace();
  if (!('version' in place)) return place.reason;
  const base = place.parents.map((parent) => path.join(parent, `warden-bench-${process.pid}`));
  const samples: number[] = [];
  try {
    for (const dir of base) fs.mkdirSync(dir);
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      const dirs = base.map((dir) => path.join(dir, `w${i}`));
      for (const dir of dirs) {
        fs.mkdirSync(dir);
        for (const [file, value] of [['memory.limit_in_bytes', 4 * 2 ** 30], ['memory.memsw.limit_in_bytes', 4 * 2 ** 30], ['memory.max', 4 * 2 ** 30], ['pids.max', 65]] as const) {
          try {
            // Never O_CREAT: a cgroup filesystem answers EACCES, not ENOENT, to creating a file.
            const fd = fs.openSync(path.join(dir, file), fs.constants.O_WRONLY);
            fs.writeSync(fd, `${value}\n`);
            fs.closeSync(fd);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          }
        }
      }
      for (const dir of dirs) fs.rmdirSync(dir);
      samples.push(since(t0));
    }
  } catch (error) {
    return (error as Error).message;
  } finally {
    for (const dir of base) if (fs.existsSync(dir)) fs.rmdirSync(dir);
  }
  return samples;
}

async function spawns(host: Host, n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const worker = await host.spawnWorker('execute');
    samples.push(since(t0));
    await worker.kill();
  }
  return samples;
}

async function main(): Promise<void> {
  const n = quick ? 100 : 500;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-hardening-'));
  try {
    console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
    console.log('artifact change in a worker dir, then its unlink: median (p25 – p75, min, max)');
    console.log(table(['artifact', 'hard link', 'private copy', 'copy − link'], await artifactChange(base, n)));

    const life = cgroupLife(quick ? 100 : 500);
    console.log("\na worker's cgroups: create, limit, remove: median (p25 – p75, min, max)");
    console.log(typeof life === 'string' ? `(not measured: ${life})` : table(['cgroups'], [[show(summarize(life))]]));

    const hosts = await Promise.all(
      [true, false].map((cgroups) => createHost({ cacheDir: path.join(base, `cache-${cgroups}`), cgroups, executeWorkers: 1, prepareWorkers: 1 })),
    );
    const [withCgroups, without] = hosts as [Host, Host];
    if (!withCgroups.securityStatus.layers.cgroup) console.log('\n(no cgroup layer on this machine: both spawns below run without)');
    const spawnRounds = quick ? 10 : 40;
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < spawnRounds; i++) {
      a.push(...(await spawns(withCgroups, 1)));
      b.push(...(await spawns(without, 1)));
    }
    console.log('\nworker spawn to handshake: median (p25 – p75, min, max)');
    console.log(table(['with cgroups', 'without', 'difference'], [[show(summarize(a)), show(summarize(b)), ms(summarize(a).median - summarize(b).median)]]));

    const artifact = await withCgroups.prepare(fs.readFileSync(HELLO_WASM));
    await withCgroups.execute(artifact, HELLO_INPUT);
    const hot: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await withCgroups.execute(artifact, HELLO_INPUT);
      hot.push(since(t0));
    }
    console.log('\nreused worker, same artifact, one job at a time: median (p25 – p75, min, max)');
    console.log(table(['hello job'], [[show(summarize(hot))]]));
    await Promise.all(hosts.map((host) => host.close()));
    console.log(`\nload average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

await main();
