// Board users as authentication sees them: a person's sessions act as the keyless client
// "board:<username>" (its organization, role and scopes from the config, so tenancy, audit and rate
// limits treat them as any client), and a password check that costs the same whether or not the
// username exists (an unknown name still runs one scrypt), so timing does not tell who has an account.
import type { ClientConfig } from '../config/config.ts';
import { BOARD_USER_PREFIX } from '../config/config.ts';
import type { BoardUserConfig } from '../config/board-users.ts';
import type { PasswordHash } from './password-hash.ts';
import { DEFAULT_SCRYPT, parsePasswordHash, verifyPassword } from './password-hash.ts';

export function boardUserClientId(username: string): string {
  return `${BOARD_USER_PREFIX}${username}`;
}

/** The client a board user's sessions act as. */
export function boardUserClient(user: BoardUserConfig): ClientConfig {
  return { clientId: boardUserClientId(user.username), name: user.name, organization: user.organization, role: user.role, scopes: user.scopes };
}

/** Compared against when the username is unknown: a hash of nothing anyone can type (the key is random). */
const DECOY: PasswordHash = { ...DEFAULT_SCRYPT, salt: Buffer.alloc(16, 7), key: Buffer.alloc(32, 0) };

export class BoardUsers {
  private readonly byName = new Map<string, { user: BoardUserConfig; hash: PasswordHash }>();

  constructor(users: readonly BoardUserConfig[]) {
    for (const user of users) {
      const hash = parsePasswordHash(user.passwordHash);
      // The config was checked at start (config/board-users.ts); a hash that does not parse signs nobody in.
      if (typeof hash !== 'string') {
        this.byName.set(user.username, { user, hash });
      }
    }
  }

  get size(): number {
    return this.byName.size;
  }

  /** The user whose username and password these are, or undefined. */
  async check(username: string, password: string): Promise<BoardUserConfig | undefined> {
    const known = this.byName.get(username);
    const matches = await verifyPassword(password, known?.hash ?? DECOY);
    return known && matches ? known.user : undefined;
  }
}
