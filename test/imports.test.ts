/**
 * The module graph of src/ keeps two rules: no import cycle (type imports included: the
 * facade's parts and readers name narrow interfaces, not the `Host` class), and nothing outside
 * src/worker imports from it (what both sides use lives in src/shared). Read from the import
 * lines of the sources themselves.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';

const SRC = path.resolve('src');

/** Each source file and the files of src/ it imports (static, re-exports and dynamic). */
function importGraph(): Map<string, string[]> {
  const files = (fs.readdirSync(SRC, { recursive: true }) as string[]).filter((file) => file.endsWith('.ts')).map((file) => path.join(SRC, file));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const source = fs.readFileSync(file, 'utf8');
    const specifiers = [
      ...[...source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s+['"](\.[^'"]+)['"]/g)].map((m) => m[1]!),
      ...[...source.matchAll(/(?:^|\n)\s*import\s+['"](\.[^'"]+)['"]/g)].map((m) => m[1]!),
      ...[...source.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((m) => m[1]!),
    ];
    graph.set(
      file,
      specifiers.map((specifier) => path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts'))).filter((target) => fs.existsSync(target)),
    );
  }
  return graph;
}

/** The strongly connected components of more than one file (Tarjan): each holds a cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, next);
    low.set(file, next++);
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) low.set(file, Math.min(low.get(file)!, index.get(target)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(path.relative(SRC, member));
    } while (member !== file);
    if (component.length > 1) found.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

test('src/ has no import cycle', (t) => {
  const graph = importGraph();
  t.true(graph.size > 100, 'the sources were found');
  t.true(graph.get(path.join(SRC, 'host.ts'))!.includes(path.join(SRC, 'metrics.ts')), 'the import lines were read');
  t.deepEqual(cycles(graph), []);
});

test('the cycle check finds a cycle', (t) => {
  const graph = new Map([
    ['/a.ts', ['/b.ts']],
    ['/b.ts', ['/c.ts']],
    ['/c.ts', ['/a.ts']],
    ['/d.ts', ['/a.ts']],
  ]);
  t.is(cycles(graph).length, 1);
  t.is(cycles(graph)[0]!.length, 3);
});

test('nothing outside src/worker imports from it', (t) => {
  const worker = path.join(SRC, 'worker') + path.sep;
  const offending = [...importGraph()]
    .filter(([file]) => !file.startsWith(worker))
    .flatMap(([file, targets]) => targets.filter((target) => target.startsWith(worker)).map((target) => `${path.relative(SRC, file)} → ${path.relative(SRC, target)}`));
  t.deepEqual(offending, []);
});
