'use strict';
// The entry of a worker bundle: dist/worker/main.cjs (the worker process) and
// dist/worker/jobThread.cjs (a prepare worker's job thread), both copies of this file made by
// scripts/bundle.mjs. Named X.cjs, it runs the bundle X.body.cjs beside it as node would run a
// CommonJS module, but compiled with the V8 code cache X.cache that `npm run build` made of it
// after a warm-up job (scripts/codeCache.mjs): the functions a job runs are deserialized, not
// compiled, on the way to a fresh worker's first job.
//
// The cache is an optimisation only. Missing, it is not read; made by another node or V8, or
// for other V8 flags (the thread's is made under a prepare worker's, src/shared/v8Flags.ts), or
// corrupt, V8 rejects it and compiles from source, as without it. `codeCache` tells which, for
// the tests.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

/** The CommonJS wrapper: the same string here and where the cache is made. */
const wrap = (source) => `(function (exports, require, module, __filename, __dirname) {${source}\n})`;

const name = path.basename(__filename, '.cjs');
const file = path.join(__dirname, `${name}.body.cjs`);
let cachedData;
try {
  cachedData = fs.readFileSync(path.join(__dirname, `${name}.cache`));
} catch {
  cachedData = undefined;
}
const script = new vm.Script(wrap(fs.readFileSync(file, 'utf8')), { filename: file, ...(cachedData ? { cachedData } : {}) });
module.exports = { codeCache: cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted', script, wrap };
// The build's cache maker (codeCache.mjs) runs the worker process with this set: the cache is
// written as the process ends, after its jobs compiled what they run. A sandboxed worker's
// environment is empty.
const makeCache = process.env.WARDEN_MAKE_CODE_CACHE;
if (makeCache) process.once('exit', () => fs.writeFileSync(makeCache, script.createCachedData()));
// The bundle gets a module of its own, as under node's loader.
const body = { exports: {} };
script.runInThisContext()(body.exports, require, body, file, __dirname);
