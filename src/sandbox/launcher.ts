import { LauncherError } from '../errors.js';
import type { WorkerInfo } from '../protocol/messages.js';
import { WORKER_FILES, packagePaths, sandboxPackagePath } from './paths.js';
import { runtimeBinds, type Bind } from './runtime.js';

/** Exit codes of the launcher's steps (native/README.md). */
export const LAUNCHER_STEP_EXIT: Record<string, number> = {
  args: 100,
  fds: 101,
  pdeathsig: 102,
  cgroup: 114,
  userns: 103,
  idmap: 104,
  pidns: 105,
  rootfs: 106,
  pivot_root: 107,
  rlimits: 108,
  caps: 109,
  no_new_privs: 110,
  landlock: 111,
  seccomp: 112,
  execve: 113,
};

/** Node flags for the worker: small, predictable startup. */
// --openssl-config=/dev/null: node must not read the host's openssl.cnf (absent inside the new
// root; present but unreadable under Landlock alone, which node treats as fatal).
// No V8 flags here: any non-default V8 flag makes node compile its built-in modules from
// source instead of its code cache, about +10 ms of cold start (measured by npm run bench).
export const NODE_FLAGS = ['--disable-proto=throw', '--no-warnings', '--openssl-config=/dev/null'];

/**
 * @internal TEST ONLY: what the test suite's attacker workers run instead of the worker. `file`
 * is bound where the worker's entry is, so the sandbox holds exactly what a worker's does,
 * plus `binds` (the attack's native fixture). No public API reaches it.
 */
export interface TestEntry {
  file: string;
  binds?: Bind[];
}

/** The cgroups a worker is created in (one per hierarchy), made and joined by the launcher. */
export interface WorkerCgroup {
  dirs: string[];
}

/**
 * V8 flags the test suite may give workers to force one compiler tier (the deterministic-outcome
 * tests run the same jobs under each). They choose which compiler builds the same code and
 * weaken nothing; any other flag is refused, so even this test-only path cannot turn a
 * sandbox or a V8 check off.
 */
export const TEST_TIER_FLAGS: ReadonlySet<string> = new Set(['--liftoff-only', '--no-liftoff']);

/**
 * The launcher's command line for one worker (WorkerInfo says what it is; hostDir where its
 * dir is; `cgroup` where its cgroups go, when the host has them). `entry` and `tierFlags`
 * (`TEST_TIER_FLAGS` only) are the test suite's; no public API reaches them.
 */
export function launcherArgs(
  info: WorkerInfo,
  hostDir: string,
  options: { entry?: TestEntry; cgroup?: WorkerCgroup; tierFlags?: readonly string[] } = {},
): string[] {
  const { entry, cgroup, tierFlags = [] } = options;
  for (const flag of tierFlags) {
    if (!TEST_TIER_FLAGS.has(flag)) throw new TypeError(`worker V8 flag ${flag} is not one of ${[...TEST_TIER_FLAGS].join(', ')}`);
  }
  const newRoot = info.layers.pivotRoot;
  const args = ['--worker-dir', hostDir, '--kind', info.kind];
  const entryTarget = sandboxPackagePath(WORKER_FILES.entry);
  for (const bind of runtimeBinds()) {
    args.push('--ro-bind', entry && bind.target === entryTarget ? entry.file : bind.source, bind.target);
  }
  for (const bind of entry?.binds ?? []) args.push('--ro-bind', bind.source, bind.target);
  // Each worker task: the launcher's monitor, node and its threads.
  const tasks = String(info.limits.threads + 1);
  if (cgroup) {
    for (const dir of cgroup.dirs) args.push('--cgroup', dir);
    args.push('--cgroup-memory', String(info.limits.dataBytes), '--cgroup-pids', tasks);
  }
  args.push('--rlimit-data', String(info.limits.dataBytes));
  args.push('--rlimit-fsize', String(info.limits.fileBytes));
  args.push('--rlimit-nofile', String(info.limits.openFiles));
  // An execute worker's job runs on node's main thread with a V8 stack limit of jobStackMb: the
  // thread's stack may grow that far, with room for node's own frames below the job.
  args.push('--rlimit-stack', String(workerStackBytes(info.limits.jobStackMb)));
  args.push('--rlimit-nproc', tasks);
  if (info.limits.nice > 0) args.push('--nice', String(info.limits.nice));
  if (!info.layers.userns) args.push('--no-userns');
  if (!info.layers.pivotRoot) args.push('--no-pivot-root');
  if (!info.layers.netns) args.push('--no-netns');
  if (!info.layers.landlock) args.push('--no-landlock');
  if (!info.layers.seccomp) args.push('--no-seccomp');
  // Without a new root node sees the host's filesystem: the entry is at its host path.
  const hostEntry = entry?.file ?? packagePaths.workerEntry;
  args.push('--', process.execPath, ...NODE_FLAGS, ...tierFlags, newRoot ? entryTarget : hostEntry);
  return args;
}

/** The main thread's stack bound (RLIMIT_STACK) for a job stack of `jobStackMb`: at least the usual 8 MiB. */
export function workerStackBytes(jobStackMb: number): number {
  return Math.max(8, Math.ceil(jobStackMb) + 4) * 2 ** 20;
}

const STEP_LINE = /^step=(\S+) errno=(\S+) detail=(.*)$/m;

/** Turns the launcher's `step=... errno=... detail=...` line into a typed error, if there is one. */
export function parseLauncherFailure(stderr: string, exitCode: number | null): LauncherError | undefined {
  const match = STEP_LINE.exec(stderr);
  if (!match) return undefined;
  const [, step, errno, detail] = match as unknown as [string, string, string, string];
  return new LauncherError(`sandbox launcher failed at step ${step} (${errno}): ${detail}`, step, errno, {
    details: { step, errno, detail, exitCode },
  });
}
