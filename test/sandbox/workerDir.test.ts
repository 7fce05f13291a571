import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import {
  clearWorkerDir,
  createWorkerDir,
  copyArtifact,
  purgeStaleWorkerDirs,
  removeWorkerDir,
  WORKER_DIR_PREFIX,
} from '../../src/sandbox/workerDir.js';
import { startHost, tempCacheDir, waitFor, workerDirsIn } from '../helpers/host.js';

async function cache(t: { teardown: (fn: () => void) => void }): Promise<string> {
  const dir = await tempCacheDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('worker dirs are created inside the cache dir with the known layout', async (t) => {
  const cacheDir = await cache(t);
  const execute = await createWorkerDir(cacheDir, 'execute');
  const prepare = await createWorkerDir(cacheDir, 'prepare');
  t.is(path.dirname(execute), cacheDir);
  t.regex(path.basename(execute), /^worker-dir-execute-[0-9a-f]{12}$/);
  t.regex(path.basename(prepare), /^worker-dir-prepare-[0-9a-f]{12}$/);
  t.deepEqual(fs.readdirSync(execute), []);
  t.deepEqual(fs.readdirSync(prepare), ['tmp-artifact']);
  t.is(fs.statSync(path.join(prepare, 'tmp-artifact')).size, 0);
  t.is(fs.statSync(execute).mode & 0o777, 0o700);
});

test('populating an execute dir copies the artifact: a file of its own, nothing shared with the cache file', async (t) => {
  const cacheDir = await cache(t);
  const artifact = path.join(cacheDir, 'artifact-abc');
  fs.writeFileSync(artifact, 'compiled');
  const dir = await createWorkerDir(cacheDir, 'execute');
  await copyArtifact(dir, artifact);
  const copy = fs.lstatSync(path.join(dir, 'artifact'));
  t.true(copy.isFile());
  t.false(copy.isSymbolicLink());
  t.not(copy.ino, fs.statSync(artifact).ino);
  t.is(copy.nlink, 1, 'its link count says nothing of other workers');
  t.is(fs.statSync(artifact).nlink, 1);
  t.is(fs.readFileSync(path.join(dir, 'artifact'), 'utf8'), 'compiled');
});

test('clearing removes everything without following links and keeps the cache intact', async (t) => {
  const cacheDir = await cache(t);
  const artifact = path.join(cacheDir, 'artifact-abc');
  fs.writeFileSync(artifact, 'compiled');
  const outside = path.join(cacheDir, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'keep'), 'keep me');
  const dir = await createWorkerDir(cacheDir, 'execute');
  await copyArtifact(dir, artifact);
  fs.symlinkSync(outside, path.join(dir, 'link-to-dir'));
  fs.symlinkSync(artifact, path.join(dir, 'link-to-file'));
  fs.mkdirSync(path.join(dir, 'nested', 'deeper'), { recursive: true });
  fs.symlinkSync(outside, path.join(dir, 'nested', 'deeper', 'link'));
  fs.writeFileSync(path.join(dir, 'nested', 'junk'), 'x');
  await clearWorkerDir(dir, 'execute');
  t.deepEqual(fs.readdirSync(dir), []);
  t.is(fs.readFileSync(artifact, 'utf8'), 'compiled');
  t.is(fs.readFileSync(path.join(outside, 'keep'), 'utf8'), 'keep me');
});

test('clearing an execute dir can keep its artifact copy for the next job, and still removes the rest', async (t) => {
  const cacheDir = await cache(t);
  const artifact = path.join(cacheDir, 'artifact-abc');
  fs.writeFileSync(artifact, 'compiled');
  const dir = await createWorkerDir(cacheDir, 'execute');
  await copyArtifact(dir, artifact);
  const ino = fs.statSync(path.join(dir, 'artifact')).ino;
  fs.writeFileSync(path.join(dir, 'stray'), 'x');
  fs.mkdirSync(path.join(dir, 'nested'));
  t.true(await clearWorkerDir(dir, 'execute', ino));
  t.deepEqual(fs.readdirSync(dir), ['artifact']);
  t.is(fs.lstatSync(path.join(dir, 'artifact')).ino, ino);
  t.false(await clearWorkerDir(dir, 'execute'), 'without an inode to keep, the copy goes');
  t.deepEqual(fs.readdirSync(dir), []);
});

test('an artifact link to keep that is no longer the host\'s file is removed', async (t) => {
  const cacheDir = await cache(t);
  const artifact = path.join(cacheDir, 'artifact-abc');
  fs.writeFileSync(artifact, 'compiled');
  const ino = fs.statSync(artifact).ino;
  const dir = await createWorkerDir(cacheDir, 'execute');
  // Another file in its place, a symlink to the right file, a dir: none is the link the host made.
  const impostors: [string, () => void][] = [
    ['another file', () => fs.writeFileSync(path.join(dir, 'artifact'), 'compiled')],
    ['a symlink to the artifact', () => fs.symlinkSync(artifact, path.join(dir, 'artifact'))],
    ['a dir', () => fs.mkdirSync(path.join(dir, 'artifact'))],
  ];
  for (const [what, make] of impostors) {
    make();
    t.false(await clearWorkerDir(dir, 'execute', ino), what);
    t.deepEqual(fs.readdirSync(dir), [], what);
  }
  t.false(await clearWorkerDir(dir, 'execute', ino), 'no link at all');
  t.is(fs.readFileSync(artifact, 'utf8'), 'compiled');
});

test('clearing a prepare dir truncates tmp-artifact in place and removes the rest', async (t) => {
  const cacheDir = await cache(t);
  const dir = await createWorkerDir(cacheDir, 'prepare');
  const tmp = path.join(dir, 'tmp-artifact');
  const inode = fs.statSync(tmp).ino;
  fs.writeFileSync(tmp, 'previous job output');
  fs.writeFileSync(path.join(dir, 'stray'), 'x');
  await clearWorkerDir(dir, 'prepare');
  t.deepEqual(fs.readdirSync(dir), ['tmp-artifact']);
  t.is(fs.statSync(tmp).size, 0);
  t.is(fs.statSync(tmp).ino, inode, 'same inode: it is the file bind-mounted into the worker');
});

test('a dir that cannot be cleared fails with E_CLEAR_WORKER_DIR', async (t) => {
  const cacheDir = await cache(t);
  const dir = await createWorkerDir(cacheDir, 'execute');
  fs.rmSync(dir, { recursive: true });
  const error = await t.throwsAsync(clearWorkerDir(dir, 'execute'));
  t.is((error as { code?: string }).code, 'E_CLEAR_WORKER_DIR');
});

test('stale worker dirs are purged, other files are not', async (t) => {
  const cacheDir = await cache(t);
  await createWorkerDir(cacheDir, 'execute');
  await createWorkerDir(cacheDir, 'prepare');
  fs.writeFileSync(path.join(cacheDir, 'artifact-keep'), 'x');
  const removed = await purgeStaleWorkerDirs(cacheDir);
  t.is(removed.length, 2);
  t.true(removed.every((name) => name.startsWith(WORKER_DIR_PREFIX)));
  t.deepEqual(fs.readdirSync(cacheDir), ['artifact-keep']);
  await removeWorkerDir(path.join(cacheDir, 'worker-dir-none'));
});

test('a host purges stale dirs at startup and removes a dir when its worker dies', async (t) => {
  const cacheDir = await cache(t);
  const stale = await createWorkerDir(cacheDir, 'execute');
  const { host } = await startHost(t, { cacheDir });
  t.false(fs.existsSync(stale));
  const worker = await host.spawnWorker('execute');
  t.true(fs.existsSync(worker.hostDir));
  process.kill(worker.sandboxPid!, 'SIGKILL');
  const exit = await worker.exited;
  t.is(exit.error.code, 'E_WORKER_DIED');
  const left = await waitFor(() => fs.existsSync(worker.hostDir), (exists) => !exists);
  t.false(left);
  t.false(workerDirsIn(cacheDir).includes(path.basename(worker.hostDir)));
});
