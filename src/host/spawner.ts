/**
 * Why: one way to make a sandboxed worker, for the spawner and the early worker: its dir, the
 * launcher and the handshake, the dir removed when the worker does not start.
 */
export async function spawnWorkerProcess(
  options: ResolvedHostOptions,
  kind: WorkerKind,
  info: (hostDir: string) => WorkerInfo,
  extra: { cgroups?: HostCgroups | undefined; entry?: TestEntry | undefined; tierFlags?: readonly string[] } = {},
): Promise<WorkerProcess> {
  const hostDir = await createWorkerDir(options.cacheDir, kind);
  try {
    return await WorkerProcess.spawn({
      info: info(hostDir),
      hostDir,
      cwd: options.cacheDir,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      ...(extra.entry ? { entry: extra.entry } : {}),
      ...(extra.cgroups ? { cgroup: { dirs: extra.cgroups.workerDirs(path.basename(hostDir)) } } : {}),
      ...(extra.tierFlags && extra.tierFlags.length > 0 ? { tierFlags: extra.tierFlags } : {}),
    });
  } catch (error) {
    await removeWorkerDir(hostDir);
    throw error;
  }
}

/** Why: a worker that is not kept leaves neither its process nor its dir behind. */
export async function discardWorker(worker: WorkerProcess): Promise<void> {
  await worker.kill();
  await removeWorkerDir(worker.hostDir);
}

/**
 * The one owner of a host's worker processes: it makes each one's worker dir and cgroup,
 * spawns it, removes the dir when it dies, and kills whatever is left at close. The pools
 * drive workers' lives (their machines); what runs on the machine is only ever here.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import createDebug from 'debug';
import { WorkerProcess } from '../actors/workerProcess.js';
import { HostClosedError } from '../errors.js';
import { workerLimits, type ResolvedHostOptions } from '../options.js';
import type { WorkerInfo, WorkerKind } from '../protocol/messages.js';
import { HostCgroups, hostCgroupName } from '../sandbox/cgroup.js';
import type { TestEntry, WorkerCgroup } from '../sandbox/launcher.js';
import { SANDBOX_WORKER_DIR } from '../sandbox/paths.js';
import type { SecurityStatus } from '../sandbox/security.js';
import { createWorkerDir, purgeStaleWorkerDirs, removeWorkerDir } from '../sandbox/workerDir.js';

const debug = createDebug('warden:host');

export class WorkerSpawner {
  /**
   * @internal TEST ONLY: the entry file of the workers spawned from now on (the adversarial
   * suite's attacker worker); the real worker when undefined. Not an option: no caller of the
   * public API can choose what runs in the sandbox.
   */
  entry: TestEntry | undefined;
  /**
   * @internal TEST ONLY: V8 flags forcing a compiler tier in the workers spawned from now on
   * (one of `TEST_TIER_FLAGS`, src/sandbox/launcher.ts, which refuses any other). Not an option.
   */
  tierFlags: readonly string[] = [];
  readonly #options: ResolvedHostOptions;
  readonly #status: SecurityStatus;
  /** The cgroup every worker's own goes under, when the host has the cgroup layer. */
  readonly #cgroups: HostCgroups | undefined;
  readonly #live = new Set<WorkerProcess>();
  /** Spawns in flight, dir creation and cleanup included: `close` waits for them. */
  readonly #spawning = new Set<Promise<void>>();
  /** A worker started before the spawner (`EarlyWorker`), for the first execute spawn to take. */
  #early: Promise<WorkerProcess | undefined> | undefined;
  /**
   * While the early worker boots and runs the first job it is given, every other spawn waits
   * (`release`): a cold host's first job needs that one worker, and on few cores the others'
   * boots would take the CPU its boot and its first job need.
   */
  #gate: Promise<void> | undefined;
  #openGate: () => void = () => {};
  #stopped = false;

  constructor(options: ResolvedHostOptions, status: SecurityStatus, cgroups?: HostCgroups) {
    this.#options = options;
    this.#status = status;
    this.#cgroups = cgroups;
  }

  /** The worker processes alive now (spawned, not yet exited). */
  get live(): ReadonlySet<WorkerProcess> {
    return this.#live;
  }

  /**
   * Spawns one sandboxed worker with its own worker dir and waits for its handshake. The
   * dir is removed when the worker dies.
   */
  spawn(kind: WorkerKind, id = `${kind}-${crypto.randomBytes(4).toString('hex')}`): Promise<WorkerProcess> {
    // Only a forced stop refuses: a graceful close still replaces a worker that died under a job it lets finish.
    if (this.#stopped) return Promise.reject(new HostClosedError('the host is closed'));
    // From the next turn of the event loop: a spawn is asked for in the middle of other work (the
    // reply that settles a one-job process's job retires it), whose caller must resume first.
    // Measured with bench/isolationTrace.ts: 2–3 ms less between a paced 'job' reply and its caller.
    const early = kind === 'execute' ? this.#early : undefined;
    if (early) this.#early = undefined;
    const gate = this.#gate;
    // The early worker too is taken from the next turn: its handshake may be done already (a
    // slow startup check), and the test-only entry and tier flags, set by createHost's caller
    // as it resumes, must be read after that.
    const spawning = early
      ? early.then(async (worker) => {
          await nextTurn();
          return this.#takeEarly(worker, id);
        })
      : gate
        ? gate.then(() => this.#spawn(kind, id))
        : nextTurn().then(() => this.#spawn(kind, id));
    return this.#track(spawning);
  }

  /**
   * Takes a worker started before the spawner (`EarlyWorker`: the same sandbox, checked to be what
   * this host's workers get): the first execute spawn gets it instead of starting one. The other
   * spawns wait until its handshake is done (or failed) and the job it is then given at once, if
   * any, is answered (at most FIRST_JOB_MAX_WAIT_MS), unless `release` lets them go first.
   */
  adopt(early: Promise<WorkerProcess | undefined>): void {
    this.#early = early;
    void this.#track(early);
    this.#gate = new Promise<void>((resolve) => {
      this.#openGate = () => {
        this.#gate = undefined;
        resolve();
      };
    });
    const open = (): void => this.release();
    early.then(
      (worker) => {
        if (!worker) return open();
        // A long first job does not hold the others back past FIRST_JOB_MAX_WAIT_MS.
        const cap = setTimeout(open, FIRST_JOB_MAX_WAIT_MS);
        cap.unref();
        void worker.answered(FIRST_JOB_WAIT_MS).then(() => {
          clearTimeout(cap);
          open();
        });
      },
      open,
    );
  }

  /**
   * Lets spawns waiting for the early worker go now: work that the early worker cannot take has
   * come (a prepare), and its worker must not wait for another's boot.
   */
  release(): void {
    this.#openGate();
  }

  /**
   * The early worker, once its handshake is done, as this spawn's worker; a spawn of the usual
   * kind if it did not start, or if the test-only entry or tier flags were set since (they are
   * read, as for any spawn, after the spawn's first I/O).
   */
  async #takeEarly(worker: WorkerProcess | undefined, id: string): Promise<WorkerProcess> {
    if (worker && this.entry === undefined && this.tierFlags.length === 0) return this.#own(worker, id);
    if (worker) await discardWorker(worker);
    return this.#spawn('execute', id);
  }

  #track<T>(spawning: Promise<T>): Promise<T> {
    const tracked = spawning.then(
      () => {},
      () => {},
    );
    this.#spawning.add(tracked);
    void tracked.then(() => this.#spawning.delete(tracked));
    return spawning;
  }

  async #spawn(kind: WorkerKind, id: string): Promise<WorkerProcess> {
    // Stopped since the spawn was asked for: nothing is made.
    if (this.#stopped) throw new HostClosedError('the host is closed');
    const worker = await spawnWorkerProcess(this.#options, kind, (hostDir) => this.info(kind, id, hostDir), {
      cgroups: this.#cgroups,
      entry: this.entry,
      tierFlags: this.tierFlags,
    });
    return this.#own(worker, id);
  }

  /** A worker whose handshake is done becomes one of the live ones, its dir removed when it dies. */
  async #own(worker: WorkerProcess, id: string): Promise<WorkerProcess> {
    const { hostDir } = worker;
    if (this.#stopped || !worker.alive) {
      await discardWorker(worker);
      // Stopped during the handshake: this worker is not wanted. (An early worker that died while
      // it waited is replaced by a spawn of the usual kind.)
      if (this.#stopped) throw new HostClosedError('the host closed while the worker was starting');
      return this.#spawn(worker.info.kind, id);
    }
    // An early worker was named before the pool named it: the host's name is the pool's.
    worker.info.id = id;
    this.#live.add(worker);
    void worker.exited.then(async () => {
      const error = await removeWorkerDir(hostDir);
      if (error) debug('cannot remove worker dir %s (purged at the next startup): %s', hostDir, error.message);
      this.#live.delete(worker);
    });
    return worker;
  }

  /** The cgroups of the worker whose dir is `hostDir` (named after it), when the host has cgroups. */
  cgroup(hostDir: string): WorkerCgroup | undefined {
    return this.#cgroups ? { dirs: this.#cgroups.workerDirs(path.basename(hostDir)) } : undefined;
  }

  /** What a worker of this host is: its limits and the layers checked at startup. */
  info(kind: WorkerKind, id: string, hostDir: string): WorkerInfo {
    return {
      kind,
      id,
      // Without a new root the worker sees its dir at the host path (Landlock still confines it).
      dir: this.#status.layers.pivotRoot ? SANDBOX_WORKER_DIR : hostDir,
      limits: workerLimits(this.#options.limits),
      layers: this.#status.layers,
    };
  }

  /** Refuses every spawn from now on; a worker whose handshake is under way is killed as it arrives. */
  stop(): void {
    this.#stopped = true;
    this.release();
  }

  /**
   * Stops, waits for spawns in flight, then kills every live worker and removes its dir, so
   * that no worker and no worker dir appears after it returned; then the dirs whose removal
   * failed earlier, and the host's cgroup.
   */
  async close(): Promise<void> {
    this.stop();
    const early = this.#early;
    this.#early = undefined;
    await Promise.all([...this.#spawning]);
    // Never taken (the pool did not ask for an execute worker before the close).
    const unused = await early;
    if (unused) await this.#own(unused, unused.info.id).catch(() => {});
    await Promise.all(
      [...this.#live].map(async (worker) => {
        await worker.kill();
        await removeWorkerDir(worker.hostDir);
      }),
    );
    await purgeStaleWorkerDirs(this.#options.cacheDir).catch((error: Error) => debug('purge on close failed: %s', error.message));
    await this.#cgroups?.close();
  }
}

/**
 * How long after the early worker's handshake the others wait for it to be given a job: a job
 * that waited for it is sent within a few ms; past this, none came, and the others start.
 */
const FIRST_JOB_WAIT_MS = 50;

/** The longest the others wait for the early worker's first answer after its handshake. */
const FIRST_JOB_MAX_WAIT_MS = 250;

/** Resolves on the next turn of the event loop, after whatever the current one settles. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The host's own cgroup over its workers' (named after the cache dir, which the host has
 * locked), when the check found the layer. Should making it fail after a good check, the
 * layer is reported off rather than the host refused: workers keep every other layer.
 */
export async function openHostCgroups(status: SecurityStatus, options: ResolvedHostOptions): Promise<HostCgroups | undefined> {
  if (!status.layers.cgroup || !status.cgroups) return undefined;
  const name = hostCgroupName(options.cacheDir);
  try {
    return await HostCgroups.open(status.cgroups, name, options.limits.workersMemoryBytes);
  } catch (error) {
    const feature = status.features.find((f) => f.feature === 'cgroup')!;
    feature.available = false;
    feature.detail = `cannot create ${name}: ${(error as Error).message}`;
    feature.fix ??= 'see the cgroup check';
    status.layers.cgroup = false;
    delete status.cgroups;
    return undefined;
  }
}
