import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';

function capture(): { lines: string[]; stream: Writable; flushed: () => Promise<void> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { lines, stream, flushed: () => new Promise((resolve) => setImmediate(resolve)) };
}

const PHI = ['Zyxwvut', 'Qwerty', '1948-03-02', '555-0199', 'MRN-4471', 'pat@example.org', '12 Elm St'];
const JWT = 'eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJhZ2VuY3ktMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

describe('a per-request child logger', () => {
  it('carries the requestId and redacts patient details under any key, nested, in arrays and in errors', async () => {
    const { lines, stream, flushed } = capture();
    const child = createLogger({ stream }).child({ requestId: 'req-42' });
    const error = Object.assign(new Error('duplicate key MRN-4471 for Zyxwvut born 1948-03-02'), { code: 'SQLITE_CONSTRAINT', detail: { name: 'Zyxwvut' } });
    child.warn('write refused', {
      Name: [{ family: 'Zyxwvut', given: ['Qwerty'] }],
      BIRTHDATE: '1948-03-02',
      detail: { entries: [{ resource: { telecom: [{ value: '+1-614-555-0199' }] } }, { Identifier: [{ system: 'urn:mrn', value: 'MRN-4471' }] }] },
      contact: { Email: 'pat@example.org', address: { line: ['12 Elm St'] } },
      error,
      errors: [error],
      status: 422,
    });
    await flushed();
    const entry = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 'warn', message: 'write refused', requestId: 'req-42', status: 422, Name: '[redacted]', BIRTHDATE: '[redacted]' });
    expect(entry.error).toMatchObject({ name: 'Error', code: 'SQLITE_CONSTRAINT' });
    for (const value of PHI) {
      expect(lines.join('')).not.toContain(value);
    }
  });

  it('a child of a child keeps both fields and the same redaction', async () => {
    const { lines, stream, flushed } = capture();
    createLogger({ stream }).child({ requestId: 'req-7' }).child({ job: 'outbox' }).info('sent', { patient: { name: 'Zyxwvut' } });
    await flushed();
    expect(JSON.parse(lines[0] as string)).toMatchObject({ requestId: 'req-7', job: 'outbox', patient: '[redacted]' });
  });
});

describe('credentials never reach a log line', () => {
  it('redacts Authorization headers, OAuth parameters, secrets and private JWK members', async () => {
    const { lines, stream, flushed } = capture();
    const child = createLogger({ stream }).child({ requestId: 'req-9' });
    const privateJwk = { kty: 'EC', crv: 'P-384', kid: 'key-1', x: 'public-x', y: 'public-y', d: 'PRIVATE-D-VALUE' };
    child.info('token request', {
      headers: { Authorization: `Bearer ${JWT}`, 'Proxy-Authorization': 'Basic dXNlcjpwYXNzd29yZC1zZWNyZXQ=', cookie: 'sid=COOKIE-VALUE' },
      form: { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: JWT, scope: 'system/Task.rs' },
      answer: { access_token: 'ACCESS-TOKEN-VALUE', token_type: 'bearer', expires_in: 300 },
      config: { clientSecret: 'CLIENT-SECRET-VALUE', password: 'DB-PASSWORD', privateKey: 'PEM-PRIVATE-KEY', token: 'OPAQUE-TOKEN' },
      keys: [privateJwk, { kty: 'oct', k: 'SYMMETRIC-KEY' }],
    });
    await flushed();
    const text = lines.join('');
    for (const secret of [JWT, 'dXNlcjpwYXNzd29yZC1zZWNyZXQ', 'COOKIE-VALUE', 'ACCESS-TOKEN-VALUE', 'CLIENT-SECRET-VALUE', 'DB-PASSWORD', 'PEM-PRIVATE-KEY', 'OPAQUE-TOKEN', 'PRIVATE-D-VALUE', 'SYMMETRIC-KEY']) {
      expect(text).not.toContain(secret);
    }
    const entry = JSON.parse(lines[0] as string) as { requestId: string; form: Record<string, string>; answer: Record<string, unknown>; keys: Record<string, string>[] };
    // What says which grant, which key and how long stays readable.
    expect(entry.requestId).toBe('req-9');
    expect(entry.form).toMatchObject({ grant_type: 'client_credentials', scope: 'system/Task.rs', client_assertion: '[redacted]' });
    expect(entry.answer).toMatchObject({ token_type: 'bearer', expires_in: 300 });
    expect(entry.keys[0]).toEqual({ kty: 'EC', crv: 'P-384', kid: 'key-1', x: 'public-x', y: 'public-y', d: '[redacted]' });
  });

  it('scrubs a bearer token or a JWT quoted inside a string field or the message', async () => {
    const { lines, stream, flushed } = capture();
    const logger = createLogger({ stream });
    logger.warn(`peer refused Bearer ${JWT}`, { detail: `GET /fhir/Task with Authorization: Bearer ${JWT}`, url: `https://ehr.example.org/cb?assertion=${JWT}`, note2: 'Bearer token expired' });
    await flushed();
    expect(lines.join('')).not.toContain(JWT);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ note2: 'Bearer token expired' });
  });
});
