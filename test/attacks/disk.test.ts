/**
 * Escape corpus, disk (with native code in the worker): blocks allocated past a file's size
 * escape RLIMIT_FSIZE. The seccomp filter allows fallocate in mode 0 only (it grows the size,
 * so RLIMIT_FSIZE bounds it); the host counts a worker file's blocks as well as its size.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { startHost } from '../helpers/host.js';
import { startAttacker } from '../helpers/attacker.js';
import { FALLOC_FL_KEEP_SIZE, MiB, fallocate } from '../helpers/nativeAttacks.js';
import { clearWorkerDir } from '../../src/sandbox/workerDir.js';
import { hello } from '../helpers/scheduler.js';
import { preparationParamsHash } from '../../src/shared/derive.js';
import { prepareLimitsOf } from '../../src/options.js';

const TMP_ARTIFACT = '/worker/tmp-artifact';
const LIMIT = 1 * MiB;

function allocated(file: string): number {
  return fs.statSync(file).blocks * 512;
}

test.serial('disk: fallocate(FALLOC_FL_KEEP_SIZE) on tmp-artifact fails with EPERM, nothing is allocated', async (t) => {
  // seccomp (launcher): fallocate in mode 0 only.
  const { host } = await startHost(t, { limits: { maxArtifactBytes: LIMIT } });
  const attacker = await startAttacker(t, host, 'prepare');
  const r = await attacker.run(fallocate(TMP_ARTIFACT, FALLOC_FL_KEEP_SIZE, 64 * MiB));
  t.true(r.ok, JSON.stringify(r));
  t.is((r.value as { errno: string }).errno, 'EPERM');
  t.true(allocated(path.join(attacker.worker.hostDir, 'tmp-artifact')) <= LIMIT);
});

test.serial('disk: fallocate in mode 0 past the file size limit fails with EFBIG', async (t) => {
  // RLIMIT_FSIZE: the one fallocate mode the filter lets through grows the size, which the limit bounds.
  const { host } = await startHost(t, { limits: { maxArtifactBytes: LIMIT } });
  const attacker = await startAttacker(t, host, 'prepare');
  const r = await attacker.run(fallocate(TMP_ARTIFACT, 0, 64 * MiB));
  t.is((r.value as { errno: string }).errno, 'EFBIG');
  t.true(allocated(path.join(attacker.worker.hostDir, 'tmp-artifact')) <= LIMIT);
});

test.serial('disk: an fd on tmp-artifact kept across jobs cannot allocate past the size either (EPERM)', async (t) => {
  // seccomp (launcher): the filter holds for the fd a reused worker keeps after the host cleared its dir.
  const { host } = await startHost(t, { limits: { maxArtifactBytes: LIMIT } });
  const attacker = await startAttacker(t, host, 'prepare');
  await attacker.run(`globalThis.keptFd = ctx.fs.openSync('${TMP_ARTIFACT}', 'r+'); return globalThis.keptFd;`);
  await clearWorkerDir(attacker.worker.hostDir, 'prepare'); // the end of a job
  const r = await attacker.run(fallocate(TMP_ARTIFACT, FALLOC_FL_KEEP_SIZE, 64 * MiB));
  t.is((r.value as { errno: string }).errno, 'EPERM');
  t.true(allocated(path.join(attacker.worker.hostDir, 'tmp-artifact')) <= LIMIT);
});

test.serial('disk: without seccomp, the host refuses a tmp-artifact whose blocks pass the limit, and will not clear it for another job', async (t) => {
  // Host checks (st_blocks counted with st_size): the install refuses the file (E_PREPARATION)
  // and the clear step fails (E_CLEAR_WORKER_DIR), so the pool replaces the worker.
  const { host } = await startHost(t, { limits: { maxArtifactBytes: LIMIT } });
  const artifact = await host.prepare(hello.wasm);
  const valid = fs.readFileSync(host.cache.pathOf(artifact.key));
  const attacker = await startAttacker(t, host, 'prepare', { layers: { seccomp: false } });
  const r = await attacker.run(`
    ctx.fs.writeFileSync('${TMP_ARTIFACT}', Buffer.from('${valid.toString('base64')}', 'base64'));
    ${fallocate(TMP_ARTIFACT, FALLOC_FL_KEEP_SIZE, 64 * MiB)}`);
  t.is((r.value as { errno: string }).errno, 'OK', 'without the filter the allocation goes through');
  const file = path.join(attacker.worker.hostDir, 'tmp-artifact');
  t.true(allocated(file) >= 64 * MiB);
  const install = await t.throwsAsync(
    host.cache.installFrom(artifact.key, file, {
      maxBytes: LIMIT,
      expectedParamsHash: preparationParamsHash(prepareLimitsOf(host.options.limits)),
    }),
  );
  t.is((install as { code?: string }).code, 'E_PREPARATION');
  t.is((install as { details?: { reason?: string } }).details?.reason, 'too-large');
  const clear = await t.throwsAsync(clearWorkerDir(attacker.worker.hostDir, 'prepare'));
  t.is((clear as { code?: string }).code, 'E_CLEAR_WORKER_DIR');
});
