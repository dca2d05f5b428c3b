// carebridge board-user hash: the scrypt hash of a board user's password, for the config file's
// boardUsers[].passwordHash. The password comes from standard input (typed, without echo, when it
// is a terminal; else the first line piped in), never from the command line, where `ps` and the
// shell's history would keep it.
import type { Readable } from 'node:stream';
import { hashPassword } from '../auth/password-hash.ts';
import type { Io } from './output.ts';

export const BOARD_USER_HELP = `Usage: carebridge board-user hash [--json]

Prints the scrypt hash of a board user's password, for "passwordHash" in the config file's
boardUsers (see README, "The board"). Type the password when asked (twice; nothing is shown), or
pipe it in: printf '%s\\n' "$PASSWORD" | carebridge board-user hash
--json: {"passwordHash": "…"}.
Exit codes: 0 printed, 1 no password, too short, or the two typed differ, 2 bad usage.`;

/** NIST SP 800-63B asks for at least 8; a board reads patients' records, so a little more. */
export const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 1024;

/** Reads one line from a terminal with echo off (raw mode), the prompt on stderr. */
function readHidden(input: NodeJS.ReadStream, prompt: string): Promise<string> {
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (result: string | Error): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (result instanceof Error) {
        reject(result);
      } else {
        resolve(result);
      }
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          done(typed);
          return;
        }
        if (char === '\u0003') {
          done(new Error('cancelled'));
          return;
        }
        typed = char === '\u007f' || char === '\b' ? typed.slice(0, -1) : typed + char;
      }
    };
    input.on('data', onData);
  });
}

/** The first line of a piped standard input (at most MAX_PASSWORD_LENGTH + 2 characters are kept). */
async function readFirstLine(input: Readable): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += String(chunk);
    if (text.includes('\n') || text.length > MAX_PASSWORD_LENGTH + 2) {
      break;
    }
  }
  return text.split(/\r?\n/)[0] ?? '';
}

export async function runBoardUser(positionals: string[], json: boolean, io: Io, input: Readable = process.stdin): Promise<number> {
  if (positionals[0] !== 'hash' || positionals.length !== 1) {
    io.err(BOARD_USER_HELP);
    return 2;
  }
  let password: string;
  const tty = input as NodeJS.ReadStream;
  if (tty.isTTY) {
    try {
      password = await readHidden(tty, 'Password: ');
      if ((await readHidden(tty, 'Again: ')) !== password) {
        io.err('The two passwords differ; nothing was printed.');
        return 1;
      }
    } catch {
      return 1;
    }
  } else {
    password = await readFirstLine(input);
  }
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    io.err(`A board user's password needs ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters.`);
    return 1;
  }
  const passwordHash = await hashPassword(password);
  io.out(json ? JSON.stringify({ passwordHash }) : passwordHash);
  return 0;
}
