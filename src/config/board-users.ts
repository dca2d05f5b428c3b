// The people who sign in to the board (config file `boardUsers`): each acts for one Organization in
// one role with its scopes, as a client does, and an admin decides which organization that is. The
// file holds an scrypt hash of each password (auth/password-hash.ts), never the password.
import type { ClientRole, OrganizationIdentity } from '../auth/principal.ts';
import { parsePasswordHash } from '../auth/password-hash.ts';
import { parseScope } from '../auth/scopes.ts';

export interface BoardUserConfig {
  /** What the person types to sign in. */
  username: string;
  /** Shown on the board ("Anne Fitzgerald, discharge planner"). */
  name: string;
  organization: OrganizationIdentity;
  role: ClientRole;
  /** SMART system scopes, as a client's: both they and the role must allow an interaction. */
  scopes: string[];
  /** "scrypt$N$r$p$salt$key" (carebridge board-user hash). */
  passwordHash: string;
}

/** Rules beyond the schema: usernames unique, scopes parse, hashes are hashes carebridge checks. */
export function boardUserProblems(users: readonly BoardUserConfig[]): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  users.forEach((user, i) => {
    const other = seen.get(user.username);
    if (other !== undefined) {
      problems.push(`/boardUsers/${i}/username: "${user.username}" is also the username of /boardUsers/${other}`);
    } else {
      seen.set(user.username, i);
    }
    user.scopes.forEach((scope, j) => {
      if (!parseScope(scope)) {
        problems.push(`/boardUsers/${i}/scopes/${j}: "${scope}" is not a SMART system scope (system/Type.cruds or system/Type.read|write|*)`);
      }
    });
    const hash = parsePasswordHash(user.passwordHash);
    if (typeof hash === 'string') {
      problems.push(`/boardUsers/${i}/passwordHash: ${hash}`);
    }
  });
  return problems;
}
