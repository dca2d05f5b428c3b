import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_REFERRAL_ACCESS_ENDS_ON, loadConfig, parseConfig } from '../../src/config/config.ts';

const KEY = { kty: 'EC', crv: 'P-384', kid: 'k1', x: 'x', y: 'y' };

const client = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  clientId: 'riverside-ehr',
  name: 'Riverside General EHR',
  organization: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893', display: 'Riverside General' },
  role: 'hospital',
  scopes: ['system/CarePlan.cruds', 'system/Task.rs'],
  jwks: { keys: [KEY] },
  ...extra,
});

function problemsOf(value: unknown): string[] {
  try {
    parseConfig(value, 'test.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('test.json');
    return (err as ConfigError).problems;
  }
  throw new Error('the config was accepted');
}

function writeTemp(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'carebridge-config-test-')), name);
  writeFileSync(file, text);
  return file;
}

describe('parseConfig', () => {
  it('accepts a client with inline keys and applies the defaults', () => {
    const config = parseConfig({ clients: [client()] });
    expect(config.clients[0]?.clientId).toBe('riverside-ehr');
    expect(config.auth.accessTokenSeconds).toBe(300);
    expect(config.referralAccess.endsOnStatus).toEqual([...DEFAULT_REFERRAL_ACCESS_ENDS_ON]);
  });

  it('keeps what the file says for auth and referralAccess', () => {
    const config = parseConfig({ clients: [], auth: { accessTokenSeconds: 120 }, referralAccess: { endsOnStatus: ['completed', 'cancelled'] } });
    expect(config.auth.accessTokenSeconds).toBe(120);
    expect(config.referralAccess.endsOnStatus).toEqual(['completed', 'cancelled']);
  });

  it('accepts a jwksUrl on https, and on http only for localhost', () => {
    const { jwks: _jwks, ...noKeys } = client();
    expect(parseConfig({ clients: [{ ...noKeys, jwksUrl: 'https://agency.example/jwks.json' }] }).clients[0]?.jwksUrl).toBe('https://agency.example/jwks.json');
    expect(parseConfig({ clients: [{ ...noKeys, jwksUrl: 'http://127.0.0.1:8443/jwks' }] }).clients).toHaveLength(1);
    expect(problemsOf({ clients: [{ ...noKeys, jwksUrl: 'http://agency.example/jwks.json' }] })).toEqual(['/clients/0/jwksUrl: must be an https:// URL (http:// only on localhost)']);
  });

  it('refuses unknown keys, naming where they are', () => {
    expect(problemsOf({ clients: [client({ colour: 'blue' })], extra: 1 })).toEqual(expect.arrayContaining(['/extra: unknown key', '/clients/0/colour: unknown key']));
  });

  it('needs exactly one of jwks and jwksUrl', () => {
    const { jwks: _jwks, ...noKeys } = client();
    expect(problemsOf({ clients: [noKeys] })).toEqual(['/clients/0: needs exactly one of jwks and jwksUrl']);
    expect(problemsOf({ clients: [client({ jwksUrl: 'https://a.example/jwks' })] })).toEqual(['/clients/0: needs exactly one of jwks and jwksUrl']);
  });

  it('refuses private and symmetric key members: a config never holds a secret', () => {
    expect(problemsOf({ clients: [client({ jwks: { keys: [{ ...KEY, d: 'secret' }] } })] })[0]).toMatch(/^\/clients\/0\/jwks\/keys\/0\/d: not allowed here/);
    expect(problemsOf({ clients: [client({ jwks: { keys: [{ kty: 'oct', kid: 'h', k: 'c2VjcmV0' }] } })] })).toEqual(
      expect.arrayContaining(['/clients/0/jwks/keys/0/kty: must be one of: RSA, EC', expect.stringMatching(/^\/clients\/0\/jwks\/keys\/0\/k: not allowed here/)]),
    );
  });

  it('refuses scopes that are not SMART system scopes, and a missing or wrong role', () => {
    expect(problemsOf({ clients: [client({ scopes: ['system/CarePlan.rs', 'patient/CarePlan.read', 'system/Task.sr'] })] })).toEqual([
      '/clients/0/scopes/1: "patient/CarePlan.read" is not a SMART system scope (system/Type.cruds or system/Type.read|write|*)',
      '/clients/0/scopes/2: "system/Task.sr" is not a SMART system scope (system/Type.cruds or system/Type.read|write|*)',
    ]);
    expect(problemsOf({ clients: [client({ role: 'payer' })] })).toEqual(['/clients/0/role: must be one of: hospital, agency, case-management, admin']);
    const { role: _role, ...noRole } = client();
    expect(problemsOf({ clients: [noRole] })).toEqual(['/clients/0/role: is required']);
  });

  it('refuses a client id used twice and a kid used twice by one client', () => {
    expect(problemsOf({ clients: [client(), client({ jwks: { keys: [KEY, KEY] } })] })).toEqual([
      '/clients/1/clientId: "riverside-ehr" is also the clientId of /clients/0',
      '/clients/1/jwks/keys/1/kid: "k1" is used by another key of this client',
    ]);
  });

  it('refuses access tokens living longer than five minutes, and referral statuses that are not Task statuses', () => {
    expect(problemsOf({ clients: [], auth: { accessTokenSeconds: 600 } })).toEqual(['/auth/accessTokenSeconds: must be <= 300']);
    expect(problemsOf({ clients: [], referralAccess: { endsOnStatus: ['closed'] } })[0]).toMatch(/^\/referralAccess\/endsOnStatus\/0: must be one of: draft, requested/);
  });
});

describe('loadConfig', () => {
  it('reads a file', () => {
    expect(loadConfig(writeTemp('ok.json', JSON.stringify({ clients: [client()] }))).clients).toHaveLength(1);
  });

  it('names the file and the place of every problem', () => {
    const file = writeTemp('broken.json', JSON.stringify({ clients: [client({ role: 'payer' })] }));
    expect(() => loadConfig(file)).toThrow(`Invalid configuration ${file}:\n  /clients/0/role: must be one of: hospital, agency, case-management, admin`);
  });

  it('says when the file is missing or not JSON, without quoting it', () => {
    const missing = join(tmpdir(), 'carebridge-no-such-config.json');
    expect(() => loadConfig(missing)).toThrow(`Invalid configuration ${missing}:\n  cannot be read (ENOENT)`);
    const file = writeTemp('not-json.json', '{"clients": [ secret-looking-text');
    let message = '';
    try {
      loadConfig(file);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(new RegExp(`^Invalid configuration ${file}:\\n  is not valid JSON`));
    expect(message).not.toContain('secret');
  });
});
