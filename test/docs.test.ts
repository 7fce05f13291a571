/**
 * The documentation's references hold: every relative link points to a file of the repository
 * (and to a heading of it, for `#anchor`), and every file a doc or a source comment names
 * (`docs/api.md`, `README.md`) exists. A doc naming a file that is not in the repository
 * sends a reader nowhere.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve('.');

function filesUnder(dir: string, ext: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(ext))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));
}

const DOCS = ['README.md', 'examples/README.md', 'native/README.md', ...filesUnder('docs', '.md')];
const SOURCES = [...filesUnder('src', '.ts'), ...filesUnder('test', '.ts'), 'native/launcher.c', 'scripts/bundle.mjs', 'examples/build.mjs'];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .trim()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
  return new Set([...text.matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]!)));
}

test('every relative link of the docs reaches a file, and its heading', (t) => {
  for (const doc of DOCS) {
    const text = fs.readFileSync(path.join(ROOT, doc), 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [file, anchor] = target!.split('#') as [string, string | undefined];
      const resolved = file === '' ? doc : path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, doc)), file));
      t.true(fs.existsSync(path.join(ROOT, resolved)), `${doc}: link to ${target} (no ${resolved})`);
      if (anchor && resolved.endsWith('.md') && fs.existsSync(path.join(ROOT, resolved))) {
        t.true(anchors(resolved).has(anchor), `${doc}: link to ${target}: ${resolved} has no heading #${anchor}`);
      }
    }
  }
});

test('every document the docs and the code name is in the repository', (t) => {
  // A path with a folder (docs/api.md) or an upper-case name (README.md); a lower-case
  // bare name (file.md) is an example of a user's file.
  const named = /(?<![\w./-])((?:[\w.-]+\/)+[\w.-]+\.md|[A-Z][A-Z0-9_]*\.md)\b/g;
  let checked = 0;
  for (const file of [...DOCS, ...SOURCES]) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    for (const [, name] of text.matchAll(named)) {
      const candidates = [path.resolve(path.dirname(path.join(ROOT, file)), name!), path.join(ROOT, name!), path.join(ROOT, 'docs', name!)];
      t.true(candidates.some((c) => fs.existsSync(c)), `${file} names ${name}, which is not in the repository`);
      checked++;
    }
  }
  t.true(checked > 20, `${checked} references checked`);
});
