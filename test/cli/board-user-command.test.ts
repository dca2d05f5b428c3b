// carebridge board-user hash: a hash the config accepts and the password verifies against, read
// from standard input; too short, or no such subcommand, and nothing is printed.
import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { parsePasswordHash, verifyPassword } from '../../src/auth/password-hash.ts';
import type { PasswordHash } from '../../src/auth/password-hash.ts';
import { runBoardUser } from '../../src/cli/board-user-command.ts';
import { main } from '../../src/cli.ts';

function capture(): { out: (t: string) => void; err: (t: string) => void; lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (t) => lines.push(t), err: (t) => errors.push(t) };
}

describe('carebridge board-user hash', () => {
  it('prints an scrypt hash of the first line piped in', async () => {
    const io = capture();
    expect(await runBoardUser(['hash'], true, io, Readable.from(['correct horse battery staple\nsecond line\n']))).toBe(0);
    const { passwordHash } = JSON.parse(io.lines.join('')) as { passwordHash: string };
    const hash = parsePasswordHash(passwordHash) as PasswordHash;
    expect(typeof hash).toBe('object');
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(io.errors).toEqual([]);
  });

  it('refuses a short password and bad usage, printing nothing', async () => {
    const short = capture();
    expect(await runBoardUser(['hash'], false, short, Readable.from(['hunter2\n']))).toBe(1);
    expect(short.lines).toEqual([]);
    expect(short.errors[0]).toMatch(/needs 12 to 1024 characters/);
    const usage = capture();
    expect(await runBoardUser(['make'], false, usage, Readable.from([]))).toBe(2);
    expect(await main(['board-user', '--help'], usage)).toBe(0);
    expect(usage.lines.join('\n')).toContain('Usage: carebridge board-user hash');
  });
});
