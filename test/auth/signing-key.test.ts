import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair } from 'jose';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueAccessToken, verifyAccessToken } from '../../src/auth/access-token.ts';
import { SigningKeyError, loadSigningKey, signingJwkFromEnv } from '../../src/auth/signing-key.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

let dir: string;
let store: SqliteStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'carebridge-signing-'));
  store = await SqliteStore.open(join(dir, 'carebridge.db'));
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function privateJwk(alg: 'ES384' | 'RS384'): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS384' ? { modulusLength: 2048 } : {}) });
  return { ...(await exportJWK(privateKey)), kid: `env-${alg}` };
}

const WHERE = { issuer: 'http://carebridge.test', audience: 'http://carebridge.test/fhir' };
const CLIENT = { clientId: 'c', name: 'C', organization: { system: 'urn:x', value: '1' }, role: 'admin' as const, scopes: ['system/*.rs'] };

describe('loadSigningKey', () => {
  it('generates a key once and keeps it in the store: every later load gets the same one', async () => {
    const first = await loadSigningKey({}, store);
    const second = await loadSigningKey({}, store);
    expect(first.alg).toBe('ES384');
    expect(second.kid).toBe(first.kid);
    const { token } = await issueAccessToken(first, WHERE, 'c', [], 60);
    await expect(verifyAccessToken(second, WHERE, token, () => CLIENT)).resolves.toMatchObject({ clientId: 'c' });
  });

  it.each(['ES384', 'RS384'] as const)('takes an %s private JWK from CAREBRIDGE_TOKEN_KEY', async (alg) => {
    const key = await loadSigningKey({ CAREBRIDGE_TOKEN_KEY: JSON.stringify(await privateJwk(alg)) }, store);
    expect({ alg: key.alg, kid: key.kid }).toEqual({ alg, kid: `env-${alg}` });
    const { token } = await issueAccessToken(key, WHERE, 'c', [], 60);
    await expect(verifyAccessToken(key, WHERE, token, () => CLIENT)).resolves.toMatchObject({ clientId: 'c' });
  });

  it('takes it from the file CAREBRIDGE_TOKEN_KEY_FILE names', async () => {
    const file = join(dir, 'token-key.json');
    writeFileSync(file, JSON.stringify(await privateJwk('ES384')));
    expect((await loadSigningKey({ CAREBRIDGE_TOKEN_KEY_FILE: file }, store)).kid).toBe('env-ES384');
  });

  it('refuses both variables at once, a public key, another curve, and text that is not JSON', async () => {
    const jwk = await privateJwk('ES384');
    const { d: _d, ...publicOnly } = jwk;
    const { privateKey: p256 } = await generateKeyPair('ES256', { extractable: true });
    const cases: NodeJS.ProcessEnv[] = [
      { CAREBRIDGE_TOKEN_KEY: JSON.stringify(jwk), CAREBRIDGE_TOKEN_KEY_FILE: '/x' },
      { CAREBRIDGE_TOKEN_KEY: JSON.stringify(publicOnly) },
      { CAREBRIDGE_TOKEN_KEY: JSON.stringify(await exportJWK(p256)) },
      { CAREBRIDGE_TOKEN_KEY: '-----BEGIN PRIVATE KEY-----' },
    ];
    for (const env of cases) {
      expect(() => signingJwkFromEnv(env)).toThrow(SigningKeyError);
    }
  });
});
