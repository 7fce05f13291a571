// Watches a warden queue's results as they happen, with BullMQ's QueueEvents: one line per job
// that completes, fails for good, or stalls (its node stopped renewing its lock). Run it beside
// `warden serve` nodes and `warden submit`:
//
//   node examples/scale-out/watch-results.mjs redis://127.0.0.1:6379 jobs
//
// A completed job's return value is warden's result (output and log in base64, usage figures,
// the node); a failed job's reason is warden's failure as JSON (parseFailedReason reads it).
import { QueueEvents } from 'bullmq';
import { parseFailedReason } from 'warden/bullmq';

const [url = 'redis://127.0.0.1:6379', queue = 'jobs'] = process.argv.slice(2);
const events = new QueueEvents(queue, { connection: { url } });

events.on('completed', ({ jobId, returnvalue: r }) => {
  const output = Buffer.from(r.output, 'base64').toString('utf8');
  console.log(`${jobId} completed on ${r.node} (${r.cached ? 'cached' : 'prepared'}, ${r.wallTimeMs.toFixed(1)} ms): ${JSON.stringify(output)}`);
});
events.on('failed', ({ jobId, failedReason }) => {
  const failure = parseFailedReason(failedReason);
  const where = failure.node ? ` on ${failure.node}` : '';
  console.log(`${jobId} failed${where}: ${failure.code}${failure.deterministic ? ' (deterministic, not retried)' : ''}: ${failure.message}`);
});
events.on('stalled', ({ jobId }) => console.log(`${jobId} stalled: its node went silent, another node will run it`));

await events.waitUntilReady();
console.log(`watching queue ${queue} at ${url.replace(/\/\/[^@/]*@/, '//***@')} (Ctrl-C to stop)`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void events.close().then(() => process.exit(0));
  });
}
