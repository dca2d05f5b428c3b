// What a command printed, for the CLI suites: stdout lines and stderr lines apart.
import type { Io } from '../../../src/cli/output.ts';

export function capture(): Io & { lines: string[]; errors: string[]; json: () => unknown } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (t) => lines.push(t), err: (t) => errors.push(t), json: () => JSON.parse(lines.join('\n')) as unknown };
}
