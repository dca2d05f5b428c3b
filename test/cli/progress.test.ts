// The progress line of long commands: an ETA when the total is known, the rate alone when not;
// redrawn in place on a terminal, a line now and then elsewhere.
import { describe, expect, it } from '@jest/globals';
import { Progress } from '../../src/cli/progress.ts';

function clocked(options: { total?: number; tty?: boolean }): { progress: Progress; written: string[]; tick: (ms: number) => void } {
  let now = 1_000_000;
  const written: string[] = [];
  const progress = new Progress({ label: 'backfill Encounter', write: (t) => written.push(t), clock: () => now, everyMs: 2000, ...options });
  return { progress, written, tick: (ms) => (now += ms) };
}

describe('Progress', () => {
  it('shows the rate and an ETA from the total', () => {
    const { progress, tick } = clocked({ total: 400 });
    tick(10_000);
    expect(progress.line(100)).toBe('backfill Encounter [######------------------] 25% 100/400 10/s ETA 30s');
  });

  it('shows what is done and the rate when the peer gives no total, and takes a total learnt later', () => {
    const { progress, tick } = clocked({});
    tick(4_000);
    expect(progress.line(200)).toBe('backfill Encounter 200 50/s');
    progress.setTotal(1000);
    expect(progress.line(200)).toMatch(/^backfill Encounter \[#{5}-{19}\] 20% 200\/1000 50\/s ETA 16s$/);
  });

  it('prints a line at most every everyMs off a terminal, and redraws one line on a terminal', () => {
    const off = clocked({ total: 10 });
    off.progress.update(1);
    off.tick(500);
    off.progress.update(2);
    off.tick(2000);
    off.progress.update(3);
    off.progress.finish(10);
    expect(off.written).toHaveLength(3);
    expect(off.written.at(-1)).toMatch(/100% 10\/10 .* in 3s$/);
    const on = clocked({ total: 10, tty: true });
    on.progress.update(1);
    on.progress.update(2);
    on.progress.finish(10);
    expect(on.written.map((t) => [t.startsWith('\r'), t.endsWith('\n')])).toEqual([
      [true, false],
      [true, false],
      [true, true],
    ]);
  });
});
