/** The widest bar drawn, in characters: wider says nothing more. */
const MAX_BAR = 40;
/** Below this the bar is left out and only the counts are shown. */
const MIN_BAR = 5;
/** Redraws at most this often, so a fast batch does not spend its time drawing. */
const REDRAW_MS = 100;

/**
 * The progress line for a terminal `columns` wide: `[#####.....] 40/100  failed 2`. It is
 * always narrower than the terminal: a line that reaches the last column wraps, and each
 * redraw (`\r`, clear to the end of the line) would then leave the wrapped part behind.
 */
export function progressLine(done: number, total: number, failed: number, columns: number): string {
  const room = Math.max(0, columns - 1);
  const counts = `${done}/${total}  failed ${failed}`;
  const bar = Math.min(MAX_BAR, room - counts.length - 3);
  if (bar < MIN_BAR) return counts.slice(0, room);
  const filled = total === 0 ? bar : Math.round((done / total) * bar);
  return `[${'#'.repeat(filled)}${'.'.repeat(bar - filled)}] ${counts}`;
}

/**
 * A one-line progress bar on a terminal, fitted to its width and redrawn when the terminal
 * is resized, at most every 100 ms otherwise. Lines printed through it go above the bar.
 */
export class ProgressBar {
  #done = 0;
  #failed = 0;
  #drawnAt = 0;
  readonly #stream: NodeJS.WriteStream;
  readonly #now: () => number;
  readonly #onResize = (): void => this.#draw();

  constructor(
    readonly total: number,
    stream: NodeJS.WriteStream = process.stderr,
    now: () => number = () => performance.now(),
  ) {
    this.#stream = stream;
    this.#now = now;
    stream.on('resize', this.#onResize);
    this.#draw();
  }

  count(ok: boolean): void {
    this.#done++;
    if (!ok) this.#failed++;
    if (this.#done === this.total || this.#now() - this.#drawnAt >= REDRAW_MS) this.#draw();
  }

  /** Writes a line above the bar. */
  print(text: string): void {
    this.above(() => this.#stream.write(text));
  }

  /**
   * Runs `write` with the bar taken off its line, then draws it again below: what `write` puts
   * on the terminal (another stream's line too, such as --json results on stdout) is not
   * glued to the bar.
   */
  above(write: () => void): void {
    this.#stream.write('\r\x1b[K');
    write();
    this.#draw();
  }

  /** Removes the bar and stops following the terminal's size. */
  clear(): void {
    this.#stream.off('resize', this.#onResize);
    this.#stream.write('\r\x1b[K');
  }

  #draw(): void {
    this.#drawnAt = this.#now();
    this.#stream.write(`\r\x1b[K${progressLine(this.#done, this.total, this.#failed, this.#stream.columns ?? 80)}`);
  }
}
