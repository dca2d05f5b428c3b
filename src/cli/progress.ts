// A progress line for long operator commands (replay, backfill): done/total, percent, rate and
// ETA. On a terminal it redraws one line; elsewhere (logs, CI) it prints a line now and then.

export interface ProgressOptions {
  total: number;
  label: string;
  /** Where the line goes (stderr: stdout stays for results and --json). */
  write: (text: string) => void;
  tty?: boolean;
  clock?: () => number;
  /** Least time between two printed lines when not on a terminal. */
  everyMs?: number;
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export class Progress {
  private readonly options: Required<Omit<ProgressOptions, 'tty'>> & { tty: boolean };
  private readonly started: number;
  private lastPrinted = 0;

  constructor(options: ProgressOptions) {
    this.options = { tty: false, clock: Date.now, everyMs: 2000, ...options };
    this.started = this.options.clock();
  }

  line(done: number): string {
    const { total, label } = this.options;
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const elapsed = this.options.clock() - this.started;
    const rate = elapsed > 0 ? (done / elapsed) * 1000 : 0;
    const eta = done > 0 && done < total ? ` ETA ${seconds(((total - done) / done) * elapsed)}` : '';
    return `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(fraction * 100)}% ${done}/${total} ${rate.toFixed(0)}/s${eta}`;
  }

  update(done: number): void {
    const now = this.options.clock();
    if (this.options.tty) {
      this.options.write(`\r${this.line(done)}`);
    } else if (now - this.lastPrinted >= this.options.everyMs) {
      this.options.write(this.line(done));
      this.lastPrinted = now;
    }
  }

  finish(done: number): void {
    this.options.write(`${this.options.tty ? '\r' : ''}${this.line(done)} in ${seconds(this.options.clock() - this.started)}`);
  }
}
