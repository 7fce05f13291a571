import crypto from 'node:crypto';
import createDebug from 'debug';
import { SandboxUnavailableError } from '../errors.js';
import type { SandboxLayers } from '../protocol/messages.js';
import { packagePaths } from './paths.js';
import { runToEnd } from './launcherProcess.js';
import { optionalAddon } from '../shared/addon.js';
import { CGROUP_FIX, HostCgroups, findCgroupPlace, type CgroupPlace } from './cgroup.js';

const debug = createDebug('warden:security');

export type SecurityFeature = 'userns' | 'netns' | 'seccomp' | 'landlock' | 'cgroup';

/** One sandbox layer as checked on this machine. */
export interface FeatureStatus {
  feature: SecurityFeature;
  available: boolean;
  /**
   * Whether the sandbox counts as secure without it. The confinement layers are required; the
   * cgroup, which bounds what a worker can use rather than what it can reach, is not: without
   * it the host starts and warns.
   */
  required: boolean;
  /** What the check saw: `key=value` facts when it works, the launcher's `step=` line when not. */
  detail: string;
  /** How to make it available, when it is not. */
  fix: string | undefined;
  /** What the layer stops; for tables and docs. */
  blocks: string;
}

/** The security status, checked once per host startup. */
export interface SecurityStatus {
  features: FeatureStatus[];
  /** Every required layer is available (a missing cgroup is a warning only). */
  secure: boolean;
  /** The Landlock ABI version, 0 when Landlock is unavailable. */
  landlockAbi: number;
  /** The layers workers of this host run with. */
  layers: SandboxLayers;
  /** Where the host puts its workers' cgroups, when the cgroup layer is available. */
  cgroups?: CgroupPlace;
  checkedAt: string;
}

const FEATURES: Record<SecurityFeature, { blocks: string; fix: string; required: boolean }> = {
  userns: {
    blocks: 'the host filesystem (pivot_root into a tmpfs root), other processes (pid namespace), SysV IPC, hostname',
    fix:
      'allow unprivileged user namespaces: on Ubuntu 23.10+ `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` ' +
      '(or an AppArmor profile granting `userns` to node); elsewhere `sysctl -w user.max_user_namespaces=15000` and, on ' +
      'Debian kernels before 5.10, `kernel.unprivileged_userns_clone=1`; in Docker, run with ' +
      '`--security-opt seccomp=unconfined` (the default profile blocks unshare/clone with namespace flags) and ' +
      '`--security-opt apparmor=unconfined`',
    required: true,
  },
  netns: {
    blocks: 'every network interface but a down loopback: no TCP, UDP or raw traffic to the host or beyond',
    fix: 'needs user namespaces (see userns) and a kernel with CONFIG_NET_NS',
    required: true,
  },
  seccomp: {
    blocks:
      'non-unix sockets, ptrace, mount/unshare/setns, io_uring, bpf, keyctl, perf, userfaultfd; shared memory (shared mmap, SysV, memfd), ' +
      'fallocate beyond the size, machine-wide quotas (aio, inotify, fanotify), the mount table and sysinfo; after startup execve and process creation',
    fix: 'a kernel with CONFIG_SECCOMP_FILTER; in a container, a seccomp profile that allows the seccomp() syscall',
    required: true,
  },
  landlock: {
    blocks: 'any file access beyond the runtime (read/execute) and the worker dir; TCP bind/connect (ABI ≥ 4); abstract unix sockets and signals outside the sandbox (ABI ≥ 6)',
    fix: 'Linux ≥ 5.13 with Landlock enabled: add `landlock` to the `lsm=` kernel parameter (or CONFIG_LSM)',
    required: true,
  },
  cgroup: {
    blocks:
      'memory past limits.dataBytes that RLIMIT_DATA does not count (page cache, kernel memory), all workers together past ' +
      'limits.workersMemoryBytes, more than limits.threads threads per worker when the host runs as root (RLIMIT_NPROC does not apply to uid 0)',
    fix: CGROUP_FIX,
    required: false,
  },
};

/** Options of `checkSecurity`. */
export interface CheckSecurityOptions {
  /** The launcher to check with (tests). Default: the package's. */
  launcher?: string;
  /** `false`: report the cgroup layer off without looking (the host's `cgroups` option). */
  cgroups?: boolean;
}

interface CheckOutcome {
  ok: boolean;
  stdout: string;
  stderr: string;
  /** When it differs from the feature's usual fix. */
  fix?: string;
  cgroups?: CgroupPlace;
}

async function runCheck(feature: SecurityFeature | 'all', cacheDir: string, launcher: string, args: string[] = []): Promise<CheckOutcome> {
  // Run from inside the cache dir: a check run elsewhere can give a false answer (a
  // different filesystem, different mount flags).
  const { ok, stdout, stderr } = await runToEnd(optionalAddon(), launcher, ['--check', feature, ...args], { cwd: cacheDir, timeoutMs: 10_000 });
  return { ok, stdout: stdout.trim(), stderr: stderr.trim() };
}

/** The features `launcher --check all` checks in one process. */
const CHECKED_TOGETHER: readonly SecurityFeature[] = ['userns', 'netns', 'seccomp', 'landlock'];

const CHECK_LINE = /^(\w+) (ok|fail) ?(.*)$/;

/**
 * Every confinement layer from one launcher run (`--check all`, each probe in a child of its
 * own): one spawn from the host instead of one per feature, each costing several ms of the
 * host's CPU on the way to its first job. A feature the run did not report on (the launcher
 * died, or predates `all`) is checked on its own, as before.
 */
async function checkTogether(cacheDir: string, launcher: string): Promise<Map<SecurityFeature, CheckOutcome>> {
  const all = await runCheck('all', cacheDir, launcher);
  const outcomes = new Map<SecurityFeature, CheckOutcome>();
  for (const line of all.stdout.split('\n')) {
    const match = CHECK_LINE.exec(line.trim());
    const feature = match?.[1] as SecurityFeature | undefined;
    if (!match || !feature || !CHECKED_TOGETHER.includes(feature) || outcomes.has(feature)) continue;
    const ok = match[2] === 'ok';
    outcomes.set(feature, { ok, stdout: ok ? match[3]! : '', stderr: ok ? '' : match[3]! });
  }
  const missing = CHECKED_TOGETHER.filter((feature) => !outcomes.has(feature));
  if (missing.length > 0) debug('launcher --check all left out %o (%s): checking them one by one', missing, all.stderr);
  const alone = await Promise.all(missing.map((feature) => runCheck(feature, cacheDir, launcher)));
  missing.forEach((feature, i) => outcomes.set(feature, alone[i]!));
  return outcomes;
}

/**
 * The cgroup layer: a place under the host's own cgroup, and a launcher that creates, limits
 * and joins a cgroup there and sees the pids limit hold, under a `warden-check-*` cgroup made
 * and removed like a host's.
 */
async function checkCgroup(cacheDir: string, launcher: string, enabled: boolean): Promise<CheckOutcome> {
  if (!enabled) return { ok: false, stdout: '', stderr: 'turned off (the cgroups option is false)', fix: 'leave the `cgroups` option at its default, true' };
  const place = findCgroupPlace();
  if (!('version' in place)) return { ok: false, stdout: '', stderr: place.reason, fix: place.fix };
  let host: HostCgroups;
  try {
    host = await HostCgroups.open(place, `warden-check-${crypto.randomBytes(6).toString('hex')}`, 256 * 1024 * 1024);
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    return { ok: false, stdout: '', stderr: `cannot create a cgroup under ${place.parents.join(', ')}: ${err.code ?? err.message}` };
  }
  try {
    const outcome = await runCheck('cgroup', cacheDir, launcher, host.workerDirs('probe').flatMap((dir) => ['--cgroup', dir]));
    const where = `v${place.version} ${place.parents.join(' ')}`;
    return { ...outcome, stdout: outcome.ok ? `${outcome.stdout} ${where}` : outcome.stdout, cgroups: outcome.ok ? place : undefined };
  } finally {
    await host.close();
  }
}

/**
 * Checks every sandbox layer once by running the real launcher in its check modes from inside
 * the cache dir: the confinement layers in one run, the cgroup's beside it.
 */
export async function checkSecurity(
  cacheDir: string,
  options: CheckSecurityOptions | string = {},
): Promise<SecurityStatus> {
  const { launcher = packagePaths.launcher, cgroups = true } = typeof options === 'string' ? { launcher: options } : options;
  const names = Object.keys(FEATURES) as SecurityFeature[];
  const [together, cgroup] = await Promise.all([checkTogether(cacheDir, launcher), checkCgroup(cacheDir, launcher, cgroups)]);
  const outcomes = names.map((feature) => (feature === 'cgroup' ? cgroup : together.get(feature)!));
  const features = names.map((feature, i): FeatureStatus => {
    const outcome = outcomes[i]!;
    return {
      feature,
      available: outcome.ok,
      required: FEATURES[feature].required,
      detail: outcome.ok ? outcome.stdout : outcome.stderr,
      fix: outcome.ok ? undefined : (outcome.fix ?? FEATURES[feature].fix),
      blocks: FEATURES[feature].blocks,
    };
  });
  const byName = (name: SecurityFeature): FeatureStatus => features.find((f) => f.feature === name)!;
  const abiMatch = /abi=(\d+)/.exec(byName('landlock').detail);
  const cgroupPlace = outcomes[names.indexOf('cgroup')]!.cgroups;
  const status: SecurityStatus = {
    features,
    secure: features.every((f) => f.available || !f.required),
    landlockAbi: byName('landlock').available && abiMatch ? Number(abiMatch[1]) : 0,
    layers: {
      userns: byName('userns').available,
      pivotRoot: byName('userns').available,
      netns: byName('userns').available && byName('netns').available,
      landlock: byName('landlock').available,
      seccomp: byName('seccomp').available,
      cgroup: byName('cgroup').available,
    },
    ...(cgroupPlace ? { cgroups: cgroupPlace } : {}),
    checkedAt: new Date().toISOString(),
  };
  debug('security status %o', status);
  return status;
}

/**
 * Secure by default: throws `E_SANDBOX_UNAVAILABLE` listing each missing required layer and
 * its fix, unless `allowInsecure` is set. Returns every missing feature, required or not (the
 * caller warns once for each).
 */
export function enforceSecurity(status: SecurityStatus, allowInsecure: boolean): FeatureStatus[] {
  const missing = status.features.filter((f) => !f.available && f.required);
  if (missing.length > 0 && !allowInsecure) {
    const lines = missing.map((f) => `- ${f.feature}: ${f.detail || 'unavailable'}\n  fix: ${f.fix}`);
    throw new SandboxUnavailableError(
      `the sandbox is incomplete on this machine; missing:\n${lines.join('\n')}\n` +
        'Fix the kernel settings above, or pass `allowInsecure: true` (CLI: --allow-insecure) to run without these layers.',
      { details: { missing: missing.map((f) => f.feature) } },
    );
  }
  return status.features.filter((f) => !f.available);
}
