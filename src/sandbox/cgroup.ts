import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import createDebug from 'debug';

const debug = createDebug('warden:cgroup');

/**
 * Where a host can put its workers' cgroups: the cgroup under which it creates its own
 * `warden-*` cgroup, one per hierarchy that holds a controller it needs (cgroup v1: the memory
 * and the pids hierarchy; v2: the one unified hierarchy).
 */
export interface CgroupPlace {
  version: 1 | 2;
  parents: string[];
}

/** Why no place was found, and what would give one. */
export interface NoCgroupPlace {
  reason: string;
  fix: string;
}

const CONTROLLERS = ['memory', 'pids'] as const;

export const CGROUP_FIX =
  'run the host as root on cgroup v1 (memory and pids hierarchies mounted), or on cgroup v2 in a delegated subtree whose ' +
  "host process sits in a leaf, e.g. `systemd-run -p Delegate=yes -p DelegateSubgroup=host ...` (systemd ≥ 254; `--user` for a user's " +
  'own manager), so that the parent of the host\'s cgroup delegates memory and pids';

/** mountinfo escapes space, tab, newline and backslash in paths as octal. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

interface CgroupMount {
  version: 1 | 2;
  /** The cgroup the mount shows at its mount point (a container may see a sub-tree). */
  root: string;
  mountPoint: string;
  /** v1: the controllers of the hierarchy. */
  controllers: string[];
}

/** The cgroup mounts in `/proc/self/mountinfo`. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions = ''] = right.split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    mounts.push({
      version: fsType === 'cgroup2' ? 2 : 1,
      root: unescapeMountPath(fields[3] ?? '/'),
      mountPoint: unescapeMountPath(fields[4] ?? ''),
      controllers: fsType === 'cgroup' ? superOptions.split(',') : [],
    });
  }
  return mounts;
}

/** `controllers → cgroup path` from `/proc/self/cgroup` (`''` stands for the v2 hierarchy). */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, controllers, cgroupPath] = match as unknown as [string, string, string];
    if (controllers === '') paths.set('', cgroupPath);
    for (const controller of controllers.split(',')) if (controller) paths.set(controller, cgroupPath);
  }
  return paths;
}

/** The directory of cgroup `cgroupPath` under `mount`, if the mount shows it. */
function dirOf(mount: CgroupMount, cgroupPath: string): string | undefined {
  const root = mount.root === '/' ? '' : mount.root;
  if (root && cgroupPath !== root && !cgroupPath.startsWith(`${root}/`)) return undefined;
  return path.resolve(mount.mountPoint, `.${cgroupPath.slice(root.length)}`);
}

/** The words in a cgroup v2 list file (`cgroup.controllers`, `cgroup.subtree_control`). */
function readWords(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}

/**
 * Finds where this process can put its workers' cgroups, from `/proc/self/cgroup` and
 * `/proc/self/mountinfo`: beside nothing of anyone else's, under its own cgroup. cgroup v1
 * (the controllers in their own hierarchies): under the host's own cgroup in each. cgroup v2:
 * a cgroup that holds processes cannot hand controllers to children, so under the parent of
 * the host's cgroup, which must delegate memory and pids (the host's cgroup is then a leaf of a
 * delegated subtree), or under the root when the host is in it. Whether the host may write
 * there is the check's to find out.
 */
export function findCgroupPlace(
  procCgroup: string = readOr('/proc/self/cgroup'),
  mountinfo: string = readOr('/proc/self/mountinfo'),
  words: (file: string) => string[] = readWords,
): CgroupPlace | NoCgroupPlace {
  const own = parseProcCgroup(procCgroup);
  const mounts = parseCgroupMounts(mountinfo);
  const v1 = CONTROLLERS.map((controller) => {
    const mount = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
    const cgroupPath = own.get(controller);
    return mount && cgroupPath !== undefined ? dirOf(mount, cgroupPath) : undefined;
  });
  if (v1.every((dir) => dir !== undefined)) return { version: 1, parents: v1 as string[] };
  const unified = mounts.find((m) => m.version === 2);
  const ownPath = own.get('');
  if (!unified || ownPath === undefined) {
    return { reason: 'no cgroup hierarchy with the memory and pids controllers is mounted', fix: CGROUP_FIX };
  }
  const ownDir = dirOf(unified, ownPath);
  if (ownDir === undefined) return { reason: `the host's cgroup ${ownPath} is not under the cgroup2 mount`, fix: CGROUP_FIX };
  const available = words(path.join(unified.mountPoint, 'cgroup.controllers'));
  const missing = CONTROLLERS.filter((c) => !available.includes(c));
  if (missing.length > 0) {
    return { reason: `cgroup v2 is mounted without the ${missing.join(' and ')} controller (they are bound to cgroup v1)`, fix: CGROUP_FIX };
  }
  if (ownPath === '/' && unified.root === '/') return { version: 2, parents: [ownDir] };
  const parent = path.dirname(ownDir);
  const delegated = words(path.join(parent, 'cgroup.subtree_control'));
  const undelegated = CONTROLLERS.filter((c) => !delegated.includes(c));
  if (undelegated.length > 0 || !parent.startsWith(unified.mountPoint)) {
    return {
      reason: `the parent of the host's cgroup (${parent}) does not delegate ${undelegated.join(' and ') || 'memory and pids'}`,
      fix: CGROUP_FIX,
    };
  }
  return { version: 2, parents: [parent] };
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Removes cgroups (children first, as given); a cgroup already gone is fine. Tasks that are
 * still exiting keep a cgroup busy for a moment, hence the short retries. Never throws. */
export async function removeCgroups(dirs: readonly string[]): Promise<Error | undefined> {
  let failure: Error | undefined;
  for (const dir of dirs) {
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.rmdir(dir);
        break;
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') break;
        if (errnoOf(error) === 'EBUSY' && attempt < 20) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          continue;
        }
        failure = error as Error;
        break;
      }
    }
  }
  return failure;
}

/** The name of a host's cgroup: its cache dir's, which the host holds locked, so its alone. */
export function hostCgroupName(cacheDir: string): string {
  return `warden-${crypto.createHash('sha256').update(cacheDir).digest('hex').slice(0, 16)}`;
}

/**
 * The cgroups of one host's workers: `<parent>/<name>` in each hierarchy of its place, with the
 * budget of all its workers as the memory limit, and one child per worker, which the launcher
 * creates, limits and joins (`--cgroup`) and the host removes once the worker has exited.
 */
export class HostCgroups {
  readonly place: CgroupPlace;
  /** The host's own cgroup in each hierarchy. */
  readonly dirs: string[];

  private constructor(place: CgroupPlace, dirs: string[]) {
    this.place = place;
    this.dirs = dirs;
  }

  /**
   * Creates (or takes over, after a host that did not close) the host's cgroups, sets the
   * budget and removes the cgroups of workers a previous host left. `name` must be the host's
   * alone: the caller holds the cache dir lock, and derives it from the cache dir.
   */
  static async open(place: CgroupPlace, name: string, budgetBytes: number): Promise<HostCgroups> {
    const dirs = place.parents.map((parent) => path.join(parent, name));
    try {
      for (const dir of dirs) await HostCgroups.#make(place, dir, budgetBytes);
    } catch (error) {
      await removeCgroups(dirs);
      throw error;
    }
    return new HostCgroups(place, dirs);
  }

  /** One hierarchy's host cgroup: made (or kept), emptied of stale workers, then limited. */
  static async #make(place: CgroupPlace, dir: string, budgetBytes: number): Promise<void> {
    await fsp.mkdir(dir).catch((error: unknown) => {
      if (errnoOf(error) !== 'EEXIST') throw error;
    });
    const stale = (await fsp.readdir(dir, { withFileTypes: true })).filter((entry) => entry.isDirectory());
    const error = await removeCgroups(stale.map((entry) => path.join(dir, entry.name)));
    if (error) debug('cannot remove a stale worker cgroup in %s: %s', dir, error.message);
    // v2: a cgroup's children get only the controllers it enables for its subtree; this one
    // has no process of its own, so it may.
    if (place.version === 2) await fsp.writeFile(path.join(dir, 'cgroup.subtree_control'), '+memory +pids', { flag: fs.constants.O_WRONLY });
    if (place.version === 2) {
      await writeIfPresent(dir, 'memory.max', budgetBytes);
      await writeIfPresent(dir, 'memory.swap.max', 0);
    } else {
      // v1 keeps memory+swap at or above memory alone at every step, and a kept cgroup may hold
      // other values: memory+swap unlimited first, then memory, then memory+swap to match.
      await writeIfPresent(dir, 'memory.memsw.limit_in_bytes', -1);
      await writeIfPresent(dir, 'memory.limit_in_bytes', budgetBytes);
      await writeIfPresent(dir, 'memory.memsw.limit_in_bytes', budgetBytes);
    }
  }

  /** The cgroups of the worker called `name` (unique per host: its worker dir's name). */
  workerDirs(name: string): string[] {
    return this.dirs.map((dir) => path.join(dir, name));
  }

  /** Removes the host's cgroups once its workers are gone; one still busy is left for the next open. */
  async close(): Promise<void> {
    const error = await removeCgroups(this.dirs);
    if (error) debug('cannot remove the host cgroups: %s', error.message);
  }
}

/** Writes a limit into a cgroup file if the hierarchy has that controller. */
async function writeIfPresent(dir: string, file: string, value: number): Promise<void> {
  try {
    // Never O_CREAT: a cgroup filesystem answers EACCES, not ENOENT, to creating a file.
    await fsp.writeFile(path.join(dir, file), `${value}\n`, { flag: fs.constants.O_WRONLY });
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw error;
  }
}
