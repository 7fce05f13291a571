import { execFile } from 'node:child_process';
import createDebug from 'debug';
import { SandboxUnavailableError } from '../errors.js';
import type { SandboxLayers } from '../protocol/messages.js';
import { packagePaths } from './paths.js';

const debug = createDebug('warden:security');

export type SecurityFeature = 'userns' | 'netns' | 'seccomp' | 'landlock';

/** One sandbox layer as checked on this machine. */
export interface FeatureStatus {
  feature: SecurityFeature;
  available: boolean;
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
  /** Every required layer is available. */
  secure: boolean;
  /** The Landlock ABI version, 0 when Landlock is unavailable. */
  landlockAbi: number;
  /** The layers workers of this host run with. */
  layers: SandboxLayers;
  checkedAt: string;
}

const FEATURES: Record<SecurityFeature, { blocks: string; fix: string }> = {
  userns: {
    blocks: 'the host filesystem (pivot_root into a tmpfs root), other processes (pid namespace), SysV IPC, hostname',
    fix:
      'allow unprivileged user namespaces: on Ubuntu 23.10+ `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` ' +
      '(or an AppArmor profile granting `userns` to node); elsewhere `sysctl -w user.max_user_namespaces=15000` and, on ' +
      'Debian kernels before 5.10, `kernel.unprivileged_userns_clone=1`; in Docker, run with ' +
      '`--security-opt seccomp=unconfined` (the default profile blocks unshare/clone with namespace flags) and ' +
      '`--security-opt apparmor=unconfined`',
  },
  netns: {
    blocks: 'every network interface but a down loopback: no TCP, UDP or raw traffic to the host or beyond',
    fix: 'needs user namespaces (see userns) and a kernel with CONFIG_NET_NS',
  },
  seccomp: {
    blocks: 'non-unix sockets, ptrace, mount/unshare/setns, io_uring, bpf, keyctl, perf, userfaultfd; after startup execve and process creation',
    fix: 'a kernel with CONFIG_SECCOMP_FILTER; in a container, a seccomp profile that allows the seccomp() syscall',
  },
  landlock: {
    blocks: 'any file access beyond the runtime (read/execute) and the worker dir; TCP bind/connect (ABI ≥ 4); abstract unix sockets and signals outside the sandbox (ABI ≥ 6)',
    fix: 'Linux ≥ 5.13 with Landlock enabled: add `landlock` to the `lsm=` kernel parameter (or CONFIG_LSM)',
  },
};

interface CheckOutcome {
  ok: boolean;
  stdout: string;
  stderr: string;
}

function runCheck(feature: SecurityFeature, cacheDir: string, launcher: string): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    // Run from inside the cache dir: a check run elsewhere can give a false answer (a
    // different filesystem, different mount flags).
    execFile(launcher, ['--check', feature], { cwd: cacheDir, env: {}, timeout: 10_000 }, (error, stdout, stderr) => {
      resolve({ ok: !error, stdout: String(stdout).trim(), stderr: String(stderr).trim() || (error ? error.message : '') });
    });
  });
}

/**
 * Checks every sandbox layer once, in parallel, by running the real launcher in its check
 * modes from inside the cache dir.
 */
export async function checkSecurity(cacheDir: string, launcher: string = packagePaths.launcher): Promise<SecurityStatus> {
  const names = Object.keys(FEATURES) as SecurityFeature[];
  const outcomes = await Promise.all(names.map((feature) => runCheck(feature, cacheDir, launcher)));
  const features = names.map((feature, i): FeatureStatus => {
    const outcome = outcomes[i]!;
    return {
      feature,
      available: outcome.ok,
      detail: outcome.ok ? outcome.stdout : outcome.stderr,
      fix: outcome.ok ? undefined : FEATURES[feature].fix,
      blocks: FEATURES[feature].blocks,
    };
  });
  const byName = (name: SecurityFeature): FeatureStatus => features.find((f) => f.feature === name)!;
  const abiMatch = /abi=(\d+)/.exec(byName('landlock').detail);
  const status: SecurityStatus = {
    features,
    secure: features.every((f) => f.available),
    landlockAbi: byName('landlock').available && abiMatch ? Number(abiMatch[1]) : 0,
    layers: {
      userns: byName('userns').available,
      pivotRoot: byName('userns').available,
      netns: byName('userns').available && byName('netns').available,
      landlock: byName('landlock').available,
      seccomp: byName('seccomp').available,
    },
    checkedAt: new Date().toISOString(),
  };
  debug('security status %o', status);
  return status;
}

/**
 * Secure by default: throws `E_SANDBOX_UNAVAILABLE` listing each missing layer and its fix,
 * unless `allowInsecure` is set; then returns the missing features (the caller warns once
 * for each).
 */
export function enforceSecurity(status: SecurityStatus, allowInsecure: boolean): FeatureStatus[] {
  const missing = status.features.filter((f) => !f.available);
  if (missing.length > 0 && !allowInsecure) {
    const lines = missing.map((f) => `- ${f.feature}: ${f.detail || 'unavailable'}\n  fix: ${f.fix}`);
    throw new SandboxUnavailableError(
      `the sandbox is incomplete on this machine; missing:\n${lines.join('\n')}\n` +
        'Fix the kernel settings above, or pass `allowInsecure: true` (CLI: --allow-insecure) to run without these layers.',
      { details: { missing: missing.map((f) => f.feature) } },
    );
  }
  return missing;
}
