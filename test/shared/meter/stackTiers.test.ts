/**
 * The logical stack limit against V8's own where jobs run: on a process's main thread (the built
 * InlineRunner, V8's stack limit set to jobStackMb MiB: an execute worker's way) and on a real job
 * thread (the built JobRunner with its thread stack of jobStackMb MiB), under each of V8's tiers
 * forced for the whole process: at the
 * largest `maxStackHeight` a stack size allows, recursion of every frame shape must end in
 * E_STACK_OVERFLOW (never V8's overflow) at exactly the same depth (the fuel used) under Liftoff
 * only, TurboFan only, and the default tiering that mixes both on one stack.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';

const exec = promisify(execFile);
const PROBE = path.resolve('test/fixtures/stack-probe.mjs');
const TIERS = { default: [], 'Liftoff only': ['--liftoff-only'], 'TurboFan only': ['--no-liftoff'] } as const;

interface ProbeLine {
  name: string;
  code?: string;
  prepare?: string;
  fuelUsed?: number;
  message?: string;
}

async function probe(flags: readonly string[], stackMb: number, where: string): Promise<ProbeLine[]> {
  const { stdout } = await exec(process.execPath, [...flags, PROBE, String(stackMb), where], { timeout: 300_000, maxBuffer: 1 << 20 });
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ProbeLine);
}

for (const [where, stackMb] of [['main', 1], ['main', 4], ['thread', 1], ['thread', 4]] as const) {
  test(`${where === 'main' ? 'main thread' : 'job thread'}, jobStackMb ${stackMb}: every frame shape ends in E_STACK_OVERFLOW at the same depth under every tier`, async (t) => {
    const byTier: Record<string, ProbeLine[]> = {};
    for (const [tier, flags] of Object.entries(TIERS)) byTier[tier] = await probe(flags, stackMb, where);
    const reference = byTier.default!;
    t.true(reference.length >= 10);
    // Not vacuous: the smallest frames go thousands of calls deep before the limit.
    t.true(reference.find((l) => l.name === 'tiny')!.fuelUsed! > 10_000 * stackMb);
    for (const [tier, lines] of Object.entries(byTier)) {
      for (const line of lines) t.is(line.code, 'E_STACK_OVERFLOW', `${tier}, ${line.name}: ${line.message ?? line.prepare}`);
      t.deepEqual(
        lines.map((l) => [l.name, l.fuelUsed]),
        reference.map((l) => [l.name, l.fuelUsed]),
        `${tier}: the same depths as the default tiering`,
      );
    }
  });
}
