/**
 * The host's startup security check, the way it runs now (`launcher --check all`: one spawn for
 * the four confinement probes) against the way it ran before (one `launcher --check FEATURE`
 * spawn per feature, all at once), interleaved by rounds: wall time and the host's own CPU.
 * The cgroup check runs beside both and is left out of both. Run on its own:
 *
 *   npx tsx bench/securityCheck.ts [rounds]
 */
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packagePaths } from '../src/sandbox/paths.js';
import { interleave, summarize, type Metrics } from './stats.js';

const FEATURES = ['userns', 'netns', 'seccomp', 'landlock'];

export const CHECK = {
  together: 'launcher --check all (one spawn)',
  apart: 'launcher --check FEATURE × 4 (four spawns at once)',
} as const;

function check(feature: string, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(packagePaths.launcher, ['--check', feature], { cwd, env: {} }, (error, stdout) => {
      // A run that sees a layer missing is no figure for this machine.
      if (error || (feature === 'all' && / fail /.test(stdout))) reject(error ?? new Error(stdout));
      else resolve();
    });
  });
}

async function timed(run: () => Promise<unknown>): Promise<Metrics> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { ms, hostCpu: (cpu.user + cpu.system) / 1000 };
}

/** Samples of both ways, from a temporary dir (the host checks from its cache dir). */
export async function measureSecurityCheck(rounds: number): Promise<Record<string, Record<string, number[]>>> {
  const cwd = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-bench-check-'));
  try {
    await check('all', cwd);
    return await interleave(
      rounds,
      {
        [CHECK.together]: () => timed(() => check('all', cwd)),
        [CHECK.apart]: () => timed(() => Promise.all(FEATURES.map((feature) => check(feature, cwd)))),
      },
      { settleMs: 20, progress: 'security check' },
    );
  } finally {
    await fsp.rm(cwd, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const rounds = Number(process.argv[2] ?? 30);
  const samples = await measureSecurityCheck(rounds);
  process.stderr.write('\n');
  for (const [name, metrics] of Object.entries(samples)) {
    const wall = summarize(metrics.ms);
    const cpu = summarize(metrics.hostCpu);
    console.log(`${name.padEnd(52)} wall p50 ${wall.median.toFixed(1)} ms, host CPU p50 ${cpu.median.toFixed(2)} ms (n ${wall.n})`);
  }
  console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}
