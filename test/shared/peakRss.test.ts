// The addon's peak resident set (what a worker reports as a job's `peakRssBytes`): node's own
// figure (process.resourceUsage, the same getrusage), in bytes, and it follows memory touched.
import test from 'ava';
import { loadAddon } from '../../src/shared/addon.js';

test('peakRssBytes is getrusage maxrss in bytes, as node reads it, and grows with memory touched', (t) => {
  const addon = loadAddon();
  const ours = addon.peakRssBytes();
  const node = process.resourceUsage().maxRSS * 1024;
  // A peak only grows: read first, ours is at most node's, and nothing much was touched between.
  t.true(ours > 0 && ours <= node && node - ours < 16 * 1024 * 1024, `${ours} vs ${node}`);
  const touched = Buffer.alloc(96 * 1024 * 1024, 1);
  const after = addon.peakRssBytes();
  t.true(after - ours >= 64 * 1024 * 1024, `${ours} → ${after} after touching ${touched.length} bytes`);
});
