/**
 * Escape corpus, resources: an attacker inside a worker tries to exhaust the host (fds,
 * disk, memory, the output pipes). Each test asserts the limit holds and the host stays
 * healthy.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';

const MiB = 1024 * 1024;

test.serial('resources: exhausting fds stops at EMFILE and the worker still answers', async (t) => {
  // RLIMIT_NOFILE (limits.openFiles, 128 by default).
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run(`
    const fds = [];
    try { for (;;) fds.push(ctx.fs.openSync('/dev/null', 'r')); }
    catch (error) { fds.forEach((fd) => ctx.fs.closeSync(fd)); return { code: error.code, opened: fds.length }; }`);
  const value = r.value as { code: string; opened: number };
  t.is(value.code, 'EMFILE');
  t.true(value.opened < host.options.limits.openFiles, `${value.opened} fds opened`);
  t.is((await attacker.run('return 1;')).value, 1);
});

test.serial('resources: filling the disk through / fails with EROFS', async (t) => {
  // tmpfs root remounted read-only: no byte can be written outside /worker.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host);
  const r = await attacker.run("ctx.fs.writeFileSync('/fill', Buffer.alloc(1024 * 1024)); return 1;");
  t.false(r.ok);
  t.is(r.code, 'EROFS');
});

test.serial('resources: filling tmp-artifact past the file size limit fails with EFBIG', async (t) => {
  // RLIMIT_FSIZE (limits.maxArtifactBytes); node ignores SIGXFSZ, so the write fails instead of killing.
  const { host } = await startHost(t);
  const attacker = await startAttacker(t, host, 'prepare');
  const limit = host.options.limits.maxArtifactBytes;
  const r = await attacker.run(`
    const fd = ctx.fs.openSync('/worker/tmp-artifact', 'w');
    const chunk = Buffer.alloc(1024 * 1024);
    let written = 0;
    try { for (;;) { written += ctx.fs.writeSync(fd, chunk); if (written > ${limit * 2}) return { code: 'NO_LIMIT', written }; } }
    catch (error) { return { code: error.code, written }; }
    finally { ctx.fs.closeSync(fd); }`, 60_000);
  t.true(r.ok, JSON.stringify(r));
  const value = r.value as { code: string; written: number };
  t.is(value.code, 'EFBIG');
  t.true(value.written <= limit);
  t.true(fs.statSync(path.join(attacker.worker.hostDir, 'tmp-artifact')).size <= limit);
  t.true(attacker.worker.alive);
});

test.serial('resources: a memory bomb hits RLIMIT_DATA, the host stays healthy', async (t) => {
  // RLIMIT_DATA (limits.dataBytes), lowered here so the bomb stays small on a shared machine.
  const { host } = await startHost(t, { limits: { dataBytes: 768 * MiB } });
  const attacker = await startAttacker(t, host);
  const run = attacker.run(`
    const hoard = [];
    try { for (let i = 0; i < 64; i++) hoard.push(Buffer.alloc(32 * 1024 * 1024, 1)); return { code: 'NO_LIMIT', mib: hoard.length * 32 }; }
    catch (error) { const mib = hoard.length * 32; hoard.length = 0; return { code: error.name, message: error.message, mib }; }`, 60_000);
  const r = await run.catch((error: Error & { code?: string }) => ({ ok: false, code: error.code, died: true }) as const);
  if ('died' in r) {
    // The worker died of it: the host sees a worker death, nothing else.
    const exit = await attacker.worker.exited;
    t.log(`the worker died: ${exit.error.message}`);
    t.is(exit.error.code, 'E_WORKER_DIED');
  } else {
    t.true(r.ok, JSON.stringify(r));
    const value = r.value as { code: string; mib: number };
    t.log(`allocation refused after ${value.mib} MiB: ${value.code}`);
    t.is(value.code, 'RangeError', JSON.stringify(value));
    t.true(value.mib < 768, `${value.mib} MiB`);
  }
  // The host is fine either way: it still starts workers that answer.
  const fresh = await startAttacker(t, host);
  t.is((await fresh.run('return 1;')).value, 1);
});

for (const stream of ['stdout', 'stderr'] as const) {
  test.serial(`resources: flooding ${stream} with 50 MiB does not block the host or the worker`, async (t) => {
    // Host side: WorkerProcess drains stdout and keeps a bounded stderr tail.
    const { host } = await startHost(t);
    const attacker = await startAttacker(t, host);
    const r = await attacker.run(`
      const chunk = Buffer.alloc(1024 * 1024, 0x41);
      for (let i = 0; i < 50; i++) process.${stream}.write(chunk);
      return 'flooded';`, 60_000);
    t.is(r.value, 'flooded');
    t.is((await attacker.run('return 1;')).value, 1, 'the worker still answers');
    t.true((await attacker.worker.ping()) >= 0);
  });
}
