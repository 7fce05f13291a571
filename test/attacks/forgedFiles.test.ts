/**
 * Escape corpus, lies about a job's files, exit code and sizes: a worker under an attacker's
 * control forges the files section of its reply (names that leave the job's directory, counts
 * and sizes beyond the limits or not adding up), or an E_EXIT without a real exit code. The host
 * checks each before anything reaches the caller: the job fails with E_PROTOCOL, the worker is
 * killed and the next job runs on a fresh one.
 */
import test from 'ava';
import { ProtocolError } from '../../src/index.js';
import { ATTACK_MARKER, ON_REPLY, startAttackerPool } from '../helpers/attacker.js';
import { hello, pidOf, text } from '../helpers/scheduler.js';

/** JavaScript run in the worker: `section(files)` encodes a files section as shared/jobFiles.ts does. */
const SECTION = `
  const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
  const section = (files, count = files.length) =>
    Buffer.concat([u32(count), ...files.flatMap(([name, data]) => [u32(Buffer.byteLength(name)), Buffer.from(name), u32(Buffer.byteLength(data)), Buffer.from(data)])]);
  const withFiles = (header, body, files, extra = {}) => {
    const filesBody = Buffer.isBuffer(files) ? files : section(files);
    return { header: { ...header, filesBytes: filesBody.length, ...extra }, body: Buffer.concat([body, filesBody]) };
  };
`;

const FORGERIES: Record<string, [hook: string, message: RegExp]> = {
  'a file name with ".."': ["withFiles(header, body, [['../escape', 'x']])", /bad files section: file name "..\/escape" has a ".." component/],
  'an absolute file name': ["withFiles(header, body, [['/etc/cron.d/x', 'x']])", /is absolute/],
  'a file name with a NUL': ["withFiles(header, body, [['a\\u0000b', 'x']])", /contains a NUL/],
  'a name that is both a file and a directory': ["withFiles(header, body, [['a', 'x'], ['a/b', 'y']])", /both a file and a directory/],
  'the same name twice': ["withFiles(header, body, [['a', 'x'], ['a', 'y']])", /given twice/],
  'more files than maxFiles': ['withFiles(header, body, section([], 1001))', /more than maxFiles/],
  'a file larger than maxFilesBytes': ["withFiles(header, body, Buffer.concat([u32(1), u32(3), Buffer.from('big'), u32(0xffffffff)]))", /file "big" of 4294967295 bytes is over its bound/],
  'a section with bytes after its end': ["withFiles(header, body, Buffer.concat([section([['a', 'x']]), Buffer.from('junk')]))", /follow the end of the section/],
  'a files size that does not add up': ["({ ...withFiles(header, body, [['a', 'x']]), header: { ...header, filesBytes: 1 } })", /body bytes, announced/],
  'a files size that is negative': ['({ header: { ...header, filesBytes: -1 }, body })', /bad body fields/],
  'an output above maxOutputBytes': ['({ header: { ...header, outputBytes: 17 * 1024 * 1024, logBytes: 0 }, body: Buffer.alloc(17 * 1024 * 1024) })', /more output or log than its limits/],
  'a memory size beyond 4 GiB': ['({ header: { ...header, memoryPages: 70000 }, body })', /bad memory size/],
  'E_EXIT without an exit code': ["({ header: { ...header, ok: false, failure: { code: 'E_EXIT', message: 'x', deterministic: true } }, body })", /E_EXIT without a valid exit code/],
  'E_EXIT with exit code 0': ["({ header: { ...header, ok: false, failure: { code: 'E_EXIT', message: 'x', deterministic: true, exitCode: 0 } }, body })", /E_EXIT without a valid exit code/],
};

for (const [name, [hook, message]] of Object.entries(FORGERIES)) {
  test.serial(`a worker that sends ${name} fails its job with E_PROTOCOL and is replaced`, async (t) => {
    const { host } = await startAttackerPool(t, { executeWorkers: 1 });
    const artifact = await host.prepare(hello.wasm);
    let liar: number | undefined;
    host.once('job:started', (e) => (liar = pidOf(host, e.workerId)));
    const attack = `${ON_REPLY}\n${SECTION}\n  onReply((header, body) => ${hook});\n`;
    const error = await t.throwsAsync(host.execute(artifact, Buffer.from(ATTACK_MARKER + attack)), { instanceOf: ProtocolError });
    t.regex(error!.message, message);
    const next = await host.execute(artifact, Buffer.from('next'));
    t.is(text(next.output), 'Hello, next!');
    t.not(pidOf(host, next.workerId), liar, 'the next job ran on a fresh worker');
  });
}

test.serial('a well-formed files section from a worker reaches the caller as result.files', async (t) => {
  const { host } = await startAttackerPool(t, { executeWorkers: 1 });
  const artifact = await host.prepare(hello.wasm);
  const attack = `${ON_REPLY}\n${SECTION}\n  onReply((header, body) => withFiles(header, body, [['dir/a.txt', 'A'], ['__proto__', 'P']]));\n`;
  const result = await host.execute(artifact, Buffer.from(ATTACK_MARKER + attack));
  t.deepEqual(Object.keys(result.files).sort(), ['__proto__', 'dir/a.txt']);
  t.is(text(result.files['dir/a.txt']!), 'A');
  t.is(text(result.files['__proto__']!), 'P', 'a file named __proto__ is a file, not a prototype');
});
