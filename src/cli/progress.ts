// A progress line for long operator commands (replay, backfill): done/total, percent, rate and
// ETA. On a terminal it redraws one line; elsewhere (logs, CI) it prints a line now and then.
// Without a total (a peer that does not count its matches) it shows what is done and the rate.
import type { Io } from './output.ts';

export interface ProgressOptions {
  /** How many there are to do, when known (it may be learnt later: setTotal). */
  total?: number;
  label: string;
  /**
   * Where the line goes (stderr: stdout stays for results and --json). Off a terminal each call is
   * one line (the writer ends it); on one (tty) the text is written as it is: it redraws the line.
   */
  write: (text: string) => void;
  tty?: boolean;
  clock?: () => number;
  /** Least time between two printed lines when not on a terminal. */
  everyMs?: number;
}

/** ANSI "erase to the end of the line": a shorter line leaves no tail of the longer one before it. */
const CLEAR_TO_END = '\x1b[K';

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export class Progress {
  private readonly options: Required<Omit<ProgressOptions, 'tty' | 'total'>> & { tty: boolean };
  private total: number | undefined;
  private readonly started: number;
  private lastPrinted = 0;

  constructor(options: ProgressOptions) {
    this.options = { tty: false, clock: Date.now, everyMs: 2000, ...options };
    this.total = options.total;
    this.started = this.options.clock();
  }

  setTotal(total: number | undefined): void {
    this.total = total;
  }

  line(done: number): string {
    const { label } = this.options;
    const elapsed = this.options.clock() - this.started;
    const rate = `${(elapsed > 0 ? (done / elapsed) * 1000 : 0).toFixed(0)}/s`;
    const total = this.total;
    if (total === undefined) {
      return `${label} ${done} ${rate}`;
    }
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const eta = done > 0 && done < total ? ` ETA ${seconds(((total - done) / done) * elapsed)}` : '';
    return `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(fraction * 100)}% ${done}/${total} ${rate}${eta}`;
  }

  update(done: number): void {
    const now = this.options.clock();
    if (this.options.tty) {
      this.options.write(`\r${this.line(done)}${CLEAR_TO_END}`);
    } else if (now - this.lastPrinted >= this.options.everyMs) {
      this.options.write(this.line(done));
      this.lastPrinted = now;
    }
  }

  finish(done: number): void {
    const text = `${this.line(done)} in ${seconds(this.options.clock() - this.started)}`;
    this.options.write(this.options.tty ? `\r${text}${CLEAR_TO_END}\n` : text);
  }
}

/** A Progress on stderr: redrawn in place on a terminal, else a line now and then through `io.err`. */
export function progressOnStderr(io: Io, options: Omit<ProgressOptions, 'write'>): Progress {
  const tty = options.tty ?? process.stderr.isTTY === true;
  return new Progress({ ...options, tty, write: tty ? (text) => void process.stderr.write(text) : io.err });
}
