// boardUsers in the config file: people with an organization, a role, scopes and an scrypt hash of
// their password — never the password itself — each problem reported with its JSON pointer.
import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseConfig } from '../../src/config/config.ts';
import { hashPassword } from '../../src/auth/password-hash.ts';

const FAST = { N: 2 ** 14, r: 8, p: 1 };

async function user(extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return {
    username: 'a.fitzgerald',
    name: 'Anne Fitzgerald (discharge planner)',
    organization: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1599024316', display: 'Harbor Point Medical Center' },
    role: 'hospital',
    scopes: ['system/*.rs'],
    passwordHash: await hashPassword('s3cret passphrase', FAST),
    ...extra,
  };
}

function problemsOf(value: unknown): string[] {
  try {
    parseConfig(value, 'test.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('the config was accepted');
}

describe('boardUsers', () => {
  it('are read with the config, and default to none', async () => {
    const config = parseConfig({ clients: [], boardUsers: [await user()] });
    expect(config.boardUsers).toEqual([expect.objectContaining({ username: 'a.fitzgerald', role: 'hospital' })]);
    expect(parseConfig({ clients: [] }).boardUsers).toEqual([]);
  });

  it('refuse a password in the file, a hash carebridge does not check, and one too costly to check', async () => {
    expect(problemsOf({ clients: [], boardUsers: [{ ...(await user()), password: 'hunter2' }] })).toEqual(['/boardUsers/0/password: unknown key']);
    expect(problemsOf({ clients: [], boardUsers: [await user({ passwordHash: 'hunter2' })] })[0]).toMatch(/^\/boardUsers\/0\/passwordHash: has an invalid format/);
    const [, , r, p, salt, key] = (await hashPassword('x', FAST)).split('$');
    expect(problemsOf({ clients: [], boardUsers: [await user({ passwordHash: `scrypt$${2 ** 20}$${r}$${p}$${salt}$${key}` })] })).toEqual(['/boardUsers/0/passwordHash: scrypt N must be a power of two from 2^14 to 2^17']);
    expect(problemsOf({ clients: [], boardUsers: [await user({ passwordHash: `scrypt$30000$${r}$${p}$${salt}$${key}` })] })[0]).toMatch(/power of two/);
    expect(problemsOf({ clients: [], boardUsers: [await user({ passwordHash: `scrypt$16384$64$${p}$${salt}$${key}` })] })[0]).toMatch(/r must be 1 to 16/);
    expect(problemsOf({ clients: [], boardUsers: [await user({ passwordHash: 'scrypt$16384$8$1$c2FsdA$a2V5' })] })[0]).toMatch(/must be an scrypt hash/);
  });

  it('refuse duplicate usernames, unknown scopes and roles, and a client id that would pass for a board user', async () => {
    const problems = problemsOf({
      clients: [{ clientId: 'board:a.fitzgerald', name: 'x', organization: { system: 'urn:test', value: 'v' }, role: 'admin', scopes: ['system/*.rs'], jwks: { keys: [{ kty: 'EC', kid: 'k', crv: 'P-384', x: 'x', y: 'y' }] } }],
      boardUsers: [await user(), await user({ scopes: ['user/*.rs'] }), await user({ username: 'Has Spaces' }), await user({ username: 'b', role: 'nurse' })],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        '/boardUsers/2/username: has an invalid format (must match ^[a-z0-9][a-z0-9._-]{0,63}$)',
        '/boardUsers/3/role: must be one of: hospital, agency, case-management, admin',
      ]),
    );
    const rules = problemsOf({ clients: [{ clientId: 'board:a.fitzgerald', name: 'x', organization: { system: 'urn:test', value: 'v' }, role: 'admin', scopes: ['system/*.rs'], jwks: { keys: [{ kty: 'EC', kid: 'k', crv: 'P-384', x: 'x', y: 'y' }] } }], boardUsers: [await user(), await user({ scopes: ['user/*.rs'] })] });
    expect(rules).toEqual([
      '/clients/0/clientId: "board:…" names board users\' sessions; choose another clientId',
      '/boardUsers/1/username: "a.fitzgerald" is also the username of /boardUsers/0',
      '/boardUsers/1/scopes/0: "user/*.rs" is not a SMART system scope (system/Type.cruds or system/Type.read|write|*)',
    ]);
  });
});
