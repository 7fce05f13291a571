/**
 * Two machines sharing a queue: two `warden serve` processes, each with its own cache dir, on a
 * real Redis. 1,000 jobs of four modules all come back exact, both nodes did work, and each
 * node prepared each module it ran exactly once.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { exampleModules, metric, producer, scrape, spawnNode } from '../helpers/bullmq.js';
import { startRedis } from '../helpers/redis.js';

const JOBS = 1000;
const modules = exampleModules(['hello', 'upper', 'sha256', 'calc']);

/** Job i: a module, a distinct input, and the exact output it must give. */
function job(i: number): { module: (typeof modules)[number]; input: Buffer; expected: string } {
  const module = modules[i % modules.length]!;
  switch (module.name) {
    case 'hello':
      return { module, input: Buffer.from(`job-${i}`), expected: `Hello, job-${i}!` };
    case 'upper':
      return { module, input: Buffer.from(`abc-${i}-xyz`), expected: `ABC-${i}-XYZ` };
    case 'sha256': {
      const input = Buffer.from(`payload ${i}`);
      return { module, input, expected: crypto.createHash('sha256').update(input).digest('hex') };
    }
    default:
      return { module, input: Buffer.from(`x = ${i}\nx * 2 + 1\n`), expected: `${2 * i + 1}\n` };
  }
}

test.serial('1,000 jobs of four modules on two node processes: all exact, both nodes worked, each prepared each module once', async (t) => {
  const redis = await startRedis(t);
  const args = ['--execute-workers', '2', '--concurrency', '4'];
  const nodes = await Promise.all([spawnNode(t, redis, 'scale', 'node-a', args), spawnNode(t, redis, 'scale', 'node-b', args)]);
  // hello and upper travel inline; sha256 and calc (over 1 KiB) are stored in Redis once.
  const queue = producer(t, redis, 'scale', { inlineCodeBytes: 1024 });
  t.true(modules.some((m) => m.code.byteLength > 1024) && modules.some((m) => m.code.byteLength <= 1024));

  const specs = Array.from({ length: JOBS }, (_, i) => job(i));
  const submitted = [];
  for (let i = 0; i < JOBS; i += 100) {
    submitted.push(...(await Promise.all(specs.slice(i, i + 100).map((s) => queue.submit(s.module.code, s.input, { name: s.module.name })))));
  }
  const results = await Promise.all(submitted.map((j) => queue.result(j)));

  const wrong = results.flatMap((r, i) => (r.output.toString() === specs[i]!.expected ? [] : [`${i}: ${r.output.toString()}`]));
  t.deepEqual(wrong, [], 'every result exact');
  const byNode = new Map<string, Set<string>>();
  for (const [i, r] of results.entries()) {
    if (!byNode.has(r.node)) byNode.set(r.node, new Set());
    byNode.get(r.node)!.add(specs[i]!.module.name);
  }
  t.deepEqual([...byNode.keys()].sort(), ['node-a', 'node-b'], 'both nodes did work');
  t.log(`jobs per node: ${nodes.map((n) => `${n.name} ${results.filter((r) => r.node === n.name).length}`).join(', ')}`);

  for (const node of nodes) {
    const lines = await scrape(node.url);
    const labels = `node="${node.name}",queue="scale"`;
    const ran = byNode.get(node.name)!.size;
    // A prepare job per module this node ran, each a success: prepared once, reused after.
    t.is(metric(lines, 'warden_jobs_enqueued_total', 'kind="prepare"', labels), ran, `${node.name} prepare jobs`);
    t.is(metric(lines, 'warden_jobs_finished_total', 'kind="prepare"', 'outcome="success"', labels), ran, `${node.name} prepared`);
    const artifacts = fs.readdirSync(path.join(node.cacheDir, 'artifacts')).filter((f) => !f.startsWith('.'));
    t.is(artifacts.length, ran, `${node.name} cache holds one artifact per module`);
    t.is(
      metric(lines, 'warden_bullmq_recorded_total', 'kind="completed"', labels),
      results.filter((r) => r.node === node.name).length,
      `${node.name} recorded its results`,
    );
    t.is(metric(lines, 'warden_bullmq_queue_jobs', 'state="completed"', labels), JOBS);
    t.is(metric(lines, 'warden_bullmq_queue_jobs', 'state="failed"', labels), 0);
    // The inspector's queue panel reads the same counts.
    const panels = (await (await fetch(new URL('/panels', node.url))).json()) as { queue: { node: string; counts: Record<string, number> } };
    t.is(panels.queue.node, node.name);
    t.is(panels.queue.counts.completed, JOBS);
  }

  // Both stop gracefully.
  for (const node of nodes) node.child.kill('SIGTERM');
  for (const node of nodes) t.deepEqual(await node.exited, [0, null], node.stderr());
});
