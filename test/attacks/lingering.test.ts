/**
 * Escape corpus, work left behind: a job that got code execution in its worker (simulated by
 * the pool attacker worker, test/fixtures/attacker-pool-worker.mjs) leaves work running after
 * its reply, to read the next job's input and tamper with its result. Run end to end through a
 * real pool: in reuse mode (`isolation: 'worker'`) it succeeds, as documented; with
 * `isolation: 'job'` the next job runs in another process and the attacker's is dead.
 * Also: in a one-job process, once the job runs, nothing can be opened any more.
 */
import test from 'ava';
import type { Host } from '../../src/index.js';
import { ATTACK_MARKER, ON_REPLY, startAttackerPool } from '../helpers/attacker.js';
import { hello, pidOf, text } from '../helpers/scheduler.js';

/** Left running after the attacking job's reply: sniffs later inputs, ticks, and answers later jobs with its loot. */
const LINGER = `${ON_REPLY}
  const loot = { inputs: [], ticks: 0 };
  const sniff = new ctx.FrameDecoder();
  ctx.channel.on('data', (chunk) => {
    for (const frame of sniff.push(chunk)) {
      const input = frame.type === ctx.MessageType.Execute ? Buffer.from(frame.body).toString() : '';
      // Its own job's frame reaches this listener too: only later jobs are loot.
      if (input && !input.startsWith('ATTACK')) loot.inputs.push(input);
    }
  });
  setInterval(() => { loot.ticks++; }, 2);
  onReply((header, body, n) => (n === 0 ? undefined : replyWith(header, loot)));
`;

/** Whether a process is still there. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs the attacking job, then a victim job with a secret; the pid of the attacker's process with both results. */
async function attackThenVictim(host: Host) {
  const artifact = await host.prepare(hello.wasm);
  const pids = new Map<string, number>();
  host.on('job:started', (e) => {
    if (e.kind === 'execute') pids.set(e.jobId, pidOf(host, e.workerId));
  });
  const attack = await host.execute(artifact, Buffer.from(ATTACK_MARKER + LINGER));
  const victim = await host.execute(artifact, Buffer.from('secret-42'));
  return { attack, victim, attackerPid: pids.get(attack.jobId)! };
}

test.serial("lingering work in reuse mode ('worker') reads the next job's input and forges its result (documented limit)", async (t) => {
  const { host } = await startAttackerPool(t, { executeWorkers: 1, isolation: 'worker' });
  const { attack, victim, attackerPid } = await attackThenVictim(host);
  t.true(text(attack.output).startsWith('Hello, ATTACK'), 'the attacking job itself was served as usual');
  t.is(victim.workerId, attack.workerId, 'reuse: the victim ran in the attacker process');
  const loot = JSON.parse(text(victim.output)) as { inputs: string[]; ticks: number };
  t.deepEqual(loot.inputs, ['secret-42'], "the lingering listener read the next job's input");
  t.true(loot.ticks > 0, "the lingering timer kept running after the attacking job's reply");
  t.true(alive(attackerPid), 'the attacker process lives on to serve more jobs');
});

test.serial("lingering work in 'job' mode dies with its process: the next job runs elsewhere, unread and untouched", async (t) => {
  const { host } = await startAttackerPool(t, { executeWorkers: 1, isolation: 'job' });
  const { attack, victim, attackerPid } = await attackThenVictim(host);
  t.true(text(attack.output).startsWith('Hello, ATTACK'));
  t.not(victim.workerId, attack.workerId, 'the victim ran in another process');
  t.is(text(victim.output), 'Hello, secret-42!', 'the true result, not a forged one');
  t.false(alive(attackerPid), 'the attacker process was killed after its one job');
});

/** At the attacking job's own reply (the job has run): what the process can still open or create. */
const PROBE_AT_REPLY = `${ON_REPLY}
  const attempt = (fn) => { try { fn(); return 'OK'; } catch (error) { return error.code ?? String(error); } };
  const probe = () => ({
    readArtifact: attempt(() => ctx.fs.readFileSync('/worker/artifact')),
    openDevNull: attempt(() => ctx.fs.closeSync(ctx.fs.openSync('/dev/null', 'w'))),
    unixSocket: ctx.addon.probeSyscall('socket_unix'),
  });
  const before = probe();
  onReply((header, body, n) => (n === 0 ? replyWith(header, { before, after: probe() }) : undefined));
`;

test.serial("'job' mode: once the job runs, its process can open no file and make no socket; reuse mode still can", async (t) => {
  const all = { readArtifact: 'OK', openDevNull: 'OK', unixSocket: 'OK' };
  for (const isolation of ['worker', 'job'] as const) {
    const { host } = await startAttackerPool(t, { executeWorkers: 1, isolation });
    const result = await host.execute(await host.prepare(hello.wasm), Buffer.from(ATTACK_MARKER + PROBE_AT_REPLY));
    const seen = JSON.parse(text(result.output)) as { before: typeof all; after: typeof all };
    t.deepEqual(seen.before, all, `${isolation}: before the job, the worker still reads its files`);
    const after = isolation === 'job' ? { readArtifact: 'EACCES', openDevNull: 'EACCES', unixSocket: 'EACCES' } : all;
    t.deepEqual(seen.after, after, `${isolation}: after the job ran`);
    await host.close();
  }
});
