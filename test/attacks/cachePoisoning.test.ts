/**
 * Escape corpus, cache poisoning (issue 11, item 3): code running in a prepare worker (simulated
 * by the pool attacker worker: a prepare whose code holds `ATTACK\n` in a custom section runs the
 * JavaScript after it) writes another module's valid artifact into a `tmp-artifact`, so that the
 * cache would hold, under one code's key, a module that is not that code's.
 *
 * Contained by two layers, each tested here on its own:
 * - one-job prepare processes: work left running after a prepare's reply dies with its process,
 *   so it never sees the next tenant's `tmp-artifact` (prepare ignores `isolation: 'worker'`);
 * - the host's check: an artifact enters the cache only if its module is, byte for byte, the one
 *   the host derives from the job's own code; the exports come from that derivation too.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { ARTIFACTS_DIR, ArtifactCache } from '../../src/actors/artifactCache.js';
import type { Host } from '../../src/index.js';
import { prepareLimitsOf, resolveHostOptions } from '../../src/options.js';
import { encodeArtifact, hashParams } from '../../src/shared/artifact.js';
import { ATTACK_MARKER, startAttackerPool } from '../helpers/attacker.js';
import { startHost, tempCacheDir } from '../helpers/host.js';
import { hello, pidOf, rejection, text } from '../helpers/scheduler.js';
import { wat } from '../helpers/wat.js';

/** Another module (run ABI) whose output betrays it: "PWNED", whatever the input. */
const EVIL = wat(`(module (memory (export "memory") 1) (data (i32.const 0) "PWNED")
  (global (export "__heap_base") i32 (i32.const 1024))
  (func (export "run") (param i32 i32) (result i64) (i64.const 0x500000000)))`);

/** A valid module (the hello example) carrying `source` as an attack, in a custom section at its end. */
function attackModule(source: string): Uint8Array {
  const name = Buffer.from('attack');
  const content = Buffer.concat([Buffer.from([name.length]), name, Buffer.from(ATTACK_MARKER + source)]);
  const size: number[] = [];
  for (let n = content.length; ; n >>>= 7) {
    size.push((n & 0x7f) | (n >>> 7 ? 0x80 : 0));
    if (!(n >>> 7)) break;
  }
  return Buffer.concat([hello.wasm, Buffer.from([0, ...size]), content]);
}

/**
 * Attack source: from the prepare reply numbered `from` on (0 = the attacking job's own), the
 * worker's reply is rewritten: with `forge`, its `tmp-artifact` is overwritten with a valid
 * artifact of EVIL (under the params hash the request carried) and the reply says ok; its exports
 * become `exports`. The fd is opened while the attack runs, before a one-job process locks down.
 */
function rewriteReplies({ from, forge, exports }: { from: number; forge: boolean; exports: string[] }): string {
  return `
    const evil = Buffer.from('${Buffer.from(EVIL).toString('base64')}', 'base64');
    const fd = ctx.fs.openSync('/worker/tmp-artifact', 'r+');
    let paramsHash;
    const sniff = new ctx.FrameDecoder();
    ctx.channel.on('data', (chunk) => {
      for (const frame of sniff.push(chunk)) if (frame.type === ctx.MessageType.Prepare) paramsHash = frame.header.paramsHash;
    });
    const write = ctx.channel.write;
    const outgoing = new ctx.FrameDecoder();
    let replies = 0;
    ctx.channel.write = function (chunk) {
      for (const frame of outgoing.push(chunk)) {
        let { header, body } = frame;
        if (frame.type === ctx.MessageType.PrepareResult && replies++ >= ${from}) {
          if (${forge}) {
            const artifact = ctx.encodeArtifact(evil, paramsHash);
            ctx.fs.ftruncateSync(fd, 0);
            ctx.fs.writeSync(fd, artifact, 0, artifact.length, 0);
            header = { ...header, ok: true, artifactBytes: artifact.length, moduleBytes: evil.length };
            delete header.failure;
          }
          header = { ...header, exports: ${JSON.stringify(exports)} };
        }
        write.call(this, ctx.encodeFrame(frame.type, frame.id, header, body));
      }
      return true;
    };`;
}

/** Whether a process is still there. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The victim's result: the hello module executed in a process of its own. */
async function victimOutput(host: Host): Promise<string> {
  const artifact = await host.prepare(hello.wasm);
  return text((await host.execute(artifact, Buffer.from('world'), { isolation: 'job' })).output);
}

test.serial("lingering work of a prepare (host in reuse mode) cannot poison the next tenant's artifact: it died with its one-job process", async (t) => {
  const { host, cacheDir } = await startAttackerPool(t, { prepareWorkers: 1, executeWorkers: 1, isolation: 'worker' });
  const pids = new Map<string, number>();
  host.on('job:started', (e) => {
    if (e.kind === 'prepare') pids.set(e.jobId, pidOf(host, e.workerId));
  });
  const started: { jobId: string; workerId: string }[] = [];
  host.on('job:started', (e) => e.kind === 'prepare' && started.push(e));
  // The attacker's own prepare succeeds (its module is valid); its work stays behind, waiting.
  await host.prepare(attackModule(rewriteReplies({ from: 1, forge: true, exports: ['run', 'memory'] })), { isolation: 'worker' });
  const attackerPid = pids.get(started[0]!.jobId)!;
  t.is(await victimOutput(host), 'Hello, world!', "the victim's own module ran, not the attacker's");
  t.not(started[1]!.workerId, started[0]!.workerId, "the victim's prepare ran in another process");
  t.false(alive(attackerPid), "the attacker's prepare process was killed after its one job");
  // And the cache keeps the truth across a restart.
  await host.close();
  const { host: restarted } = await startHost(t, { cacheDir, prepareWorkers: 1 });
  t.is(await victimOutput(restarted), 'Hello, world!');
});

test.serial('a prepare worker that writes another module for its own code is refused by the host check: nothing is cached', async (t) => {
  const { host } = await startAttackerPool(t, { prepareWorkers: 1, executeWorkers: 1 });
  const code = attackModule(rewriteReplies({ from: 0, forge: true, exports: ['run', 'memory'] }));
  const error = await rejection(host.prepare(code));
  t.is(error.code, 'E_PREPARATION');
  t.is(error.details.reason, 'not-derived-from-code');
  t.regex(error.message, /not the one derived from the code/);
  t.deepEqual(host.cache.list(), [], 'nothing entered the cache');
  // The same code prepared again (the attack runs again, and is refused again): never the forgery.
  t.is((await rejection(host.execute(code, Buffer.from('world')))).code, 'E_PREPARATION');
});

test.serial("a prepare reply's exports are not believed: the caller gets the exports of the host's derivation", async (t) => {
  const { host } = await startAttackerPool(t, { prepareWorkers: 1, executeWorkers: 1 });
  const artifact = await host.prepare(attackModule(rewriteReplies({ from: 0, forge: false, exports: ['_start', 'forged'] })));
  t.deepEqual([...artifact.exports], WebAssembly.Module.exports(new WebAssembly.Module(hello.wasm)).map((e) => e.name));
  t.is(artifact.abi, 'run');
});

test.serial('an artifact poisoned before this check (an older derivation, same limits) is never used: the derivation is in the params hash', async (t) => {
  // What a host without the check may have left: EVIL under the hello module's key of the time.
  const cacheDir = await tempCacheDir();
  const oldParamsHash = hashParams(prepareLimitsOf(resolveHostOptions({ cacheDir }).limits) as unknown as Record<string, unknown>);
  const oldKey = ArtifactCache.keyFor(hello.wasm, oldParamsHash);
  fs.mkdirSync(path.join(cacheDir, ARTIFACTS_DIR), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(cacheDir, ARTIFACTS_DIR, `${oldKey}.wdna`), encodeArtifact(EVIL, oldParamsHash));
  const { host } = await startHost(t, { cacheDir, prepareWorkers: 1 });
  t.true(host.cache.has(oldKey), 'the old artifact is still a valid file of the cache');
  const artifact = await host.prepare(hello.wasm);
  t.not(artifact.key, oldKey);
  t.false(artifact.cached);
  t.is(text((await host.execute(artifact, Buffer.from('world'))).output), 'Hello, world!');
});
