// carebridge clients: key pairs, config entries checked by the config schema, a config file changed
// in place only when the whole of it is still valid, a listing without key material — and a
// client made this way gets an access token from a real `carebridge serve` reading that file.
import { afterAll, describe, expect, it } from '@jest/globals';
import type { JWK } from 'jose';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SmartClient } from '../../src/auth/smart-client.ts';
import { main } from '../../src/cli.ts';
import { clientIdFor } from '../../src/cli/clients-command.ts';
import type { ClientConfig } from '../../src/config/config.ts';
import { loadConfig } from '../../src/config/config.ts';
import { capture } from './support/capture.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'carebridge-clients-'));
const NPI = 'http://hl7.org/fhir/sid/us-npi';

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<ReturnType<typeof capture> & { code: number }> {
  const io = capture();
  const code = await main(argv, io);
  return Object.assign(io, { code });
}

const agencyArgs = (extra: string[]): string[] => ['clients', 'add', '--name', 'Inner Harbor Visiting Nurses', '--role', 'agency', '--organization', `${NPI}|1437281645`, '--organization-name', 'Inner Harbor Visiting Nurses', '--scopes', 'system/Task.rus system/Patient.rs', ...extra];

describe('carebridge clients keygen', () => {
  it('writes the private key to a new owner-only file and prints the public key set', async () => {
    const file = join(dir, 'keygen-key.json');
    const made = await cli('clients', 'keygen', '--private-key-file', file, '--kid', 'harbor-2026');
    expect(made.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const privateJwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
    expect(privateJwk).toMatchObject({ kty: 'EC', crv: 'P-384', alg: 'ES384', kid: 'harbor-2026', d: expect.any(String) });
    const jwks = made.json() as { keys: JWK[] };
    expect(jwks.keys).toEqual([{ kty: 'EC', crv: 'P-384', alg: 'ES384', kid: 'harbor-2026', x: privateJwk.x, y: privateJwk.y }]);

    const before = readFileSync(file, 'utf8');
    const again = await cli('clients', 'keygen', '--private-key-file', file);
    expect(again.code).toBe(1);
    expect(again.errors.join('\n')).toContain('exists already');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect((await cli('clients', 'keygen')).code).toBe(2);
  });
});

describe('carebridge clients add', () => {
  it('prints an entry the config schema accepts, with the public keys of --jwks-file', async () => {
    const keyFile = join(dir, 'add-key.json');
    const jwksFile = join(dir, 'add-jwks.json');
    writeFileSync(jwksFile, (await cli('clients', 'keygen', '--private-key-file', keyFile)).lines.join('\n'));
    const added = await cli(...agencyArgs(['--jwks-file', jwksFile]));
    expect(added.code).toBe(0);
    const entry = added.json() as ClientConfig;
    expect(entry).toMatchObject({ clientId: 'inner-harbor-visiting-nurses', role: 'agency', organization: { system: NPI, value: '1437281645', display: 'Inner Harbor Visiting Nurses' }, scopes: ['system/Task.rus', 'system/Patient.rs'] });
    expect(entry.jwks?.keys).toEqual((JSON.parse(readFileSync(jwksFile, 'utf8')) as { keys: unknown[] }).keys);
  });

  it('refuses what the config schema refuses (1) and usage mistakes (2), leaving no key file behind', async () => {
    const privateKey = join(dir, 'refused-key.json');
    const withPrivate = join(dir, 'private-as-public.json');
    await cli('clients', 'keygen', '--private-key-file', withPrivate);
    const cases: [string[], number][] = [
      [agencyArgs(['--jwks-url', 'http://keys.example.org/jwks.json']), 1], // not https
      [agencyArgs(['--jwks-file', withPrivate]), 1], // a private key in a config file
      [['clients', 'add', '--name', 'X', '--role', 'agency', '--organization', `${NPI}|1`, '--scopes', 'patient/*.read', '--keygen', privateKey], 1],
      [agencyArgs([]), 2], // no key
      [agencyArgs(['--jwks-url', 'https://keys.example.org/jwks.json', '--keygen', privateKey]), 2],
      [['clients', 'add', '--name', 'X', '--role', 'nurse', '--organization', `${NPI}|1`, '--scopes', 'system/Task.rs', '--keygen', privateKey], 2],
      [['clients', 'add', '--name', 'X', '--role', 'agency', '--organization', '1437281645', '--scopes', 'system/Task.rs', '--keygen', privateKey], 2],
      [['clients', 'add', '--name', '!!!', '--role', 'agency', '--organization', `${NPI}|1`, '--scopes', 'system/Task.rs', '--keygen', privateKey], 2],
    ];
    for (const [argv, expected] of cases) {
      const { code, lines } = await cli(...argv);
      expect({ argv, code, printed: lines.length }).toEqual({ argv, code: expected, printed: 0 });
      expect(existsSync(privateKey)).toBe(false);
    }
  });

  it('adds entries to a config file in place, only when the whole file stays valid', async () => {
    const config = join(dir, 'write-carebridge.json');
    const first = await cli(...agencyArgs(['--jwks-url', 'https://keys.innerharbor.example/jwks.json', '--write', config]));
    expect(first.code).toBe(0);
    expect(first.errors.join('\n')).toContain(`Added client "inner-harbor-visiting-nurses" to ${config}`);
    const second = await cli('clients', 'add', '--name', 'Harbor Point Medical Center', '--client-id', 'harbor-point-ehr', '--role', 'hospital', '--organization', `${NPI}|1598765432`, '--scopes', 'system/*.cruds', '--keygen', join(dir, 'harbor-point.key.json'), '--write', config);
    expect(second.code).toBe(0);
    expect(loadConfig(config).clients.map((c) => c.clientId)).toEqual(['inner-harbor-visiting-nurses', 'harbor-point-ehr']);

    const before = readFileSync(config, 'utf8');
    const duplicate = await cli(...agencyArgs(['--jwks-url', 'https://keys.example.org/other.json', '--write', config]));
    expect(duplicate.code).toBe(1);
    expect(duplicate.errors.join('\n')).toContain('/clients/2/clientId: "inner-harbor-visiting-nurses" is also the clientId of /clients/0');
    expect(readFileSync(config, 'utf8')).toBe(before);

    // A file that is wrong already is not written to, whatever the new entry.
    const broken = join(dir, 'broken-carebridge.json');
    writeFileSync(broken, JSON.stringify({ clients: [], peers: [{ name: 'x' }] }));
    const refused = await cli(...agencyArgs(['--jwks-url', 'https://keys.example.org/jwks.json', '--write', broken]));
    expect(refused.code).toBe(1);
    expect(JSON.parse(readFileSync(broken, 'utf8'))).toEqual({ clients: [], peers: [{ name: 'x' }] });
  });

  it('makes a client id from the name', () => {
    expect(clientIdFor('Charm City Home Health, Inc.')).toBe('charm-city-home-health-inc');
  });
});

describe('carebridge clients list', () => {
  it('lists the clients without key material, as text or JSON', async () => {
    const config = join(dir, 'list-carebridge.json');
    await cli(...agencyArgs(['--keygen', join(dir, 'list-key.json'), '--client-id', 'agency-with-key', '--write', config]));
    await cli(...agencyArgs(['--jwks-url', 'https://keys.innerharbor.example/jwks.json', '--client-id', 'agency-with-url', '--write', config]));
    const json = await cli('clients', 'list', '--config', config, '--json');
    expect(json.code).toBe(0);
    const kid = (JSON.parse(readFileSync(join(dir, 'list-key.json'), 'utf8')) as JWK).kid;
    expect(json.json()).toEqual([
      { clientId: 'agency-with-key', name: 'Inner Harbor Visiting Nurses', role: 'agency', organization: { system: NPI, value: '1437281645', display: 'Inner Harbor Visiting Nurses' }, scopes: ['system/Task.rus', 'system/Patient.rs'], keyIds: [kid] },
      { clientId: 'agency-with-url', name: 'Inner Harbor Visiting Nurses', role: 'agency', organization: { system: NPI, value: '1437281645', display: 'Inner Harbor Visiting Nurses' }, scopes: ['system/Task.rus', 'system/Patient.rs'], jwksUrl: 'https://keys.innerharbor.example/jwks.json' },
    ]);
    const text = await cli('clients', 'list', '--config', config);
    expect(text.code).toBe(0);
    expect(text.lines).toContain(`    keys kid ${kid}`);
    const publicX = (JSON.parse(readFileSync(config, 'utf8')) as { clients: ClientConfig[] }).clients[0]?.jwks?.keys[0]?.x as string;
    expect([...json.lines, ...text.lines].join('\n')).not.toContain(publicX);
    expect((await cli('clients', 'list', '--config', join(dir, 'missing.json'))).code).toBe(1);
  });
});

describe('a client made with carebridge clients', () => {
  it('gets an access token from a real carebridge serve reading the config file', async () => {
    const config = join(dir, 'serve-carebridge.json');
    const keyFile = join(dir, 'serve-hospital.key.json');
    const added = await cli('clients', 'add', '--name', 'Harbor Point Medical Center EHR', '--role', 'hospital', '--organization', `${NPI}|1598765432`, '--scopes', 'system/Patient.rs system/Task.rs', '--keygen', keyFile, '--write', config);
    expect(added.code).toBe(0);
    const clientId = (added.json() as ClientConfig).clientId;

    const child = spawn(process.execPath, [join(ROOT, 'bin/carebridge.js'), 'serve'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, CAREBRIDGE_CONFIG: config, CAREBRIDGE_DATABASE: `sqlite:${join(dir, 'serve.db')}`, PORT: '0', HOST: '127.0.0.1', CAREBRIDGE_WORKERS: '1', LOG_LEVEL: 'error' },
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          const listening = /carebridge listening on (http:\/\/127\.0\.0\.1:\d+)\/fhir/.exec(out);
          if (listening) {
            resolve(listening[1] as string);
          }
        });
        child.once('exit', (code) => reject(new Error(`carebridge serve stopped (${code}): ${err}`)));
      });
      const smart = new SmartClient({ tokenUrl: `${url}/auth/token`, clientId, privateJwk: JSON.parse(readFileSync(keyFile, 'utf8')) as JWK, scope: 'system/Patient.rs' });
      const token = await smart.getAccessToken();
      expect(token.split('.')).toHaveLength(3);
      const patients = await fetch(`${url}/fhir/Patient`, { headers: { authorization: `Bearer ${token}` } });
      expect(patients.status).toBe(200);
      // Not a scope it was not given.
      const beyond = new SmartClient({ tokenUrl: `${url}/auth/token`, clientId, privateJwk: JSON.parse(readFileSync(keyFile, 'utf8')) as JWK, scope: 'system/CarePlan.cruds' });
      await expect(beyond.getAccessToken()).rejects.toThrow(/answered 400 invalid_scope/);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    expect(err).toBe('');
  }, 30_000);
});
