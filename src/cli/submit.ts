import type { Abi } from '../artifactHandle.js';
import { PRIORITIES, type Priority } from '../actors/jobQueue.js';
import { WardenError } from '../errors.js';
import { helpOption, parseArgs, parseChoice, parseCount, parseDuration } from './args.js';
import { readInput, readModule } from './files.js';
import { encodeBytes, reportJsonFailure, writeJson } from './format.js';
import { filesJson, moduleJobArgs, readJobFiles, reportFailedJob, writeOutDir } from './jobFiles.js';
import { parsePositive, queueHelp, queueOf, queueOptions } from './queueArgs.js';

export const submitHelp = `Usage: warden submit --redis URL --queue NAME <module> [--input FILE | -] [--wait] [--json]
                     [--fuel N] [--file NAME=PATH]... [--env NAME=VALUE]... [--out-dir DIR] [-- ARGS...]

Adds one job to a BullMQ queue that warden nodes ("warden serve") consume: <module> (raw,
gzip or brotli WebAssembly) runs on the input on one of them. The code travels by its
sha256: inside the job when small, otherwise stored once in Redis.

Without --wait it prints the job id. With --wait it waits for the result: the output goes
to stdout as raw bytes and the log to stderr, as "warden run" does.

Options:
${queueHelp}
  --input FILE       the input; "-" reads stdin; none means an empty input
  --wait             wait for the result
  --json             print one JSON object: { jobId } or, with --wait, { ok, output, ... }
  --abi run|wasi     the ABI (default: what the module's exports imply)
  --timeout T        CPU time the execution may use: 500ms, 2s, 1m or a number of ms
                     (default: the node's)
  --priority P       ${PRIORITIES.join(', ')} (default: normal)
  --attempts N       attempts when failures are not deterministic (default: 3)
  --deadline T       give up T from now: 500ms, 2s, 1m (default: none)
  --job-id ID        a job id of your own: submitting it again adds nothing
  --fuel N           fuel the execution may use, about one unit per instruction; out of
                     it the job fails with E_OUT_OF_FUEL (default: the node's limit)
  --file NAME=PATH   put the file PATH in the job's directory as NAME (repeatable; a bare
                     PATH is named by its base name)
  --env NAME=VALUE   set a variable of the module's environment (repeatable)
  --out-dir DIR      with --wait: write the files the module created or changed into DIR
  -- ARGS...         the module's arguments: its argv is <module> ARGS...
  -h, --help         show this help

Exit code: 0 when the job was added (with --wait: when it succeeded), 1 when it failed
(warden: E_CODE: message on stderr), 2 for a usage error.`;

/** `warden submit`: one job onto a queue, optionally waiting for its result. */
export async function submitCommand(argv: string[]): Promise<number> {
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    options: {
      ...helpOption,
      ...queueOptions,
      input: { type: 'string' },
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
      abi: { type: 'string' },
      timeout: { type: 'string' },
      priority: { type: 'string' },
      attempts: { type: 'string' },
      deadline: { type: 'string' },
      'job-id': { type: 'string' },
      fuel: { type: 'string' },
      file: { type: 'string', multiple: true },
      env: { type: 'string', multiple: true },
      'out-dir': { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
    tokens: true,
  });
  if (values.help) {
    process.stdout.write(`${submitHelp}\n`);
    return 0;
  }
  const { modulePath, moduleArgs, fileOptions, env, outDir } = moduleJobArgs(argv, { values, positionals, tokens });
  const fuel = values.fuel === undefined ? undefined : parseCount('fuel', values.fuel);
  const { redis, queue: queueName, prefix } = queueOf(values);
  const abi = values.abi === undefined ? undefined : parseChoice<Abi>('abi', values.abi, ['run', 'wasi']);
  const priority = values.priority === undefined ? undefined : parseChoice<Priority>('priority', values.priority, PRIORITIES);
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration('timeout', values.timeout);
  const attempts = values.attempts === undefined ? undefined : parsePositive('attempts', values.attempts);
  const deadlineMs = values.deadline === undefined ? undefined : parseDuration('deadline', values.deadline);
  try {
    const code = await readModule(modulePath);
    const input = await readInput(values.input);
    const files = await readJobFiles(fileOptions);
    // Loaded here: the other commands do not pay for BullMQ and ioredis at startup.
    const { WardenQueue } = await import('../bullmq/wardenQueue.js');
    const queue = new WardenQueue(queueName, { connection: redis, ...(prefix === undefined ? {} : { prefix }) });
    try {
      const job = await queue.submit(code, input, {
        ...(abi === undefined ? {} : { abi }),
        ...(priority === undefined ? {} : { priority }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(attempts === undefined ? {} : { attempts }),
        ...(deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs }),
        ...(values['job-id'] === undefined ? {} : { jobId: values['job-id'] }),
        ...(fuel === undefined ? {} : { fuel }),
        // As `warden run` gives them: argv[0] is the module's path.
        args: [modulePath, ...moduleArgs],
        ...(values.env === undefined ? {} : { env }),
        ...(fileOptions.length === 0 ? {} : { files }),
      });
      if (!values.wait) {
        if (values.json) writeJson({ ok: true, jobId: job.id, codeHash: job.data.codeHash, inline: job.data.code !== undefined });
        else process.stdout.write(`${job.id}\n`);
        return 0;
      }
      const result = await queue.result(job);
      if (outDir !== undefined) await writeOutDir(outDir, result.files);
      if (values.json) {
        const output = encodeBytes(result.output);
        const log = encodeBytes(result.log);
        writeJson({
          ok: true,
          jobId: result.jobId,
          output: output.text,
          outputEncoding: output.encoding,
          log: log.text,
          logEncoding: log.encoding,
          logTruncated: result.logTruncated,
          files: filesJson(result.files),
          memoryPages: result.memoryPages,
          fuelUsed: result.fuelUsed,
          cpuTimeMs: result.cpuTimeMs,
          wallTimeMs: result.wallTimeMs,
          node: result.node,
          workerId: result.workerId,
          artifactKey: result.artifactKey,
          cached: result.cached,
        });
      } else {
        process.stderr.write(result.log);
        if (result.logTruncated) process.stderr.write(`\nwarden: the log was truncated at ${result.log.byteLength} bytes\n`);
        process.stdout.write(result.output);
      }
      return 0;
    } finally {
      await queue.close();
    }
  } catch (error) {
    if (error instanceof WardenError) {
      await reportFailedJob(error, { json: values.json === true, outDir, cut: true });
      if (values.json) return 1;
    }
    if (values.json) return reportJsonFailure(error);
    throw error;
  }
}

