/**
 * The job format without Redis: failures round-trip to typed errors by code, reasons that are
 * not warden's read as E_JOB_FAILED, and the data checks hold for shapes the e2e tests do not
 * send.
 */
import test from 'ava';
import { CodeNotFoundError, JobDataError, RemoteJobError, codeHashOf, errorOfFailure, parseFailedReason } from '../../src/bullmq/index.js';
import { failureOf, parseJobData } from '../../src/bullmq/jobData.js';
import { DeadlineError, OutOfMemoryError, TimeoutError, TrapError, WardenError, errorClasses } from '../../src/errors.js';

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
