// Fuzz: a few thousand generated bad requests against a real server (initServer on 127.0.0.1, a
// fresh SQLite store). Every answer is checked: never a 5xx, never a hang, a 4xx OperationOutcome
// where the input is invalid (a 200 empty searchset where a hostile VALUE is simply a value that
// matches nothing), nothing written (after every request and at the end), and no patient name in
// the server's logs. Reproduce a failure with FUZZ_SEED=<seed> (printed on failure); FUZZ_RUNS
// changes the number of requests; FUZZ_COLLECT=1 lists every failing request instead of stopping
// (and shrinking) at the first (the test still fails).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getSearchParameters } from '@medplum/core';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { RESOURCE_TYPES } from '../../src/api/fhir/supported.ts';
import type { RunningServer } from '../../src/api/server.ts';
import { initServer } from '../../src/api/server.ts';
import type { Logger } from '../../src/log/logger.ts';
import { createLogger } from '../../src/log/logger.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { adminClient, testAuthService, tokenFor } from '../support/auth.ts';

// The search parameter tables the generators read come with the definitions.
loadDefinitions();

const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 4000);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
/** Failures seen in FUZZ_COLLECT mode. */
const COLLECTED: string[] = [];
const REQUEST_TIMEOUT_MS = 10_000;

/** Patient data sent in (bad) bodies and queries: must never reach a log line. */
const PHI = ['Zyxwvut', 'Qwerty'];
const FAMILY = 'Qwerty';
const GIVEN = 'Zyxwvut';

// ---------------------------------------------------------------------------------------------
// Cases

type Expect =
  /** A 4xx OperationOutcome with an error issue (status among `statuses` when given). */
  | { kind: 'outcome'; statuses?: number[] }
  /** A search whose hostile input is only a value: 200 searchset without any entry. */
  | { kind: 'emptySearchset' }
  /** Lenient search with unknown parameters: 200 searchset without match entries, or a 4xx OperationOutcome. */
  | { kind: 'noMatches' }
  /** A batch of bad entries: 200 batch-response, every entry answered 4xx with an OperationOutcome. */
  | { kind: 'batchAllFailed'; entries: number }
  /** $validate: an OperationOutcome, 200 or 4xx. */
  | { kind: 'validateOutcome' };

type BodySpec =
  | { kind: 'text'; text: string }
  /** Raw bytes, hex-encoded so a counterexample prints readably. */
  | { kind: 'hex'; hex: string }
  /** prefix + open×depth + middle + close×depth + suffix, built at send time. */
  | { kind: 'deep'; prefix: string; open: string; middle: string; close: string; depth: number; suffix: string }
  /** A valid Patient with a string of `bytes` characters: over the 5 MB limit. */
  | { kind: 'oversized'; bytes: number; chunked: boolean };

interface FuzzCase {
  family: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS';
  /** Already percent-encoded, starting with /fhir. */
  path: string;
  headers: Record<string, string>;
  body?: BodySpec;
  expect: Expect;
}

const FHIR_JSON = 'application/fhir+json';
const jsonHeaders = (withBody: boolean): Record<string, string> => (withBody ? { 'content-type': FHIR_JSON } : {});
const outcome4xx = (statuses?: number[]): Expect => ({ kind: 'outcome', ...(statuses ? { statuses } : {}) });

const INJECTIONS = [
  "' OR 1=1--", "' OR '1'='1", '"; DROP TABLE resources;--', "'); DELETE FROM resource_history;--", '1; SELECT * FROM resources',
  "' UNION SELECT content FROM resources--", "admin'--", '1) OR (1=1', "' AND SLEEP(5)--", "'; PRAGMA writable_schema=1;--",
  '%', '_', '%%', '%_%', '\\%', '\\_', '\\', '\\\\', '*', '?', '[a-z]%', '^.*$',
  '{"$gt":""}', '{"resourceType":"Patient"}', '[]', '{}', 'null', 'undefined', 'NaN', 'true', '-0', '1e999',
  '<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '"><svg/onload=alert(1)>', '&lt;b&gt;', ']]><!--',
  "Patient.name.where(family='x')", 'name.exists() or true', '%resource.id', "iif(true, 'a', 'b')", '$this', '%context', 'descendants()',
  '../../etc/passwd', '..%2F..%2F', '%00', '\u0000', '\t\r\n', '${7*7}', '{{7*7}}', '#{7*7}', '__proto__', 'constructor', 'prototype',
  '|', '||', 'a|b|c', ',', ',,,', '\\,', '\\|', '$', ':', 'Patient/', 'Patient/../../x', 'http://evil.example/Patient/1', 'urn:uuid:',
  GIVEN, `${GIVEN} ${FAMILY}`, '\u202e', '\ud800', '\uffff', 'ﬀ', 'ǅ', 'İ', '𝔘𝔫𝔦', '   ',
];

/** Any string of a few kinds (ASCII, full Unicode incl. lone surrogates, the injection list). */
const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INJECTIONS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...INJECTIONS), fc.string({ maxLength: 10 }), fc.constantFrom(...INJECTIONS)).map(([a, b, c]) => a + b + c) },
);
/** Header values must be printable Latin-1 for fetch. */
const headerString = hostileString.map((s) => s.replace(/[^\x20-\x7e]/g, '').trim()).filter((s) => s.length > 0);

const typeArb = fc.constantFrom(...RESOURCE_TYPES);
/** Nobody writes the audit trail through the API (403 before anything else is looked at). */
const writableTypeArb = fc.constantFrom(...RESOURCE_TYPES.filter((t) => t !== 'AuditEvent' && t !== 'Provenance'));
const idArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,20}$/);

// Resources that pass validation (checked by $validate in the first test), so a refusal is due to
// the one bad thing each case adds.
const VALID: Record<string, Record<string, unknown>> = {
  patient: { resourceType: 'Patient', name: [{ family: FAMILY, given: [GIVEN] }], gender: 'female', birthDate: '1950-03-04' },
  patientMinimal: { resourceType: 'Patient', name: [{ family: FAMILY, given: [GIVEN] }] },
  observation: { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { display: `${GIVEN} ${FAMILY}` } },
};
const validResourceArb = fc.constantFrom(...Object.keys(VALID)).map((k) => structuredClone(VALID[k]) as Record<string, unknown>);
const validPatientArb = fc.constantFrom('patient', 'patientMinimal').map((k) => structuredClone(VALID[k]) as Record<string, unknown>);

// Resources that fail R4 or profile validation (checked by $validate in the first test).
const INVALID: Record<string, unknown>[] = [
  { resourceType: 'Patient', name: [{ family: FAMILY, given: [GIVEN] }], gender: 'bogus' },
  { resourceType: 'Patient', name: [{ family: FAMILY, given: [GIVEN] }], birthDate: 'yesterday' },
  { resourceType: 'Patient', name: `${GIVEN} ${FAMILY}` },
  { resourceType: 'Patient', name: [{ family: FAMILY, given: GIVEN }] },
  { resourceType: 'Patient', name: [{ family: FAMILY, given: [GIVEN] }], unknownProperty: true },
  { resourceType: 'Patient', name: [{ family: FAMILY, given: [GIVEN] }], active: 'yes' },
  { resourceType: 'Patient', name: [{ family: FAMILY, given: [GIVEN] }], multipleBirthInteger: 1e20 },
  { resourceType: 'Patient', name: [{ family: `${FAMILY}\u0000`, given: [GIVEN] }] },
  { resourceType: 'Patient', id: '../../etc/passwd', name: [{ family: FAMILY, given: [GIVEN] }] },
  { resourceType: 'Patient', name: [{ family: FAMILY, given: [GIVEN] }], managingOrganization: 'Organization/1' },
  { resourceType: 'Observation', code: { text: 'weight' }, subject: { display: `${GIVEN} ${FAMILY}` } },
  { resourceType: 'Observation', status: 'bogus', code: { text: 'weight' } },
  { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, valueQuantity: { value: 'heavy' } },
];
const invalidResourceArb = fc.constantFrom(...INVALID).map((r) => structuredClone(r));

const text = (value: unknown): BodySpec => ({ kind: 'text', text: typeof value === 'string' ? value : JSON.stringify(value) });
const bundleText = (type: string, entry: unknown[]): string => JSON.stringify({ resourceType: 'Bundle', type, entry });

/** Where a write body can go (the body is a resource of type `type`). */
const writeTarget = (type: string): fc.Arbitrary<{ method: 'POST' | 'PUT'; path: string }> =>
  fc.oneof(fc.constant({ method: 'POST' as const, path: `/fhir/${type}` }), idArb.map((id) => ({ method: 'PUT' as const, path: `/fhir/${type}/${id}` })));

/** Extra headers on any request: junk request ids, Prefer noise, big (but legal) headers. */
const noiseHeaders: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      // Request ids are logged as sent (sanitized), so they carry no patient names here.
      'x-request-id': headerString.filter((s) => !PHI.some((name) => s.includes(name))),
      'x-junk': fc.integer({ min: 1, max: 8000 }).map((n) => 'j'.repeat(n)),
      'x-forwarded-for': headerString,
      cookie: headerString,
    },
    { requiredKeys: [] },
  )
  .map((h) => ({ ...h }));

// --- malformed JSON -------------------------------------------------------------------------

/** Whether a body is empty or JSON that parses (a BOM-less UTF-8 decoding, as the server's). */
function parsesOrEmpty(body: BodySpec): boolean {
  try {
    const bytes = body.kind === 'hex' ? Buffer.from(body.hex, 'hex') : Buffer.from(body.kind === 'text' ? body.text : '', 'utf8');
    const decoded = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (decoded.trim() === '') {
      return bytes.length === 0;
    }
    JSON.parse(decoded);
    return true;
  } catch {
    return false;
  }
}

const malformedJsonText: fc.Arbitrary<BodySpec> = validResourceArb.chain((resource) => {
  const t = JSON.stringify(resource);
  const bytes = (b: Buffer): BodySpec => ({ kind: 'hex', hex: b.toString('hex') });
  const insideFamily = (insert: readonly number[]): BodySpec => {
    const at = Buffer.from(t).indexOf(Buffer.from(FAMILY));
    const b = Buffer.from(t);
    return bytes(at < 0 ? Buffer.concat([Buffer.from(insert), b]) : Buffer.concat([b.subarray(0, at + 2), Buffer.from(insert), b.subarray(at + 2)]));
  };
  return fc.oneof(
    fc.integer({ min: 1, max: t.length - 1 }).map((n) => text(t.slice(0, n))),
    fc.constantFrom('x', '}', ']', ',', '// c', '/* c */', '{"a":1}', '\u0000', 'null', '"', '\uFEFF').map((g) => text(t + g)),
    hostileString.filter((g) => g.trim() !== '' && g.replace(/[\s\uFEFF]/g, '') !== '').map((g) => text(t + g)),
    fc.constantFrom('NaN', 'Infinity', '-Infinity', 'undefined', '01', '+1', '.5', '0x10', "'x'", 'True').map((v) => text(t.replace(/}$/, `,"multipleBirthInteger":${v}}`))),
    fc.constant(text(t.replace(/"/g, "'"))),
    fc.constantFrom('/* comment */', '// comment\n', '# comment\n').map((c) => text(`{${c}${t.slice(1)}`)),
    fc.constant(text(t.replace(/}$/, ',}'))),
    fc.constant(text(t.replace('"resourceType"', 'resourceType'))),
    fc.constant(text(t.replace(FAMILY, `${FAMILY}\u0001`))),
    fc.constantFrom('\\x41', '\\u12', '\\q', '\\').map((e) => text(t.replace(FAMILY, `${FAMILY}${e}`))),
    fc.constantFrom('\uFEFF\uFEFF', '\uFEFF \uFEFF').map((b) => text(b + t)),
    fc.constant(text(`{\uFEFF${t.slice(1)}`)),
    fc.constantFrom([0xfe, 0xff], [0xff, 0xfe], [0x00, 0x00, 0xfe, 0xff], [0xff, 0xfe, 0x00, 0x00]).map((bom) => bytes(Buffer.concat([Buffer.from(bom), Buffer.from(t, bom[0] === 0xff ? 'utf16le' : 'utf8')]))),
    fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc3]).map(insideFamily),
    fc.constantFrom('', ' ', '\n\t ', 'null', '1', '"Patient"', '[]', 'true', `[${t}]`).map(text),
  );
});

const malformedJson: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    malformedJsonText,
    fc.oneof(
      writableTypeArb.chain(writeTarget),
      fc.constant({ method: 'POST' as const, path: '/fhir' }),
      typeArb.map((t) => ({ method: 'POST' as const, path: `/fhir/${t}/_search` })),
    ),
    fc.constantFrom(FHIR_JSON, 'application/json', 'application/fhir+json; charset=utf-8', 'application/fhir+json;fhirVersion=4.0'),
    noiseHeaders,
  )
  // POST _search reads its parameters from a form and ignores a well-formed JSON body: only JSON
  // that does not parse must be refused there.
  .filter(([body, target]) => !target.path.endsWith('/_search') || !parsesOrEmpty(body))
  .map(([body, target, contentType, noise]) => ({ family: 'malformed-json', ...target, headers: { ...noise, 'content-type': contentType }, body, expect: outcome4xx([400]) }));

// --- wrong Content-Type ----------------------------------------------------------------------

const WRONG_CONTENT_TYPES = [
  'text/plain', 'text/plain; charset=utf-8', 'application/xml', 'application/fhir+xml', 'text/xml', 'text/html', 'text/json',
  'multipart/form-data; boundary=x', 'multipart/mixed; boundary=x', 'application/octet-stream', 'application/json-patch+json',
  'application/fhir+json; charset=latin1', 'application/json; charset=utf-16', 'application/fhir+json; charset="iso-8859-1"',
  'application/fhir+json+evil', 'application', '*/*', 'application/*', ';;;', 'application/json, text/plain', 'image/png',
];

const wrongContentType: fc.Arbitrary<FuzzCase> = fc
  .tuple(validResourceArb, fc.option(fc.constantFrom(...WRONG_CONTENT_TYPES), { nil: undefined }), fc.constantFrom('resource', 'transaction', 'validate'), idArb, noiseHeaders)
  .map(([resource, contentType, where, id, noise]) => {
    const type = resource.resourceType as string;
    const target =
      where === 'transaction'
        ? { method: 'POST' as const, path: '/fhir', body: bundleText('transaction', [{ resource, request: { method: 'POST', url: type } }]) }
        : where === 'validate'
          ? { method: 'POST' as const, path: `/fhir/${type}/$validate`, body: JSON.stringify(resource) }
          : id.length % 2 === 0
            ? { method: 'PUT' as const, path: `/fhir/${type}/${id}`, body: JSON.stringify({ ...resource, id }) }
            : { method: 'POST' as const, path: `/fhir/${type}`, body: JSON.stringify(resource) };
    // No Content-Type at all: send bytes, for which fetch adds none.
    const body: BodySpec = contentType === undefined ? { kind: 'hex', hex: Buffer.from(target.body).toString('hex') } : text(target.body);
    return { family: 'wrong-content-type', method: target.method, path: target.path, headers: { ...noise, ...(contentType !== undefined ? { 'content-type': contentType } : {}) }, body, expect: outcome4xx([415]) };
  });

// A form body where JSON is expected: refused (400 today; 415 would be as right).
const formInsteadOfJson: fc.Arbitrary<FuzzCase> = fc.tuple(validResourceArb, idArb).map(([resource, id]) => {
  const type = resource.resourceType as string;
  return { family: 'form-instead-of-json', method: 'PUT', path: `/fhir/${type}/${id}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: text(JSON.stringify({ ...resource, id })), expect: outcome4xx([400, 415]) };
});

// --- resourceType / id mismatches --------------------------------------------------------------

const resourceTypeMismatch: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    writableTypeArb,
    fc.oneof(typeArb, fc.constantFrom<unknown>('Bogus', 'patient', 'PATIENT', 'Patient ', ' Patient', '', null, 5, true, ['Patient'], { a: 1 }, 'Bundle', 'Binary', "Patient'; DROP TABLE resources;--")),
    fc.boolean(),
  )
  .filter(([urlType, bodyType]) => urlType !== bodyType)
  .chain(([urlType, bodyType, dropType]) =>
    writeTarget(urlType).map((target) => {
      const body: Record<string, unknown> = { ...structuredClone(VALID.patient as Record<string, unknown>), resourceType: bodyType };
      if (dropType) {
        delete body.resourceType;
      }
      return { family: 'resource-type-mismatch', ...target, headers: { 'content-type': FHIR_JSON }, body: text(body), expect: outcome4xx([400]) };
    }),
  );

const idMismatch: fc.Arbitrary<FuzzCase> = fc
  .tuple(validResourceArb, idArb, fc.oneof(idArb, fc.constantFrom<unknown>('', ' ', 5, null, '../x', "' OR 1=1--", 'a'.repeat(65))))
  .filter(([, urlId, bodyId]) => urlId !== bodyId && bodyId !== null)
  .map(([resource, urlId, bodyId]) => ({
    family: 'id-mismatch',
    method: 'PUT',
    path: `/fhir/${resource.resourceType as string}/${urlId}`,
    headers: { 'content-type': FHIR_JSON },
    body: text({ ...resource, id: bodyId }),
    expect: outcome4xx([400, 422]),
  }));

// --- unknown types and junk paths ------------------------------------------------------------

const unknownTypeName = fc.oneof(
  fc.constantFrom('Bogus', 'patient', 'PATIENT', 'Patient.json', 'Binary', 'Bundle', 'OperationOutcome', 'Medication', 'SearchParameter', 'StructureDefinition', 'Patient%20', '%20Patient', 'Patient%00', '%2e%2e', '%27%20OR%201%3D1--', 'Patient;DROP', 'Patient%3F', '*', '$export'),
  fc.stringMatching(/^[A-Z][a-z]{2,12}$/).filter((t) => !(RESOURCE_TYPES as readonly string[]).includes(t)),
);

const unknownType: fc.Arbitrary<FuzzCase> = fc
  .tuple(unknownTypeName, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), fc.option(idArb, { nil: undefined }), validPatientArb)
  .map(([type, method, id, resource]) => ({
    family: 'unknown-type',
    method: method as FuzzCase['method'],
    path: `/fhir/${type}${id ? `/${id}` : ''}`,
    headers: jsonHeaders(method === 'POST' || method === 'PUT'),
    ...(method === 'POST' || method === 'PUT' ? { body: text({ ...resource, resourceType: decodeURIComponent(type), ...(id ? { id } : {}) }) } : {}),
    expect: outcome4xx(),
  }));

const JUNK_PATHS = [
  '/fhir/..%2F..%2Fetc/passwd', '/fhir/Patient/..%2F..%2Fetc%2Fpasswd', '/fhir/Patient/%00', '/fhir/Patient/%2e%2e', '/fhir/Patient/a%2Fb',
  '/fhir/Patient/%E2%80%AE', '/fhir/Patient/%20', '/fhir/Patient/a%20b', '/fhir/Patient/%27%20OR%201%3D1--', '/fhir/Patient/%3Cscript%3E',
  '/fhir/Patient/abc/def/ghi', '/fhir/Patient/abc/_history/%27%20OR%201%3D1', '/fhir/Patient/abc/_history/-1', '/fhir/Patient/abc/_history/1e9',
  '/fhir/Patient/abc/$bogus', '/fhir/$bogus', '/fhir/Patient/$validate/x', '/fhir//Patient', '/fhir/Patient/abc/_history/1/extra',
  '/fhir/%2FPatient', '/fhir/Patient%2F123', '/fhir/_history/x', '/fhir/metadata/x', '/fhir/Patient/*', '/fhir/Patient/%25',
  '/fhir/Patient/abc%20def/_history/x', '/fhir/.env',
];

const junkPath: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(...JUNK_PATHS),
      fc.integer({ min: 65, max: 12_000 }).map((n) => `/fhir/Patient/${'a'.repeat(n)}`),
      hostileString.map((s) => `/fhir/Patient/${encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x')) || '%20'}`).filter((p) => !/^\/fhir\/Patient\/[A-Za-z0-9\-.]{1,64}$/.test(p)),
    ),
    fc.constantFrom('GET', 'DELETE', 'PUT'),
    validPatientArb,
  )
  .map(([path, method, resource]) => ({
    family: 'junk-path',
    method: method as FuzzCase['method'],
    path,
    headers: jsonHeaders(method === 'PUT'),
    ...(method === 'PUT' ? { body: text(resource) } : {}),
    expect: outcome4xx(),
  }));

const methodNotAllowed: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.constantFrom('PATCH', 'OPTIONS', 'DELETE'), fc.constantFrom('/fhir', '/fhir/metadata', '/fhir/Patient', '/fhir/Patient/abc'), validPatientArb)
  .filter(([method, path]) => !(method === 'DELETE' && path === '/fhir/Patient/abc'))
  .map(([method, path, resource]) => ({
    family: 'method-not-allowed',
    method: method as FuzzCase['method'],
    path,
    headers: (method === 'PATCH' ? { 'content-type': 'application/json-patch+json' } : {}) as Record<string, string>,
    ...(method === 'PATCH' ? { body: text([{ op: 'replace', path: '/name', value: resource.name }]) } : {}),
    // A json-patch body is refused as unreadable (415) before the method is looked at (405).
    expect: outcome4xx(method === 'PATCH' ? [405, 415] : [405]),
  }));

// --- search ----------------------------------------------------------------------------------

interface ParamRef {
  type: string;
  code: string;
  kind: 'text' | 'date' | 'number';
}

const UNSUPPORTED_CODES = new Set(['_security', '_source', '_text', '_content', '_list', '_has', '_query', '_filter', '_compartment', '_project']);
const SEARCH_TYPES = ['Patient', 'Observation', 'Task', 'CarePlan', 'Encounter', 'Condition', 'Practitioner', 'Coverage', 'ServiceRequest'];

function searchParams(): ParamRef[] {
  const out: ParamRef[] = [];
  for (const type of SEARCH_TYPES) {
    for (const [code, sp] of Object.entries(getSearchParameters(type) ?? {})) {
      if (UNSUPPORTED_CODES.has(code)) {
        continue;
      }
      const kind = ({ token: 'text', string: 'text', reference: 'text', uri: 'text', date: 'date', number: 'number', quantity: 'number' } as const)[sp.type as 'token'];
      if (kind) {
        out.push({ type, code, kind });
      }
    }
    out.push({ type, code: '_id', kind: 'text' });
  }
  return out;
}

const TEXT_MODIFIERS: Record<string, string[]> = { string: ['', ':exact', ':contains', ':missing'], token: ['', ':not', ':text', ':missing'], reference: ['', ':missing'], uri: ['', ':below', ':missing'] };

/** A name no search parameter has: starts with a character no parameter name contains. */
const hostileName = fc.oneof(
  fc.constantFrom(
    "' OR 1=1--", '"; DROP TABLE resources;--', '%', '*', '?', '<script>', '{"$gt":""}', '[]', '${7*7}', '$this', '%resource.id', "'name'",
    ':', ':name', '::', 'Zyxwvut', 'null', 'undefined', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__',
    "Patient.name.where(family='x')", 'name.exists() or true', 'subject:Patient.name:contains.x', 'subject:Bogus.name', 'subject:Patient.bogus',
    '_has:Observation:patient:code', '_bogus', "_' OR 1=1", '_text', '_filter', '_query', '_list', '_content', 'Patient/', '../x', '',
  ),
  fc.tuple(fc.constantFrom("'", '"', ';', '<', '%', '(', '{', '[', '*', '!', '~', '^', '|', '#', '&', '='), fc.string({ maxLength: 30 })).map(([c, s]) => c + s),
);

const queryString = (pairs: [string, string][]): string => new URLSearchParams(pairs).toString();

const searchWithHostileValues: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.constantFrom(...searchParams().filter((p) => p.kind === 'text')), fc.array(hostileString.filter((s) => s.length <= 4000), { minLength: 1, maxLength: 3 }), fc.boolean(), fc.boolean(), fc.nat())
  .map(([param, values, strict, viaPost, pick]) => {
    const spType = getSearchParameters(param.type)?.[param.code]?.type ?? 'token';
    const modifiers = TEXT_MODIFIERS[spType] ?? [''];
    const pairs = values.map((v): [string, string] => [`${param.code}${modifiers[pick % modifiers.length] ?? ''}`, v]);
    return searchCase('search-hostile-value', param.type, pairs, strict, viaPost, { kind: 'emptySearchset' });
  });

function searchCase(family: string, type: string, pairs: [string, string][], strict: boolean, viaPost: boolean, expect: Expect): FuzzCase {
  const headers: Record<string, string> = strict ? { prefer: 'handling=strict' } : {};
  if (viaPost) {
    return { family, method: 'POST', path: `/fhir/${type}/_search`, headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: text(queryString(pairs)), expect };
  }
  return { family, method: 'GET', path: `/fhir/${type}?${queryString(pairs)}`, headers, expect };
}

const invalidDateValue = fc.oneof(
  fc.constantFrom('xx2026', 'ge2026-13-45', '2026-13', '2026-00-10', '2026-02-30', '20260101', '2026-1-1', 'ge', 'eq', '', 'ge ', '2026-01-01T25:00', 'yesterday', 'now()', 'le2026-01-01T00:00:00+25:00', '2026,xx'),
  fc.constantFrom(...INJECTIONS).filter((s) => !/^\d/.test(s)),
  fc.string({ maxLength: 30 }).map((s) => `xx${s}`),
);
const invalidNumberValue = fc.oneof(
  fc.constantFrom('abc', 'NaN', 'Infinity', '-Infinity', '1e999', '', ' ', '|', '||', 'gt', 'gtabc', 'xx1,2', '1,abc'),
  fc.constantFrom(...INJECTIONS).filter((s) => !/^[\d\s-]/.test(s) && !/^(true|null|-0|1e999)$/.test(s)),
  fc.string({ maxLength: 30 }).map((s) => `xx${s}`),
);

const searchWithInvalidDateOrNumber: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.constantFrom(...searchParams().filter((p) => p.kind !== 'text')), fc.boolean(), fc.boolean(), fc.boolean())
  .chain(([param, strict, viaPost, withValid]) =>
    (param.kind === 'date' ? invalidDateValue : invalidNumberValue).map((value) => {
      const pairs: [string, string][] = [[param.code, value]];
      if (withValid) {
        pairs.unshift(['_count', '10']);
      }
      return searchCase('search-invalid-date-or-number', param.type, pairs, strict, viaPost, outcome4xx([400]));
    }),
  );

const searchWithUnknownNames: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.constantFrom(...SEARCH_TYPES), fc.array(fc.tuple(hostileName, hostileString.filter((s) => s.length <= 4000)), { minLength: 1, maxLength: 3 }), fc.boolean(), fc.boolean())
  .map(([type, pairs, strict, viaPost]) => searchCase(strict ? 'search-unknown-name-strict' : 'search-unknown-name-lenient', type, pairs, strict, viaPost, strict ? outcome4xx([400]) : { kind: 'noMatches' }));

const BAD_CONTROLS: [string, string[]][] = [
  ['_sort', ['gender', 'identifier', 'bogus', '-bogus', '__proto__', "' OR 1=1--", 'name;DROP TABLE resources', '_count', '', ',', '-', '--name', 'subject', 'Patient.name', '_lastUpdated;', 'name desc']],
  ['_count', ['-1', '100000', '1e9', 'abc', '1001', '', ' 5', '5.5', '0x10', '١٠', '+5', '5 ', 'NaN', 'Infinity', '99999999999999999999', "1' OR 1=1"]],
  ['_include', ['garbage', '*', 'Patient:*', 'Patient', ':name', 'Patient:name:', 'patient:organization', "Patient:' OR 1=1", 'Patient:organization:organization', 'Patient::Organization', '', 'Patient:organization;DROP']],
  ['_revinclude', ['garbage', '*', 'Observation', 'Observation:', ':subject', 'observation:subject', "Observation:'--"]],
  ['_summary', ['bogus', 'true', 'text', 'data', '', 'COUNT', "count'"]],
  ['_total', ['bogus', 'all', '', 'ACCURATE', '1']],
  ['_cursor', ['garbage', '!!!', 'eyJ2IjoxfQ', 'W10', 'bnVsbA', "' OR 1=1--"]],
];

const searchWithBadControls: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.constantFrom(...SEARCH_TYPES), fc.constantFrom(...BAD_CONTROLS), fc.nat(), fc.boolean(), fc.boolean())
  .map(([type, [name, values], pick, strict, viaPost]) => searchCase('search-bad-control', type, [[name, values[pick % values.length] as string]], strict, viaPost, outcome4xx([400])));

const badFormat: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.constantFrom(...SEARCH_TYPES), fc.oneof(fc.constantFrom('xml', 'application/fhir+xml', 'text/html', 'ttl', "json' OR 1=1").map((f) => ({ q: `?_format=${encodeURIComponent(f)}`, accept: undefined })), fc.constantFrom('application/xml', 'application/fhir+xml', 'text/html', 'image/png').map((a) => ({ q: '', accept: a }))))
  .map(([type, { q, accept }]) => ({ family: 'bad-format', method: 'GET', path: `/fhir/${type}${q}`, headers: (accept ? { accept } : {}) as Record<string, string>, expect: outcome4xx([415]) }));

const BAD_HISTORY: [string, string][] = [['_count', '0'], ['_count', '-1'], ['_count', '1001'], ['_count', 'abc'], ['_count', '1e9'], ['_since', 'garbage'], ['_since', "' OR 1=1--"], ['_cursor', 'abc'], ['_cursor', '1e400'], ['_cursor', '1.5']];

const historyWithBadParams: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.constantFrom('/fhir/_history', '/fhir/Patient/_history', '/fhir/Observation/_history'), fc.constantFrom(...BAD_HISTORY))
  .map(([path, pair]) => ({ family: 'history-bad-params', method: 'GET', path: `${path}?${queryString([pair])}`, headers: {}, expect: outcome4xx([400]) }));

// --- hostile bodies: forbidden keys, deep nesting, oversized ---------------------------------

/** Inserts `"key":value,` right after the n-th `{` outside strings of JSON text. */
function insertKey(json: string, n: number, key: string, value: string): string {
  const opens: number[] = [];
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === '\\') {
        i++;
      } else if (c === '"') {
        inString = false;
      }
    } else if (c === '"') {
      inString = true;
    } else if (c === '{') {
      opens.push(i);
    }
  }
  const at = (opens[n % opens.length] as number) + 1;
  const closesRight = json[at] === '}';
  return `${json.slice(0, at)}${JSON.stringify(key)}:${value}${closesRight ? '' : ','}${json.slice(at)}`;
}

const forbiddenKeys: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    validResourceArb,
    fc.constantFrom('__proto__', 'constructor', 'prototype'),
    fc.constantFrom('{}', '{"polluted":true}', 'null', '1', '"x"', '[]', '{"__proto__":{"isAdmin":true}}'),
    fc.nat(),
    fc.constantFrom('resource', 'transaction', 'batch', 'validate'),
  )
  .chain(([resource, key, value, n, where]) => {
    const type = resource.resourceType as string;
    const json =
      where === 'resource' || where === 'validate'
        ? JSON.stringify(resource)
        : bundleText(where, [{ fullUrl: 'urn:uuid:3f0c1c5e-6a0e-4d5e-9a41-2a3d4b5c6d7e', resource, request: { method: 'POST', url: type } }]);
    const body = text(insertKey(json, n, key, value));
    const target = where === 'resource' ? writeTarget(type) : fc.constant({ method: 'POST' as const, path: where === 'validate' ? `/fhir/${type}/$validate` : '/fhir' });
    return target.map((t) => ({ family: 'forbidden-key', ...t, headers: { 'content-type': FHIR_JSON }, body, expect: outcome4xx([400]) }));
  });

const deepNesting: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    fc.oneof(fc.constant(10_000), fc.integer({ min: 65, max: 200 }), fc.integer({ min: 200, max: 50_000 })),
    fc.constantFrom(['{"a":', '1', '}'], ['[', '1', ']'], ['{"extension":[', '{}', ']}'], ['{"a":[', '0', ']}']),
    fc.boolean(),
    fc.constantFrom('resource', 'transaction', 'search'),
  )
  .map(([depth, [open, middle, close], unclosed, where]) => {
    const prefix = `{"resourceType":"${where === 'transaction' ? 'Bundle' : 'Patient'}","name":[{"family":"${FAMILY}","given":["${GIVEN}"]}],"${where === 'transaction' ? 'entry' : 'extension'}":[`;
    const body: BodySpec = { kind: 'deep', prefix, open: open as string, middle: middle as string, close: unclosed ? '' : (close as string), depth, suffix: ']}' };
    const path = where === 'transaction' ? '/fhir' : where === 'search' ? '/fhir/Patient/_search' : '/fhir/Patient';
    return { family: 'deep-nesting', method: 'POST', path, headers: { 'content-type': FHIR_JSON }, body, expect: outcome4xx([400]) };
  });

const oversized: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.integer({ min: 5 * 1024 * 1024 + 1, max: 7 * 1024 * 1024 }), fc.boolean(), fc.constantFrom('/fhir/Patient', '/fhir', '/fhir/Patient/abc', '/fhir/Patient/$validate'))
  .map(([bytes, chunked, path]) => ({
    family: 'oversized',
    method: path === '/fhir/Patient/abc' ? 'PUT' : 'POST',
    path,
    headers: { 'content-type': FHIR_JSON },
    body: { kind: 'oversized', bytes, chunked },
    expect: outcome4xx([413]),
  }));

// --- writes with bad headers -------------------------------------------------------------------

const IF_MATCH_GARBAGE = ['garbage', '*', 'W/"abc"', '"1', 'W/1', 'W/"-1"', 'W/"99999999999"', 'W/"1", W/"2"', "W/\"1' OR 1=1--\"", 'W/""', '""', 'w/"1"', 'W/"1.0"', 'W/ "1"'];

const ifMatchGarbage: fc.Arbitrary<FuzzCase> = fc
  .tuple(validResourceArb, idArb, fc.oneof(fc.constantFrom(...IF_MATCH_GARBAGE), headerString.filter((s) => !/^(W\/)?"[0-9]{1,9}"$/.test(s))))
  .map(([resource, id, ifMatch]) => ({
    family: 'if-match-garbage',
    method: 'PUT',
    path: `/fhir/${resource.resourceType as string}/${id}`,
    headers: { 'content-type': FHIR_JSON, 'if-match': ifMatch },
    body: text({ ...resource, id }),
    expect: outcome4xx([400, 412]),
  }));

const invalidResourceWrite: fc.Arbitrary<FuzzCase> = invalidResourceArb.chain((resource) =>
  fc.tuple(writeTarget(resource.resourceType as string), noiseHeaders).map(([target, noise]) => {
    // PUT bodies carry the URL's id, unless the resource's own (invalid) id is the point.
    const body = target.method === 'PUT' && resource.id === undefined ? { ...resource, id: target.path.split('/')[3] } : resource;
    return { family: 'invalid-resource', ...target, headers: { ...noise, 'content-type': FHIR_JSON }, body: text(body), expect: outcome4xx([400, 422]) };
  }),
);

// Conditional writes whose condition is itself invalid (these are refused today; If-None-Exist
// with only unknown parameters is not, see the report).
const badCondition: fc.Arbitrary<FuzzCase> = fc.oneof(
  fc.tuple(validPatientArb, fc.constantFrom('birthdate=xx2026', 'birthdate=ge2026-13-45', '_sort=bogus', '_sort=gender&name=x', 'name=x&_sort=-bogus')).map(([resource, query]) => ({
    family: 'bad-condition',
    method: 'POST' as const,
    path: '/fhir/Patient',
    headers: { 'content-type': FHIR_JSON, 'if-none-exist': query },
    body: text(resource),
    expect: outcome4xx([400]),
  })),
  fc
    .tuple(validPatientArb, fc.constantFrom('birthdate=xx2026', 'birthdate=ge2026-13-45', '_sort=bogus&name=x', '_sort=gender&name=x', 'general-practitioner:Bogus.name=x', 'bogus=1&name=x', "%27%20OR%201%3D1--=x", 'name=x&%3Cscript%3E=1'))
    .map(([resource, query]) => ({ family: 'bad-condition', method: 'PUT' as const, path: `/fhir/Patient?${query}`, headers: { 'content-type': FHIR_JSON }, body: text(resource), expect: outcome4xx([400]) })),
);

// --- transaction and batch Bundles -----------------------------------------------------------

const uuidArb = fc.uuid();

/** Entries that are fine on their own. */
const goodEntry = fc.tuple(validResourceArb, uuidArb, idArb, fc.boolean()).map(([resource, uuid, id, put]) => {
  const type = resource.resourceType as string;
  return put ? { fullUrl: `${type}/${id}`, resource: { ...resource, id }, request: { method: 'PUT', url: `${type}/${id}` } } : { fullUrl: `urn:uuid:${uuid}`, resource, request: { method: 'POST', url: type } };
});

/** Entries that must make a transaction fail (and a batch entry answer 4xx). */
const badEntry: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  validResourceArb.map((resource) => ({ resource })),
  fc.tuple(validResourceArb, fc.constantFrom<unknown>('PATCH', 'HEAD', 'post', '', 'DELETE ', 'OPTIONS', 5, null, ['POST'])).map(([resource, method]) => ({ resource, request: { method, url: resource.resourceType } })),
  fc
    .tuple(validResourceArb, fc.constantFrom<unknown>(undefined, '', 'Patient/../../x', '../Patient', 'Patient/a/b', 'patient', 'Bogus', '%2e%2e', "Patient'; DROP TABLE resources;--", '/', '?', 'http://evil.example/fhir/Bogus', 'Patient/a%2Fb/c'))
    .map(([resource, url]) => ({ resource, request: { method: 'POST', ...(url !== undefined ? { url } : {}) } })),
  fc.tuple(validPatientArb, uuidArb).map(([resource, uuid]) => ({ fullUrl: `urn:uuid:${uuid}a`, resource: { ...resource, managingOrganization: { reference: `urn:uuid:${uuid}` } }, request: { method: 'POST', url: 'Patient' } })),
  invalidResourceArb.map((resource) => ({ resource, request: { method: 'POST', url: resource.resourceType } })),
  fc.tuple(validPatientArb, fc.constantFrom('Observation', 'Task', 'CarePlan')).map(([resource, url]) => ({ resource, request: { method: 'POST', url } })),
  fc.tuple(validPatientArb, idArb, idArb).filter(([, a, b]) => a !== b).map(([resource, a, b]) => ({ resource: { ...resource, id: b }, request: { method: 'PUT', url: `Patient/${a}` } })),
  fc.tuple(validPatientArb, fc.constantFrom('%27', "'", 'a'.repeat(65), '%00', 'a b', '<x>')).map(([resource, id]) => ({ resource: { ...resource, id }, request: { method: 'PUT', url: `Patient/${id}` } })),
  idArb.map((id) => ({ request: { method: 'DELETE', url: `Patient/nothere-${id}` } })),
  fc.tuple(validPatientArb, fc.constantFrom('Organization?identifier=http://none|1', 'Organization?name=nobody-at-all', 'Practitioner?_id=nothere')).map(([resource, reference]) => ({ resource: { ...resource, managingOrganization: { reference } }, request: { method: 'POST', url: 'Patient' } })),
  fc.tuple(validPatientArb, idArb, fc.constantFrom(...IF_MATCH_GARBAGE)).map(([resource, id, ifMatch]) => ({ resource: { ...resource, id }, request: { method: 'PUT', url: `Patient/${id}`, ifMatch } })),
  fc.constantFrom('Patient?_count=abc', 'Patient?_sort=gender', 'Patient?birthdate=xx', 'Observation?date=ge2026-13-45', 'Patient?_include=*', 'Bogus?x=1').map((url) => ({ request: { method: 'GET', url } })),
  fc.tuple(validPatientArb, fc.constantFrom('birthdate=xx', '_sort=gender&name=x')).map(([resource, ifNoneExist]) => ({ resource, request: { method: 'POST', url: 'Patient', ifNoneExist } })),
);

const badTransaction: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.array(goodEntry, { maxLength: 3 }), fc.array(badEntry, { minLength: 1, maxLength: 2 }), fc.nat(), fc.boolean())
  .map(([good, bad, at, duplicateFullUrl]) => {
    const entries: Record<string, unknown>[] = [...good];
    bad.forEach((e, i) => entries.splice((at + i) % (entries.length + 1), 0, e));
    const first = good[0];
    if (duplicateFullUrl && first) {
      entries.push({ ...structuredClone(first), request: { method: 'POST', url: first.resource.resourceType } });
    }
    return { family: 'bad-transaction', method: 'POST', path: '/fhir', headers: { 'content-type': FHIR_JSON }, body: text(bundleText('transaction', entries)), expect: outcome4xx() };
  });

const badBundleShape: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    fc.array(goodEntry, { minLength: 1, maxLength: 2 }),
    fc.constantFrom<[string, unknown]>(['type', undefined], ['type', 'document'], ['type', 'collection'], ['type', 'searchset'], ['type', 'transaction-response'], ['type', 'Transaction'], ['type', 5], ['resourceType', 'Bundl'], ['resourceType', 'Parameters'], ['resourceType', undefined]),
  )
  .map(([entries, [field, value]]) => {
    const bundle: Record<string, unknown> = { resourceType: 'Bundle', type: 'transaction', entry: entries };
    if (value === undefined) {
      delete bundle[field];
    } else {
      bundle[field] = value;
    }
    return { family: 'bad-bundle-shape', method: 'POST', path: '/fhir', headers: { 'content-type': FHIR_JSON }, body: text(bundle), expect: outcome4xx([400]) };
  });

const tooManyEntries: fc.Arbitrary<FuzzCase> = fc.tuple(fc.integer({ min: 1001, max: 1100 }), fc.constantFrom('transaction', 'batch')).map(([n, type]) => ({
  family: 'too-many-entries',
  method: 'POST',
  path: '/fhir',
  headers: { 'content-type': FHIR_JSON },
  body: text(bundleText(type, Array.from({ length: n }, () => ({ resource: VALID.patientMinimal, request: { method: 'POST', url: 'Patient' } })))),
  expect: outcome4xx([400]),
}));

/** Batch entries that fail on their own (batch entries are independent: no urn:uuid or duplicate checks). */
const badBatchEntry = badEntry.filter((e) => {
  const resource = e.resource as { managingOrganization?: { reference?: string } } | undefined;
  return !resource?.managingOrganization;
});

const badBatch: fc.Arbitrary<FuzzCase> = fc.array(badBatchEntry, { minLength: 1, maxLength: 4 }).map((entries) => ({
  family: 'bad-batch',
  method: 'POST',
  path: '/fhir',
  headers: { 'content-type': FHIR_JSON },
  body: text(bundleText('batch', entries)),
  expect: { kind: 'batchAllFailed', entries: entries.length },
}));

const badValidate: fc.Arbitrary<FuzzCase> = fc.oneof(
  invalidResourceArb.map((resource) => ({ family: 'validate-invalid', method: 'POST' as const, path: `/fhir/${resource.resourceType as string}/$validate`, headers: { 'content-type': FHIR_JSON }, body: text(resource), expect: { kind: 'validateOutcome' as const } })),
  fc.tuple(validPatientArb, fc.constantFrom('Observation', 'Task')).map(([resource, type]) => ({ family: 'validate-mismatch', method: 'POST' as const, path: `/fhir/${type}/$validate`, headers: { 'content-type': FHIR_JSON }, body: text(resource), expect: outcome4xx([400]) })),
);

const fuzzCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 14, arbitrary: malformedJson },
  { weight: 6, arbitrary: wrongContentType },
  { weight: 1, arbitrary: formInsteadOfJson },
  { weight: 5, arbitrary: resourceTypeMismatch },
  { weight: 4, arbitrary: idMismatch },
  { weight: 4, arbitrary: unknownType },
  { weight: 6, arbitrary: junkPath },
  { weight: 2, arbitrary: methodNotAllowed },
  { weight: 12, arbitrary: searchWithHostileValues },
  { weight: 7, arbitrary: searchWithInvalidDateOrNumber },
  { weight: 10, arbitrary: searchWithUnknownNames },
  { weight: 7, arbitrary: searchWithBadControls },
  { weight: 2, arbitrary: badFormat },
  { weight: 2, arbitrary: historyWithBadParams },
  { weight: 6, arbitrary: forbiddenKeys },
  { weight: 3, arbitrary: deepNesting },
  { weight: 1, arbitrary: oversized },
  { weight: 4, arbitrary: ifMatchGarbage },
  { weight: 6, arbitrary: invalidResourceWrite },
  { weight: 2, arbitrary: badCondition },
  { weight: 10, arbitrary: badTransaction },
  { weight: 2, arbitrary: badBundleShape },
  { weight: 1, arbitrary: tooManyEntries },
  { weight: 5, arbitrary: badBatch },
  { weight: 2, arbitrary: badValidate },
);

// ---------------------------------------------------------------------------------------------
// Sending and checking

interface Answer {
  status: number;
  contentType: string;
  text: string;
  ms: number;
}

function oversizedPatient(bytes: number): string {
  return `{"resourceType":"Patient","name":[{"family":"${FAMILY}","given":["${GIVEN}"]}],"text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">${'x'.repeat(bytes)}</div>"}}`;
}

function bodyOf(spec: BodySpec): { body: Uint8Array | ReadableStream<Uint8Array>; stream: boolean } {
  switch (spec.kind) {
    case 'text':
      return { body: Buffer.from(spec.text, 'utf8'), stream: false };
    case 'hex':
      return { body: Buffer.from(spec.hex, 'hex'), stream: false };
    case 'deep':
      return { body: Buffer.from(spec.prefix + spec.open.repeat(spec.depth) + spec.middle + spec.close.repeat(spec.depth) + spec.suffix, 'utf8'), stream: false };
    case 'oversized': {
      const all = Buffer.from(oversizedPatient(spec.bytes), 'utf8');
      if (!spec.chunked) {
        return { body: all, stream: false };
      }
      let offset = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= all.length) {
            controller.close();
            return;
          }
          controller.enqueue(all.subarray(offset, offset + 256 * 1024));
          offset += 256 * 1024;
        },
      });
      return { body: stream, stream: true };
    }
  }
}

/** The test admin's bearer token: the bad requests come from a client allowed everything. */
let authorization = '';

async function send(base: string, c: FuzzCase): Promise<Answer> {
  const started = performance.now();
  const init: RequestInit & { duplex?: 'half' } = { method: c.method, headers: { authorization, ...c.headers }, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (c.body) {
    const { body, stream } = bodyOf(c.body);
    init.body = body as RequestInit['body'];
    if (stream) {
      init.duplex = 'half';
    }
  }
  const response = await fetch(`${base}${c.path}`, init);
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text, ms: performance.now() - started };
}

function isOutcome(value: unknown): boolean {
  const o = value as { resourceType?: unknown; issue?: { severity?: unknown; code?: unknown }[] } | undefined;
  return o?.resourceType === 'OperationOutcome' && Array.isArray(o.issue) && o.issue.length > 0 && o.issue.every((i) => typeof i.severity === 'string' && typeof i.code === 'string');
}

function hasErrorIssue(value: unknown): boolean {
  return ((value as { issue?: { severity?: string }[] }).issue ?? []).some((i) => i.severity === 'error' || i.severity === 'fatal');
}

/** What is wrong with an answer (empty: nothing). */
function problemsWith(c: FuzzCase, a: Answer): string[] {
  const problems: string[] = [];
  if (a.status >= 500) {
    problems.push(`answered ${a.status}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(a.text);
  } catch {
    problems.push('the body is not JSON');
    return problems;
  }
  if (!/^application\/(fhir\+)?json\b/.test(a.contentType)) {
    problems.push(`Content-Type is ${a.contentType}`);
  }
  const is4xx = a.status >= 400 && a.status < 500;
  const b = body as { resourceType?: string; type?: string; entry?: { search?: { mode?: string }; response?: { status?: string; outcome?: unknown } }[] };
  switch (c.expect.kind) {
    case 'outcome':
      if (!is4xx) {
        problems.push(`expected a 4xx, got ${a.status}`);
      } else if (c.expect.statuses && !c.expect.statuses.includes(a.status)) {
        problems.push(`expected ${c.expect.statuses.join(' or ')}, got ${a.status}`);
      }
      if (!isOutcome(body) || !hasErrorIssue(body)) {
        problems.push('the body is not an OperationOutcome with an error issue');
      }
      break;
    case 'emptySearchset':
      if (a.status !== 200 || b.resourceType !== 'Bundle' || b.type !== 'searchset' || (b.entry ?? []).length !== 0) {
        problems.push('expected 200 and an empty searchset');
      }
      break;
    case 'noMatches':
      if (is4xx) {
        if (!isOutcome(body)) {
          problems.push('a 4xx without an OperationOutcome');
        }
      } else if (a.status !== 200 || b.resourceType !== 'Bundle' || b.type !== 'searchset' || (b.entry ?? []).some((e) => e.search?.mode !== 'outcome')) {
        problems.push('expected 200 and a searchset without matches (or a 4xx OperationOutcome)');
      }
      break;
    case 'batchAllFailed': {
      const entries = b.entry ?? [];
      if (a.status !== 200 || b.resourceType !== 'Bundle' || b.type !== 'batch-response' || entries.length !== c.expect.entries) {
        problems.push(`expected 200 and a batch-response of ${c.expect.entries} entries`);
      }
      entries.forEach((e, i) => {
        const status = Number.parseInt(e.response?.status ?? '', 10);
        if (!(status >= 400 && status < 500) || !isOutcome(e.response?.outcome)) {
          problems.push(`batch entry ${i} answered ${e.response?.status ?? '(no status)'} instead of a 4xx OperationOutcome`);
        }
      });
      break;
    }
    case 'validateOutcome':
      if ((a.status !== 200 && !is4xx) || !isOutcome(body) || !hasErrorIssue(body)) {
        problems.push('expected an OperationOutcome with an error issue, 200 or 4xx');
      }
      break;
  }
  return problems;
}

function describeCase(c: FuzzCase): string {
  const body = c.body === undefined ? '' : c.body.kind === 'text' ? c.body.text : c.body.kind === 'hex' ? `hex:${c.body.hex}` : JSON.stringify(c.body);
  return `${c.family}: ${c.method} ${c.path.slice(0, 300)}\n  headers ${JSON.stringify(c.headers).slice(0, 300)}\n  body ${body.slice(0, 600)}`;
}

// ---------------------------------------------------------------------------------------------

describe('fuzz: bad requests against a real server', () => {
  let dir: string;
  let store: SqliteStore;
  let running: RunningServer;
  let logger: Logger;
  let db: Database.Database;
  const logs: string[] = [];
  let sent = 0;
  const families = new Map<string, number>();

  /** Rows in every table a write touches (read through a separate read-only connection). */
  // Every request records an AuditEvent: that is the one write a bad request must cause.
  const writtenRows = (): number => {
    const tables = ['resources', 'resource_history', 'conditional_keys', 'idx_token', 'idx_string', 'idx_reference', 'idx_date', 'idx_number', 'idx_uri', 'resource_patients'];
    return tables.reduce((n, t) => n + Number((db.prepare(`SELECT COUNT(*) AS n FROM ${t} WHERE resource_type <> 'AuditEvent'`).get() as { n: number }).n), 0);
  };
  const auditEvents = (): number => Number((db.prepare("SELECT COUNT(*) AS n FROM resources WHERE resource_type = 'AuditEvent'").get() as { n: number }).n);

  beforeAll(async () => {
    loadDefinitions();
    dir = mkdtempSync(join(tmpdir(), 'carebridge-fuzz-'));
    const file = join(dir, 'carebridge.db');
    store = await SqliteStore.open(file);
    db = new Database(file, { readonly: true });
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    logger = createLogger({ level: 'debug', stream });
    const admin = await adminClient();
    // Thousands of requests from one client in seconds: bad input is under test here, not throttling.
    running = await initServer({ store, logger, auth: await testAuthService(store, [admin]), port: 0, host: '127.0.0.1', limits: { rateLimitPerMinute: 0 } });
    authorization = `Bearer ${await tokenFor(running, admin)}`;
  });

  afterAll(async () => {
    running.server.closeAllConnections();
    await running.close();
    db.close();
    await store.close();
    logger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the resources the cases start from are valid, and the invalid ones are not ($validate)', async () => {
    for (const resource of Object.values(VALID)) {
      const a = await send(running.url, { family: 'sanity', method: 'POST', path: `/fhir/${resource.resourceType as string}/$validate`, headers: { 'content-type': FHIR_JSON }, body: text(resource), expect: { kind: 'validateOutcome' } });
      expect({ resource, status: a.status, errors: hasErrorIssue(JSON.parse(a.text)) }).toEqual({ resource, status: 200, errors: false });
    }
    for (const resource of INVALID) {
      const a = await send(running.url, { family: 'sanity', method: 'POST', path: `/fhir/${resource.resourceType as string}/$validate`, headers: { 'content-type': FHIR_JSON }, body: text(resource), expect: { kind: 'validateOutcome' } });
      expect({ resource, errors: a.status >= 400 || hasErrorIssue(JSON.parse(a.text)) }).toEqual({ resource, errors: true });
    }
    expect(writtenRows()).toBe(0);
  });

  it(`answers ${NUM_RUNS} generated bad requests with a 4xx OperationOutcome (or an empty search), never a 5xx or a hang, and writes nothing`, async () => {
    try {
      await fc.assert(
        fc.asyncProperty(fuzzCase, async (c) => {
          const rowsBefore = writtenRows();
          const auditBefore = auditEvents();
          let answer: Answer;
          try {
            answer = await send(running.url, c);
          } catch (err) {
            throw new Error(`no answer (${(err as Error).name}: ${(err as Error).message}) to\n${describeCase(c)}`, { cause: err });
          }
          sent++;
          families.set(c.family, (families.get(c.family) ?? 0) + 1);
          const problems = problemsWith(c, answer);
          const rowsAfter = writtenRows();
          // Every request that reached the FHIR API left an AuditEvent (CORS preflights and paths
          // that resolve outside /fhir never did).
          if (auditEvents() === auditBefore && c.method !== 'OPTIONS' && !/%2e%2e/i.test(c.path)) {
            problems.push('it was not audited');
          }
          if (rowsAfter !== rowsBefore) {
            problems.push(`it wrote ${rowsAfter - rowsBefore} rows`);
          }
          if (problems.length > 0 && process.env.FUZZ_COLLECT) {
            COLLECTED.push(`${problems.join('; ')}\n${describeCase(c)}\n  → ${answer.status} ${answer.text.slice(0, 300)}`);
            return;
          }
          if (problems.length > 0) {
            throw new Error(`${problems.join('; ')}\n${describeCase(c)}\n  → ${answer.status} ${answer.text.slice(0, 500)}`);
          }
        }),
        { seed: SEED, numRuns: NUM_RUNS },
      );
    } catch (err) {
      throw new Error(`Fuzz failure; reproduce with FUZZ_SEED=${SEED}${process.env.FUZZ_RUNS ? ` FUZZ_RUNS=${NUM_RUNS}` : ''}\n${(err as Error).message}`, { cause: err });
    }
    if (process.env.FUZZ_COLLECT) {
      console.log(`FUZZ_SEED=${SEED}: ${COLLECTED.length} failing of ${sent}; per family ${JSON.stringify(Object.fromEntries(families))}\n\n${COLLECTED.join('\n\n')}`);
      expect(COLLECTED).toEqual([]);
    }
    // Every family was exercised (a silent generator bug would otherwise shrink the coverage).
    if (NUM_RUNS >= 1000) {
      expect([...families.keys()].sort()).toEqual(
        expect.arrayContaining(['bad-batch', 'bad-transaction', 'deep-nesting', 'forbidden-key', 'junk-path', 'malformed-json', 'oversized', 'resource-type-mismatch', 'search-hostile-value', 'search-unknown-name-strict', 'wrong-content-type']),
      );
    }
   }, 180_000); // ~35 s alone; a loaded machine (other suites on both cores) takes longer

  it('wrote nothing at all: no rows, an empty _history, and every type searches to 0', async () => {
    expect(writtenRows()).toBe(0);
    const notAudit = (versions: { resourceType: string }[]): unknown[] => versions.filter((v) => v.resourceType !== 'AuditEvent');
    expect(notAudit(await store.history(undefined, undefined, { count: 1000 }))).toEqual([]);
    for (const type of RESOURCE_TYPES.filter((t) => t !== 'AuditEvent')) {
      const bundle = (await (await fetch(`${running.url}/fhir/${type}?_summary=count`, { headers: { authorization }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })).json()) as { total?: number };
      expect({ type, total: bundle.total }).toEqual({ type, total: 0 });
    }
  });

  it('logged every request without any of the patient names sent, and no errors', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toBeGreaterThan(0);
    expect(logs.length).toBeGreaterThanOrEqual(sent);
    const leaks = logs.filter((line) => PHI.some((name) => line.toLowerCase().includes(name.toLowerCase())));
    expect(leaks).toEqual([]);
    const errors = logs.filter((line) => (JSON.parse(line) as { level?: string }).level === 'error');
    expect(errors).toEqual([]);
  });
});
