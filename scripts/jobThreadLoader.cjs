'use strict';
// The job thread's entry (dist/worker/jobThread.cjs, copied here by scripts/bundle.mjs). It runs
// the thread's bundle, jobThread.body.cjs, as node would run a CommonJS module, but compiled
// with the V8 code cache that `npm run build` made of it after a warm-up job
// (jobThread.cache, scripts/codeCache.mjs): a job thread then skips most of compiling the job
// code, on the way to every worker's first job.
//
// The cache is an optimisation only. Missing, it is not read; made by another node or V8, or
// for other V8 flags (a prepare worker sets --no-wasm-lazy-compilation), or corrupt, V8 rejects
// it and compiles from source, as without it. `codeCache` tells which, for the tests.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

/** The CommonJS wrapper: the same string here and where the cache is made. */
const wrap = (source) => `(function (exports, require, module, __filename, __dirname) {${source}\n})`;

const file = path.join(__dirname, 'jobThread.body.cjs');
let cachedData;
try {
  cachedData = fs.readFileSync(path.join(__dirname, 'jobThread.cache'));
} catch {
  cachedData = undefined;
}
const script = new vm.Script(wrap(fs.readFileSync(file, 'utf8')), { filename: file, ...(cachedData ? { cachedData } : {}) });
module.exports = { codeCache: cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted', script, wrap };
// The bundle gets a module of its own, as under node's loader.
const body = { exports: {} };
script.runInThisContext()(body.exports, require, body, file, __dirname);
