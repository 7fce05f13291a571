/**
 * The job format without Redis: failures round-trip to typed errors by code, reasons that are
 * not warden's read as E_JOB_FAILED, and the data checks hold for shapes the e2e tests do not
 * send.
 */
import test from 'ava';
import { CodeNotFoundError, JobDataError, RemoteJobError, codeHashOf, errorOfFailure, parseFailedReason } from '../../src/bullmq/index.js';
import { FAILURE_BYTES, failureOf, parseJobData } from '../../src/bullmq/jobData.js';
import { DeadlineError, ExitError, OutOfMemoryError, TimeoutError, TrapError, WardenError, errorClasses } from '../../src/errors.js';

const limits = { maxInputBytes: 100, maxCodeBytes: 100 };

test('every warden failure comes back as its own class, with node and details', (t) => {
  for (const ErrorClass of [...errorClasses.filter((c) => c.name !== 'LauncherError'), JobDataError, CodeNotFoundError, RemoteJobError]) {
    const original = new (ErrorClass as unknown as new (m: string, o?: object) => WardenError)('boom', { details: { cpuTimeMs: 3 } });
    const reason = JSON.stringify(failureOf(original, 'node-x'));
    const back = errorOfFailure(parseFailedReason(reason));
    t.is(back.constructor, original.constructor, original.code);
    t.is(back.code, original.code);
    t.is(back.deterministic, original.deterministic);
    t.is(back.message, 'boom');
    t.like(back.details, { node: 'node-x', cpuTimeMs: 3 });
  }
  t.true(errorOfFailure(parseFailedReason(JSON.stringify(failureOf(new TrapError('x'), 'n')))) instanceof TrapError);
  t.true(errorOfFailure(parseFailedReason(JSON.stringify(failureOf(new OutOfMemoryError('x'), 'n')))) instanceof OutOfMemoryError);
  t.true(errorOfFailure(parseFailedReason(JSON.stringify(failureOf(new TimeoutError('x'), 'n')))) instanceof TimeoutError);
  t.true(errorOfFailure(parseFailedReason(JSON.stringify(failureOf(new DeadlineError('x'), 'n')))) instanceof DeadlineError);
});

test("reasons that are not warden's, and codes this version does not know, read as E_JOB_FAILED", (t) => {
  for (const reason of ['job stalled more than allowable limit', '{"not":"ours"}', '{broken json', '', undefined]) {
    const failure = parseFailedReason(reason);
    t.like(failure, { code: 'E_JOB_FAILED', deterministic: false });
    t.true(errorOfFailure(failure) instanceof RemoteJobError);
  }
  const future = errorOfFailure(parseFailedReason(JSON.stringify({ warden: 1, code: 'E_FROM_THE_FUTURE', deterministic: true, message: 'm', details: {} })));
  t.true(future instanceof RemoteJobError);
  t.is(future.details.remoteCode, 'E_FROM_THE_FUTURE');
});

test('job data: each wrong shape is named; sizes are judged before decoding', (t) => {
  const code = Buffer.from('\0asm\x01\0\0\0');
  const hash = codeHashOf(code);
  const good = { warden: 1, codeHash: hash, code: code.toString('base64'), input: Buffer.from('hi').toString('base64') };
  t.deepEqual(parseJobData(good, limits).input, Buffer.from('hi'));
  t.deepEqual(parseJobData(good, limits).code, code);
  const cases: [unknown, string | RegExp][] = [
    [null, /must be an object/],
    [[1, 2], /must be an object/],
    [{ ...good, warden: 2 }, /format 1/],
    [{ ...good, codeHash: hash.toUpperCase() }, /codeHash/],
    [{ ...good, input: 'aGk' }, /`input` must be base64/],
    [{ ...good, input: 42 }, /`input` must be base64/],
    [{ ...good, code: Buffer.from('other').toString('base64') }, /not the job's codeHash/],
    [{ ...good, abi: 'posix' }, /`abi`/],
    [{ ...good, deadline: 'soon' }, /`deadline`/],
    [{ ...good, priority: 'urgent' }, /`priority`/],
    [{ ...good, timeoutMs: 1.5 }, /`timeoutMs`/],
  ];
  for (const [data, message] of cases) {
    const error = t.throws(() => parseJobData(data, limits), undefined, JSON.stringify(data));
    t.true(error instanceof JobDataError, JSON.stringify(data));
    t.regex(error!.message, message as RegExp);
  }
  t.throws(() => parseJobData({ ...good, input: 'A'.repeat(200) }, limits), { code: 'E_INVALID_OPTION', message: /input of 150 bytes exceeds maxInputBytes \(100\)/ });
  t.throws(() => parseJobData({ ...good, code: 'A'.repeat(200) }, limits), { code: 'E_PREVALIDATION' });
});

test("a failure keeps exitCode, fuelUsed and what the job wrote, as base64 and bounded", (t) => {
  const files: Record<string, Uint8Array> = Object.create(null);
  files['a.txt'] = Buffer.from('aaa');
  files['big.bin'] = Buffer.alloc(100_000, 1);
  const error = new ExitError('exit 3', {
    exitCode: 3,
    details: { exitCode: 3, fuelUsed: 1234, output: Buffer.from('out'), log: Buffer.from('log'), logTruncated: false, files },
  });
  const reason = JSON.stringify(failureOf(error, 'n'));
  t.false(reason.includes('"0":'), 'bytes are not objects of numbers');
  const back = errorOfFailure(parseFailedReason(reason));
  t.true(back instanceof ExitError);
  t.is((back as ExitError).exitCode, 3);
  t.like(back.details, { exitCode: 3, fuelUsed: 1234, logTruncated: false, filesTruncated: true, node: 'n' });
  t.deepEqual(back.details.output, Buffer.from('out'));
  t.deepEqual(back.details.log, Buffer.from('log'));
  const backFiles = back.details.files as Record<string, Buffer>;
  t.is(Object.getPrototypeOf(backFiles), null);
  t.deepEqual(Object.keys(backFiles), ['a.txt']);
  t.deepEqual(backFiles['a.txt'], Buffer.from('aaa'));

  // Output and log past the budget are cut, and said to be.
  const loud = new TrapError('trap', { details: { output: Buffer.alloc(FAILURE_BYTES, 0x61), log: Buffer.alloc(FAILURE_BYTES, 0x62), logTruncated: false } });
  const loudReason = JSON.stringify(failureOf(loud, 'n'));
  t.true(loudReason.length < FAILURE_BYTES * 1.4 + 1000, `${loudReason.length}`);
  const loudBack = errorOfFailure(parseFailedReason(loudReason));
  t.like(loudBack.details, { logTruncated: false, outputTruncated: true });
  t.is((loudBack.details.log as Buffer).byteLength, FAILURE_BYTES);
  t.is((loudBack.details.output as Buffer).byteLength, 0);
});

test('job data: fuel, args, env and files shapes; sizes judged from base64 before decoding', (t) => {
  const code = Buffer.from('\0asm\x01\0\0\0');
  const good = { warden: 1, codeHash: codeHashOf(code), input: '' };
  const parsed = parseJobData({ ...good, fuel: 10, args: ['a'], env: { A: 'b' }, files: { 'x.txt': Buffer.from('hi').toString('base64') } }, limits);
  t.like(parsed, { fuel: 10, args: ['a'] });
  t.is(parsed.env?.A, 'b');
  t.deepEqual(parsed.files?.['x.txt'], Buffer.from('hi'));
  t.is(Object.getPrototypeOf(parsed.files), null);
  for (const [data, message] of [
    [{ fuel: 0 }, /`fuel`/],
    [{ fuel: '5' }, /`fuel`/],
    [{ args: [null] }, /`args`/],
    [{ env: { A: 1 } }, /`env`/],
    [{ env: null }, /`env`/],
    [{ files: [] }, /`files`/],
    [{ files: { a: 1 } }, /`files\["a"\]`/],
    [{ files: { a: 'a' } }, /`files\["a"\]` must be base64/],
  ] as const) {
    const error = t.throws(() => parseJobData({ ...good, ...data }, limits), undefined, JSON.stringify(data));
    t.true(error instanceof JobDataError, JSON.stringify(data));
    t.regex(error!.message, message);
  }
  const small = { ...limits, maxFilesBytes: 10, maxArgsBytes: 8, maxFiles: 2 };
  // Not valid base64, yet refused for its size: nothing is decoded first.
  t.throws(() => parseJobData({ ...good, files: { a: '!'.repeat(400) } }, small), { code: 'E_INVALID_OPTION', message: /maxFilesBytes \(10\)/ });
  t.throws(() => parseJobData({ ...good, files: { a: '', b: '', c: '' } }, small), { code: 'E_INVALID_OPTION', message: /maxFiles \(2\)/ });
  t.throws(() => parseJobData({ ...good, args: ['1234', '5678'] }, small), { code: 'E_INVALID_OPTION', message: /maxArgsBytes \(8\)/ });
  t.throws(() => parseJobData({ ...good, env: { AB: 'CDEFG' } }, small), { code: 'E_INVALID_OPTION', message: /maxArgsBytes \(8\)/ });
  t.notThrows(() => parseJobData({ ...good, args: ['123', '456'] }, small));
});
