import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { createLogger, redact } from '../../src/log/logger.ts';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { lines, stream };
}

describe('logger', () => {
  it('writes one JSON object per line with a constant message and fields', async () => {
    const { lines, stream } = capture();
    const logger = createLogger({ stream });
    logger.info('request', { method: 'GET', status: 200 });
    await new Promise((resolve) => setImmediate(resolve));
    const entry = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 'info', message: 'request', method: 'GET', status: 200 });
    expect(typeof entry.timestamp).toBe('string');
  });

  it('never writes patient names, birth dates, addresses, phone numbers or identifier values', async () => {
    const { lines, stream } = capture();
    const logger = createLogger({ stream });
    const patient = {
      resourceType: 'Patient',
      name: [{ family: 'Zyxwvut', given: ['Qwerty'] }],
      birthDate: '1948-03-02',
      address: [{ line: ['12 Elm St'], city: 'Columbus' }],
      telecom: [{ system: 'phone', value: '+1-614-555-0199' }],
      identifier: [{ system: 'urn:mrn', value: 'MRN-4471' }],
    };
    logger.warn('write refused', { resource: patient, detail: { patient }, nested: [{ identifier: patient.identifier }], status: 422 });
    await new Promise((resolve) => setImmediate(resolve));
    const text = lines.join('');
    for (const secret of ['Zyxwvut', 'Qwerty', '1948-03-02', '12 Elm St', 'Columbus', '555-0199', 'MRN-4471']) {
      expect(text).not.toContain(secret);
    }
    expect(JSON.parse(lines[0] as string)).toMatchObject({ status: 422, resource: '[redacted]' });
  });

  it('keeps harmless fields, cuts deep objects, and logs errors without their message', () => {
    expect(redact({ method: 'POST', route: '/:type', a: { b: { c: { d: { e: { f: { g: 1 } } } } } } })).toEqual({
      method: 'POST',
      route: '/:type',
      a: { b: { c: { d: { e: { f: '[truncated]' } } } } },
    });
    const error = Object.assign(new Error('invalid input syntax: "MRN-4471 Zyxwvut"'), { code: '22P02' });
    const logged = redact(error) as { name: string; code: string; frames: string[] };
    expect(logged).toMatchObject({ name: 'Error', code: '22P02' });
    expect(logged.frames.length).toBeGreaterThan(0);
    expect(JSON.stringify(logged)).not.toMatch(/MRN-4471|Zyxwvut/);
  });
});
