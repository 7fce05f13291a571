/**
 * The batch progress bar on its own: the line always fits the terminal (a line that reaches
 * the last column wraps, and each redraw would leave the wrapped part behind), and the bar
 * redraws when the terminal is resized. The terminal itself is tested in batch.test.ts.
 */
import test from 'ava';
import { EventEmitter } from 'node:events';
import { ProgressBar, progressLine } from '../../src/cli/progress.js';

test('the progress line is narrower than the terminal at every width', (t) => {
  for (let columns = 0; columns <= 200; columns++) {
    for (const [done, total, failed] of [[0, 0, 0], [0, 3, 0], [40, 100, 2], [99_999, 100_000, 12_345]] as const) {
      const line = progressLine(done, total, failed, columns);
      t.true(line.length <= Math.max(0, columns - 1), `${columns} columns: ${JSON.stringify(line)}`);
    }
  }
  t.is(progressLine(40, 100, 2, 80), `[${'#'.repeat(16)}${'.'.repeat(24)}] 40/100  failed 2`);
  // Too narrow for a bar: the counts alone.
  t.is(progressLine(40, 100, 2, 20), '40/100  failed 2');
});

/** A terminal stream as ProgressBar sees it: a width, writes, and `resize` events. */
class Terminal extends EventEmitter {
  columns = 80;
  written = '';
  write(text: string): boolean {
    this.written += text;
    return true;
  }
}

test('the bar redraws at the new width on resize, and stops listening once cleared', (t) => {
  const terminal = new Terminal();
  let now = 0;
  const bar = new ProgressBar(10, terminal as unknown as NodeJS.WriteStream, () => now);
  t.true(terminal.written.endsWith(`\r\x1b[K${progressLine(0, 10, 0, 80)}`));
  terminal.columns = 25;
  terminal.emit('resize');
  t.true(terminal.written.endsWith(`\r\x1b[K${progressLine(0, 10, 0, 25)}`));
  // Within 100 ms of the last redraw a count does not redraw; the last one always does.
  const length = terminal.written.length;
  bar.count(true);
  t.is(terminal.written.length, length);
  now = 150;
  bar.count(false);
  t.true(terminal.written.endsWith(progressLine(2, 10, 1, 25)));
  bar.clear();
  t.is(terminal.listenerCount('resize'), 0);
  t.true(terminal.written.endsWith('\r\x1b[K'));
});
