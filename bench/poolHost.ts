/**
 * Host CPU of the pool alone (issue 13): serial jobs through Pool, PoolWorker and the worker
 * machine on worker handles that answer on the next turn of the event loop (no process, no IPC),
 * so the figure is the pool's own bookkeeping, less sensitive to a loaded machine than row 1.
 * A/B: `npx tsx bench/poolHost.ts <tree> [jobs] [sync|async]` with <tree> a checkout of another
 * commit (its src/ is imported). `sync`: jobs that populate and collect with no I/O, as an
 * execute job on a ready dir does (needs a tree where populate/collect may return undefined).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const root = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, ".."));
const N = Number(process.argv[3] ?? 20_000);
const { Pool } = await import(`${root}/src/actors/pool.ts`);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poolbench-'));
const layers = { userns: true, pivotRoot: true, netns: true, landlock: true, seccomp: true, cgroup: true };
class Handle {
  hostDir: string; info = { layers }; sandboxPid = 1; exitInfo = undefined; exited = new Promise(() => {});
  constructor(id: string) { this.hostDir = path.join(dir, id); fs.mkdirSync(this.hostDir); }
  request(type: number) { return new Promise((resolve) => setImmediate(() => resolve({ type: type + 1, id: 1, header: { ok: true }, body: new Uint8Array(0) }))); }
  kill() { return Promise.resolve(); }
  once() { return this; }
}
const sync = process.argv[4] === 'sync';
class Job {
  kind = 'execute'; priority = 'normal'; isolation = 'worker'; signal = undefined; deadline = undefined; hardTimeoutMs = 10_000;
  request = { type: 10, header: {}, replyType: 11 }; settled = false; id: string; promise: Promise<void>; #resolve!: () => void;
  constructor(id: string) { this.id = id; this.promise = new Promise((r) => (this.#resolve = r)); }
  started() {}
  populate() { return sync ? undefined : Promise.resolve(); }
  collect() { this.settled = true; this.#resolve(); return sync ? undefined : Promise.resolve(); }
  failed(_r: string, e: Error) { console.error('failed', e.message); process.exit(1); }
}
const pool = new Pool({
  kind: 'execute', size: 1, maxQueue: 100,
  supervisor: { backoff: { initialMs: 100, maxMs: 1000, factor: 2 }, crashLoop: { maxFailures: 5, windowMs: 10000 }, cooldownMs: 10000 },
  spawn: async (_k: string, id: string) => new Handle(id),
  events: { workerSpawned() {}, workerState() {}, workerExited() {}, degraded() {}, recovered() {} },
});
await new Promise((r) => setTimeout(r, 50));
const run = async (n: number) => { for (let i = 0; i < n; i++) { const job = new Job(`j${i}`); pool.submit(job); await job.promise; } };
await run(2000);
const cpu = process.cpuUsage();
const t0 = performance.now();
await run(N);
const used = process.cpuUsage(cpu);
console.log(`${path.basename(root)} ${sync ? 'sync' : 'async'}: pool host CPU/job=${((used.user + used.system) / N).toFixed(1)} us, wall/job=${((performance.now() - t0) * 1000 / N).toFixed(1)} us`);
await pool.stop();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(0);
