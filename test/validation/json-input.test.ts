import { describe, expect, it } from '@jest/globals';
import { OperationOutcomeError, getStatus } from '@medplum/core';
import { MAX_JSON_BYTES, parseJsonBody, parseUntrustedJson, parseUntrustedJsonBytes } from '../../src/validation/json-input.ts';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OperationOutcomeError);
    return (err as OperationOutcomeError).outcome.issue?.[0]?.details?.text ?? '';
  }
  throw new Error('expected a refusal');
}

describe('parseUntrustedJson', () => {
  it('parses ordinary JSON', () => {
    expect(parseUntrustedJson('{"a":[1,{"b":"c"}]}')).toEqual({ a: [1, { b: 'c' }] });
  });

  it('refuses text that is not JSON, naming the position', () => {
    expect(refusal(() => parseUntrustedJson('{"a": 1,,}'))).toMatch(/Not valid JSON.*position|Not valid JSON/);
  });

  it('refuses an empty body', () => {
    expect(refusal(() => parseUntrustedJson('   '))).toMatch(/empty/);
  });

  it('refuses JSON nested deeper than 64 levels', () => {
    const deep = '['.repeat(65) + ']'.repeat(65);
    expect(refusal(() => parseUntrustedJson(deep))).toMatch(/deeper than 64/);
    const ok = '['.repeat(64) + ']'.repeat(64);
    expect(parseUntrustedJson(ok)).toBeDefined();
  });

  it('does not count brackets inside strings as nesting', () => {
    const text = JSON.stringify({ note: '['.repeat(200) });
    expect(parseUntrustedJson(text)).toEqual({ note: '['.repeat(200) });
  });

  it('refuses a million nested arrays quickly instead of exhausting the stack', () => {
    expect(refusal(() => parseUntrustedJson('['.repeat(1_000_000)))).toMatch(/deeper than 64/);
  });

  it.each(['__proto__', 'constructor', 'prototype'])('refuses a %s key anywhere, naming its path', (key) => {
    const text = `{"patient":{"name":[{"${key}":{"polluted":true}}]}}`;
    expect(refusal(() => parseUntrustedJson(text))).toBe(`Forbidden property name "${key}" at /patient/name/0`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses an escaped __proto__ key too', () => {
    expect(refusal(() => parseUntrustedJson('{"\\u005f_proto__":{}}'))).toMatch(/__proto__/);
  });

  it('refuses bodies over 5 MB', () => {
    const big = JSON.stringify({ note: 'x'.repeat(MAX_JSON_BYTES) });
    expect(refusal(() => parseUntrustedJson(big))).toMatch(/larger than 5242880 bytes/);
  });

  it('refuses bytes that are not UTF-8', () => {
    expect(refusal(() => parseUntrustedJsonBytes(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])))).toMatch(/UTF-8/);
  });
});

describe('parseJsonBody', () => {
  const body = new TextEncoder().encode('{"resourceType":"Patient"}');

  it.each(['application/json', 'application/fhir+json', 'application/fhir+json; fhirVersion=4.0', 'Application/JSON; charset=UTF-8'])('reads %s', (type) => {
    expect(parseJsonBody(type, body)).toEqual({ resourceType: 'Patient' });
  });

  it.each([undefined, '', 'text/plain', 'application/xml', 'application/fhir+xml', 'multipart/form-data; boundary=x'])('refuses the content type %j with 415', (type) => {
    try {
      parseJsonBody(type, body);
      throw new Error('expected a refusal');
    } catch (err) {
      expect(err).toBeInstanceOf(OperationOutcomeError);
      expect(getStatus((err as OperationOutcomeError).outcome)).toBe(415);
      expect((err as OperationOutcomeError).outcome.issue?.[0]?.details?.text).toMatch(/Unsupported media type/);
    }
  });

  it('refuses a charset other than UTF-8', () => {
    expect(() => parseJsonBody('application/json; charset=iso-8859-1', body)).toThrow(OperationOutcomeError);
  });

  it('answers a parse error with 400', () => {
    try {
      parseJsonBody('application/json', new TextEncoder().encode('{'));
    } catch (err) {
      expect(getStatus((err as OperationOutcomeError).outcome)).toBe(400);
    }
    expect.assertions(1);
  });
});
