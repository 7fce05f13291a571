/**
 * A worker dir that cannot be removed when its worker dies (an entry the host cannot delete):
 * the host must neither crash (an unhandled rejection kills a Node process by default) nor
 * hang, and `close()` must still settle. In a file of its own: the failure it guards against
 * is an unhandled rejection, which AVA pins on the whole file.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { workerDirsIn } from '../helpers/host.js';
import { delay, hello, idleWorkers, nextEvent, startScheduler, text } from '../helpers/scheduler.js';

test.serial('a dir that cannot be removed after its worker died does not crash the host', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => {
    process.off('unhandledRejection', onUnhandled);
  });
  const { host, cacheDir } = await startScheduler(t);
  const artifact = await host.prepare(hello.wasm);
  const [worker] = await idleWorkers(host, 'execute');
  const dir = path.join(cacheDir, workerDirsIn(cacheDir).find((name) => name.startsWith('worker-dir-execute-'))!);
  const mountPoint = path.join(dir, 'mounted');
  const source = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bind-'));
  fs.mkdirSync(mountPoint);
  execFileSync('mount', ['--bind', source, mountPoint]);
  t.teardown(() => {
    try {
      execFileSync('umount', [mountPoint], { stdio: 'ignore' });
    } catch {
      // already unmounted
    }
    fs.rmSync(source, { recursive: true, force: true });
  });

  const exited = nextEvent(host, 'worker:exited', (e) => e.id === worker!.id);
  const result = await host.execute(artifact, Buffer.from('world'));
  t.is(text(result.output), 'Hello, world!');
  t.is((await exited).reason, 'clear-failed');
  // The process exits and the host tries to remove the dir, which still holds the mount.
  await delay(1000);
  t.deepEqual(unhandled.map(String), [], 'no unhandled rejection from removing the worker dir');
  const next = await host.execute(artifact, Buffer.from('again'));
  t.is(text(next.output), 'Hello, again!');
  execFileSync('umount', [mountPoint]);
  // Once the entry is removable, closing must succeed and leave no dir behind.
  await host.close();
  t.deepEqual(workerDirsIn(cacheDir), []);
});
