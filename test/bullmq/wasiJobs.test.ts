/**
 * A queue job takes the same options as host.execute (fuel, args, env, files) and gives back the
 * same result (files, fuelUsed, memory), with a real node on a real Redis; its failures keep
 * fuelUsed, exitCode and what the job wrote.
 */
import test from 'ava';
import { Job } from 'bullmq';
import { JobDataError, codeHashOf, type WardenJob, type WardenQueue } from '../../src/bullmq/index.js';
import { ExitError, InvalidOptionError, OutOfFuelError } from '../../src/errors.js';
import { producer, startNode } from '../helpers/bullmq.js';
import { startRedis } from '../helpers/redis.js';
import { buildWasiPrograms } from '../helpers/wasiPrograms.js';
import { fixtures } from '../helpers/wat.js';

const built = buildWasiPrograms();
const programs = 'programs' in built ? built.programs : undefined;
const wasiTest = programs ? test.serial : test.serial.skip;
if (!programs) console.warn(`skipping the WASI programs: ${(built as { reason: string }).reason}`);

async function attemptsOf(queue: WardenQueue, job: WardenJob): Promise<number> {
  return ((await Job.fromId(queue.queue as never, job.id!)) as WardenJob).attemptsMade;
}

wasiTest('a WASI job with args, env and files returns what host.execute returns, files included', async (t) => {
  const redis = await startRedis(t);
  const { node } = await startNode(t, redis, 'wasi');
  const queue = producer(t, redis, 'wasi');
  const files = programs!.get('files')!;
  const options = { args: ['files', 'in.txt'], env: { GREETING: 'hello' }, files: new Map([['in.txt', 'one\ntwo\nthree\n']]) };
  const result = await queue.result(await queue.submit(files, Buffer.alloc(0), options));
  const local = await node.host.execute(files, new Uint8Array(0), options);
  t.deepEqual(result.output, Buffer.from(local.output));
  t.deepEqual(result.log, Buffer.from(local.log));
  t.regex(result.output.toString(), /read 14 bytes from in\.txt/);
  t.is(Object.getPrototypeOf(result.files), null);
  t.deepEqual(Object.keys(result.files).sort(), Object.keys(local.files).sort());
  for (const [name, bytes] of Object.entries(local.files)) t.deepEqual(result.files[name], Buffer.from(bytes), name);
  t.is(result.files['report.txt']?.toString(), '3 lines\n');
  t.is(result.fuelUsed, local.fuelUsed);
  t.true(result.fuelUsed > 0);
  t.is(result.memoryPages, local.memoryPages);
  t.is(result.maxMemoryPages, local.maxMemoryPages);

  // args and env reach the module as given.
  const argsenv = programs!.get('argsenv')!;
  const seen = await queue.result(await queue.submit(argsenv, Buffer.alloc(0), { args: ['prog', 'a b', 'ü'], env: new Map([['GREETING', 'hi there'], ['__proto__', 'plain']]) }));
  t.regex(seen.output.toString(), /argv\[1\]=\[a b\]/);
  t.regex(seen.output.toString(), /argv\[2\]=\[ü\] \(2 bytes\)/);
  t.regex(seen.output.toString(), /GREETING=hi there/);
  // A name that is special to JavaScript objects is only a name on the way.
  t.regex(seen.output.toString(), /env \d: __proto__=plain/);
});

wasiTest("E_EXIT's exit code and what the program wrote survive the trip; not retried", async (t) => {
  const redis = await startRedis(t);
  await startNode(t, redis, 'exit');
  const queue = producer(t, redis, 'exit');
  const job = await queue.submit(programs!.get('exitcode')!, Buffer.alloc(0), { args: ['exitcode', 'exit', '7'], attempts: 3 });
  const error = await t.throwsAsync(queue.result(job));
  t.true(error instanceof ExitError, String(error));
  t.is((error as ExitError).exitCode, 7);
  t.is((error as ExitError).details.exitCode, 7);
  t.is(String((error as ExitError).details.output), 'ending by exit 7\n');
  t.regex(String((error as ExitError).details.log), /usage: exitcode/);
  t.true((error as ExitError).details.output instanceof Buffer);
  t.is(typeof (error as ExitError).details.fuelUsed, 'number');
  t.is(await attemptsOf(queue, job), 1);
});

test.serial('out of fuel through the queue: E_OUT_OF_FUEL with all the fuel used, the same each time, not retried', async (t) => {
  const redis = await startRedis(t);
  await startNode(t, redis, 'fuel');
  const queue = producer(t, redis, 'fuel');
  for (const fuel of [1000, 1000, 54_321]) {
    const job = await queue.submit(fixtures.infiniteLoop, Buffer.alloc(0), { fuel, attempts: 3 });
    const error = await t.throwsAsync(queue.result(job));
    t.true(error instanceof OutOfFuelError, String(error));
    t.is((error as OutOfFuelError).details.fuelUsed, fuel);
    t.true((error as OutOfFuelError).deterministic);
    t.is(await attemptsOf(queue, job), 1);
  }
});

test.serial('bad fuel, args, env and files: E_INVALID_OPTION at submit, E_JOB_DATA or E_INVALID_OPTION on the node, which serves on', async (t) => {
  const redis = await startRedis(t);
  await startNode(t, redis, 'badwasi', { host: { limits: { maxFilesBytes: 1024, maxArgsBytes: 64, maxFuel: 1_000_000 } } });
  const queue = producer(t, redis, 'badwasi');
  const code = fixtures.infiniteLoop;
  const bad: [string, object][] = [
    ['fuel', { fuel: 0 }],
    ['fuel', { fuel: 1.5 }],
    ['args', { args: 'main' }],
    ['args[1]', { args: ['main', 7] }],
    ['args[0]', { args: ['a\0b'] }],
    ['env', { env: { 'A=B': 'x' } }],
    ['env.A', { env: { A: 1 } }],
    ['files', { files: { '../escape': 'x' } }],
    ['files', { files: { '/abs': 'x' } }],
    ['files', { files: { a: 42 } }],
    ['files', { files: 'nope' }],
  ];
  for (const [option, options] of bad) {
    const error = await t.throwsAsync(queue.submit(code, Buffer.alloc(0), options as never), undefined, JSON.stringify(options));
    t.true(error instanceof InvalidOptionError, `${JSON.stringify(options)}: ${String(error)}`);
    t.is((error as InvalidOptionError).details.option, option, JSON.stringify(options));
  }
  await t.throwsAsync(producer(t, redis, 'badwasi', { maxFilesBytes: 10 }).submit(code, Buffer.alloc(0), { files: { a: Buffer.alloc(11) } }), {
    code: 'E_INVALID_OPTION',
  });

  const hash = codeHashOf(code);
  const base = { warden: 1, codeHash: hash, code: Buffer.from(code).toString('base64'), input: '' };
  const add = (data: object): Promise<WardenJob> => queue.queue.add('bad', { ...base, ...data }, { attempts: 3, backoff: 10 }) as Promise<WardenJob>;
  const cases: [string, WardenJob, new (...args: never[]) => Error, RegExp][] = [
    ['fuel as text', await add({ fuel: '100' }), JobDataError, /`fuel` must be a positive integer/],
    ['args not strings', await add({ args: ['a', 1] }), JobDataError, /`args` must be an array of strings/],
    ['env an array', await add({ env: ['A=1'] }), JobDataError, /`env` must be an object of strings/],
    ['files not base64', await add({ files: { 'a.txt': '!!!!' } }), JobDataError, /`files\["a.txt"\]` must be base64/],
    ['files a string', await add({ files: 'x' }), JobDataError, /`files` must be an object/],
    ['files above the node limit', await add({ files: { a: Buffer.alloc(2000).toString('base64') } }), InvalidOptionError, /2000 bytes, more than limits.maxFilesBytes \(1024\)/],
    ['args above the node limit', await add({ args: ['x'.repeat(100)] }), InvalidOptionError, /maxArgsBytes \(64\)/],
    ['fuel above the node limit', await add({ fuel: 2_000_000 }), InvalidOptionError, /maxFuel \(1000000\)/],
    ['a bad file name', await add({ files: { '../up': 'eA==' } }), InvalidOptionError, /files/],
  ];
  for (const [what, job, ErrorClass, message] of cases) {
    const error = await t.throwsAsync(queue.result(job), undefined, what);
    t.true(error instanceof ErrorClass, `${what}: ${String(error)}`);
    t.regex(error!.message, message, what);
    t.is(await attemptsOf(queue, job), 1, `${what}: not retried`);
  }
  // The node still serves.
  const error = await t.throwsAsync(queue.result(await queue.submit(code, Buffer.alloc(0), { fuel: 500 })));
  t.like(error, { code: 'E_OUT_OF_FUEL' });
});
