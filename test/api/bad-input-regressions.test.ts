// The exact requests the bad-input fuzz test found answered wrongly (5xx, writes that got through,
// silent reinterpretations, a leak into the logs), each with the answer it must get now.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { request as httpRequest } from 'node:http';
import { fhirFetch, startSqliteServer } from './support/server.ts';
import type { TestServer } from './support/server.ts';

let server: TestServer;

beforeAll(async () => {
  // Info level: the request log lines are what the logs test reads.
  server = await startSqliteServer('info');
});

afterAll(async () => {
  await server.stop();
});

const patient = (family: string, mrn?: string): Patient => ({
  resourceType: 'Patient',
  name: [{ family }],
  ...(mrn ? { identifier: [{ system: 'urn:test:mrn', value: mrn }] } : {}),
});

async function raw(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${server.token}`, ...headers }, ...(body !== undefined ? { body } : {}) });
  return { status: response.status, text: await response.text() };
}

function isOutcome(text: string): boolean {
  return (JSON.parse(text) as OperationOutcome).resourceType === 'OperationOutcome';
}

async function countPatients(): Promise<number> {
  return ((await fhirFetch<Bundle>(server, 'Patient?_summary=count')).body.total as number) ?? 0;
}

describe('malformed requests answer 4xx OperationOutcomes, never 5xx', () => {
  it.each(['/fhir/Patient/%ZZ', '/fhir/%ZZ', '/fhir/Patient/%C0%AF', '/fhir/Patient/%FF', '/fhir/Patient/abc/_history/%ZZ'])('GET %s', async (path) => {
    const { status, text } = await raw('GET', path, {});
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(isOutcome(text)).toBe(true);
  });

  it.each(['gzip', 'br'])('a JSON body labelled Content-Encoding: %s', async (encoding) => {
    const { status, text } = await raw('POST', '/fhir/Patient', { 'content-type': 'application/fhir+json', 'content-encoding': encoding }, JSON.stringify(patient('Enc')));
    expect(status).toBe(400);
    expect(isOutcome(text)).toBe(true);
  });

  it.each([
    ['entry is a string', { resourceType: 'Bundle', type: 'transaction', entry: 'x' }],
    ['entry is an object', { resourceType: 'Bundle', type: 'transaction', entry: {} }],
    ['an entry is null', { resourceType: 'Bundle', type: 'transaction', entry: [null] }],
    ['request.url is a number', { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 5 }, resource: { resourceType: 'Patient' } }] }],
    ['fullUrl is an object', { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: {}, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } }] }],
    ['fullUrl is a number', { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 5, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } }] }],
  ])('a transaction whose %s', async (_label, bundle) => {
    const before = await countPatients();
    const { status, body } = await fhirFetch<OperationOutcome>(server, '', { method: 'POST', json: bundle });
    expect(status).toBe(400);
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue?.[0]?.details?.text).toMatch(/^Bundle\.entry(\[0\])?/);
    expect(await countPatients()).toBe(before);
  });

  it('a batch with a null entry answers that entry 400', async () => {
    const { status, body } = await fhirFetch<Bundle>(server, '', { method: 'POST', json: { resourceType: 'Bundle', type: 'batch', entry: [null] } });
    expect(status).toBe(200);
    expect(body.entry?.[0]?.response?.status).toBe('400');
  });

  it('headers too large get a 431 OperationOutcome, not an empty body', async () => {
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${server.fhir}/metadata`, { headers: { 'x-huge': 'a'.repeat(20_000) } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(431);
    expect(isOutcome(answer.text)).toBe(true);
  });
});

describe('conditions must say something carebridge understands', () => {
  it('refuses a conditional update whose query has only result parameters, and writes nothing', async () => {
    await fhirFetch(server, 'Patient', { method: 'POST', json: patient('Bystander', 'by-1') });
    const before = await countPatients();
    for (const query of ['_count=abc', '_summary=bogus', '_count=5']) {
      const { status } = await fhirFetch(server, `Patient?${query}`, { method: 'PUT', json: patient('Intruder') });
      expect(status).toBe(400);
    }
    expect(await countPatients()).toBe(before);
    const bystander = await fhirFetch<Bundle>(server, 'Patient?identifier=urn:test:mrn|by-1');
    expect((bystander.body.entry?.[0]?.resource as Patient).name?.[0]?.family).toBe('Bystander');
  });

  it.each(['bogus=1', '_count=abc', 'name:bogus=x'])('refuses If-None-Exist: %s instead of matching an unrelated patient', async (condition) => {
    const before = await countPatients();
    const { status } = await fhirFetch(server, 'Patient', { method: 'POST', json: patient('Cond'), headers: { 'if-none-exist': condition } });
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(await countPatients()).toBe(before);
  });

  it('refuses the same in a transaction entry, and an ifNoneExist that is not a string', async () => {
    for (const ifNoneExist of ['bogus=1', 5]) {
      const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:5b0e8a49-8a4b-4f4b-9a55-0d6f43ee1a01', resource: patient('TxCond'), request: { method: 'POST', url: 'Patient', ifNoneExist } }] };
      const { status } = await fhirFetch(server, '', { method: 'POST', json: bundle });
      expect(status).toBe(400);
    }
  });

  it('refuses a garbage If-Match on a conditional update even when nothing matches', async () => {
    const { status } = await fhirFetch(server, 'Patient?identifier=urn:test:mrn|nobody', { method: 'PUT', json: patient('Match'), headers: { 'if-match': 'garbage' } });
    expect(status).toBe(400);
  });
});

describe('search parameters are not silently reinterpreted', () => {
  beforeAll(async () => {
    await fhirFetch(server, 'Patient', { method: 'POST', json: { ...patient('Gendered'), gender: 'male' } });
  });

  it.each(['Patient?gender:bogus=male', 'Patient?name:bogus=x', 'Patient?identifier:bogus=x', "Patient?name:'%20OR%201=1=x", 'Patient?_offset=5', 'Patient?_type=x', 'Patient?_security=1', 'Patient?_source=1', 'Patient?__proto__=1', 'Patient?toString=1'])(
    '%s is refused with handling=strict and reported as ignored otherwise',
    async (query) => {
      const strict = await fhirFetch(server, query, { headers: { prefer: 'handling=strict' } });
      expect(strict.status).toBe(400);
      const lenient = await fhirFetch<Bundle>(server, query);
      expect(lenient.status).toBe(200);
      const outcome = lenient.body.entry?.find((e) => e.search?.mode === 'outcome')?.resource as OperationOutcome;
      expect(outcome.issue?.[0]?.details?.text).toMatch(/Unknown search parameter/);
    },
  );

  it('checks every _sort key, also when only counting', async () => {
    for (const query of ['Patient?_sort=_id,bogus', 'Patient?_sort=bogus&_count=0', 'Patient?_sort=bogus&_summary=count']) {
      expect((await fhirFetch(server, query)).status).toBe(400);
    }
  });

  it('bounds how many values one parameter, and the whole search, may name (the database refuses past ~1,000 alternatives)', async () => {
    const ids = (n: number, from = 0): string => Array.from({ length: n }, (_, i) => String(from + i)).join(',');
    // 1,000 alternatives fit in a 4 kB value: the SQL expression they made was too deep to prepare
    // (500, with SQLite's own message as the diagnostic).
    for (const query of [`Task?owner=${ids(1000)}`, `Patient?identifier=${ids(1000)}`, `Patient?_id=${ids(1000)}`]) {
      const { status, body } = await fhirFetch<OperationOutcome>(server, query);
      expect(status).toBe(400);
      expect(body.issue?.[0]?.details?.text).toMatch(/at most 500 values/);
    }
    // Under the limit each, over it together.
    const many = Array.from({ length: 5 }, (_, k) => `owner=${ids(450, k * 1000)}`).join('&');
    const together = await fhirFetch<OperationOutcome>(server, `Task?${many}`);
    expect(together.status).toBe(400);
    expect(together.body.issue?.[0]?.details?.text).toMatch(/more than 1000 values in all/);
    expect((await fhirFetch<Bundle>(server, `Task?owner=${ids(500)}&status=requested,accepted`)).status).toBe(200);
  });

  it('names the value, not the name, when a value is too long', async () => {
    const { status, body } = await fhirFetch<OperationOutcome>(server, `Patient?name=${'x'.repeat(5000)}`);
    expect(status).toBe(400);
    expect(body.issue?.[0]?.details?.text).toMatch(/The value of name is too long/);
  });
});

describe('writes that must not get through', () => {
  it.each([
    ['a urn:uuid reference outside a transaction', { ...patient('Urn'), managingOrganization: { reference: 'urn:uuid:0f1e2d3c-0000-4000-8000-000000000000' } }],
    ['a conditional reference outside a transaction', { ...patient('CondRef'), managingOrganization: { reference: 'Organization?identifier=http://none|1' } }],
    ['a narrative with a script', { ...patient('Script'), text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>' } }],
    ['a narrative with an event handler', { ...patient('Handler'), text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><img src="x" onerror="alert(1)"/></div>' } }],
  ])('refuses %s', async (_label, resource) => {
    const before = await countPatients();
    const { status } = await fhirFetch(server, 'Patient', { method: 'POST', json: resource });
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(await countPatients()).toBe(before);
  });

  it('refuses a conditional reference in a batch entry (only a transaction resolves it)', async () => {
    const before = await countPatients();
    const bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { ...patient('BatchRef'), managingOrganization: { reference: 'Organization?identifier=http://none|1' } }, request: { method: 'POST', url: 'Patient' } }] };
    const { body } = await fhirFetch<Bundle>(server, '', { method: 'POST', json: bundle });
    expect(body.entry?.[0]?.response?.status).toBe('400');
    expect(await countPatients()).toBe(before);
  });

  it('refuses a lone surrogate in a string', async () => {
    const { status } = await raw('POST', '/fhir/Patient', { 'content-type': 'application/fhir+json' }, '{"resourceType":"Patient","name":[{"family":"\\ud800"}]}');
    expect(status).toBe(400);
  });
});

describe('a Reference whose reference is not a string', () => {
  const at = 'generalPractitioner[0].reference';
  const withReference = (reference: unknown, id?: string): Record<string, unknown> => ({ ...patient('Refnonstring'), ...(id ? { id } : {}), generalPractitioner: [{ reference }] });
  const names = (outcome: OperationOutcome, expression: string): boolean => (outcome.issue ?? []).some((i) => i.severity === 'error' && i.expression?.[0] === expression);

  it.each([5, { a: 1 }, ['Practitioner/x'], true, null])('%j is refused on create, update, transaction and batch, and $validate names it', async (reference) => {
    const before = await countPatients();
    const create = await fhirFetch<OperationOutcome>(server, 'Patient', { method: 'POST', json: withReference(reference) });
    expect(create.status).toBe(422);
    expect(names(create.body, `Patient.${at}`)).toBe(true);
    const update = await fhirFetch<OperationOutcome>(server, 'Patient/refnonstring', { method: 'PUT', json: withReference(reference, 'refnonstring') });
    expect(update.status).toBe(422);
    expect(names(update.body, `Patient.${at}`)).toBe(true);
    const validate = await fhirFetch<OperationOutcome>(server, 'Patient/$validate', { method: 'POST', json: withReference(reference) });
    expect(validate.status).toBe(200);
    expect(names(validate.body, `Patient.${at}`)).toBe(true);
    const entry = { resource: withReference(reference), request: { method: 'POST', url: 'Patient' } };
    const transaction = await fhirFetch<OperationOutcome>(server, '', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: [entry] } });
    expect(transaction.status).toBe(422);
    expect(names(transaction.body, `Bundle.entry[0].resource.${at}`)).toBe(true);
    const batch = await fhirFetch<Bundle>(server, '', { method: 'POST', json: { resourceType: 'Bundle', type: 'batch', entry: [entry] } });
    expect(batch.status).toBe(200);
    expect(batch.body.entry?.[0]?.response?.status).toBe('422');
    expect(names(batch.body.entry?.[0]?.response?.outcome as OperationOutcome, `Patient.${at}`)).toBe(true);
    expect(await countPatients()).toBe(before);
    expect((await fhirFetch(server, 'Patient/refnonstring')).status).toBe(404);
  });
});

describe('invalid FHIR is refused (422) naming the element, and $validate says the same', () => {
  it.each([
    ['a bare number where a Reference belongs', { generalPractitioner: [5] }, 'Patient.generalPractitioner[0]'],
    ['a string where a HumanName belongs', { name: ['Refusedname'] }, 'Patient.name[0]'],
    ['a contained resource without resourceType', { contained: [{ id: 'a' }] }, 'Patient.contained[0].resourceType'],
    // Names on Object.prototype passed a plain-object lookup of types and properties.
    ...['constructor', 'hasOwnProperty', 'toString'].map((type) => [`a contained resource of type "${type}"`, { contained: [{ resourceType: type, id: 'a' }] }, 'Patient.contained[0].resourceType']),
    ['a property named toString (once a 500)', { toString: 'x' }, 'Patient.toString'],
    ['a HumanName property named valueOf (once a 500)', { name: [{ family: 'Invalidstored', valueOf: 'x' }] }, 'Patient.name[0].valueOf'],
    ['two values of one choice element', { deceasedBoolean: true, deceasedDateTime: '2020-01-01' }, 'Patient.deceasedDateTime'],
    ['an object where a date belongs', { birthDate: {} }, 'Patient.birthDate'],
    ['an object where a code belongs', { gender: {} }, 'Patient.gender'],
    ['an array in a list of strings', { name: [{ family: 'Invalidstored', given: [[]] }] }, 'Patient.name[0].given[0]'],
  ] as [string, Record<string, unknown>, string][])('%s', async (_label, extra, expression) => {
    const resource = { ...patient('Invalidstored'), ...extra };
    const before = await countPatients();
    const create = await fhirFetch<OperationOutcome>(server, 'Patient', { method: 'POST', json: resource });
    expect(create.status).toBe(422);
    expect(create.body.issue).toContainEqual(expect.objectContaining({ severity: 'error', expression: [expression] }));
    const validate = await fhirFetch<OperationOutcome>(server, 'Patient/$validate', { method: 'POST', json: resource });
    expect(validate.body.issue).toContainEqual(expect.objectContaining({ severity: 'error', expression: [expression] }));
    expect(await countPatients()).toBe(before);
  });
});

describe('a POST entry of a transaction or batch names only its resource type', () => {
  const post = (type: 'transaction' | 'batch', url: string): Record<string, unknown> => ({ resourceType: 'Bundle', type, entry: [{ resource: patient('Txurl'), request: { method: 'POST', url } }] });

  it.each(['http://evil.example/fhir/Patient', 'Patient/$validate', 'Patient/chosen-id', 'Patient?name=x', 'Patient/', 'urn:uuid:5b0e8a49-8a4b-4f4b-9a55-0d6f43ee1a01'])('refuses %s: 400 naming the entry, nothing written', async (url) => {
    const before = await countPatients();
    const transaction = await fhirFetch<OperationOutcome>(server, '', { method: 'POST', json: post('transaction', url) });
    expect(transaction.status).toBe(400);
    expect(transaction.body.issue?.[0]).toMatchObject({ severity: 'error', expression: ['Bundle.entry[0].request.url'] });
    const batch = await fhirFetch<Bundle>(server, '', { method: 'POST', json: post('batch', url) });
    expect(batch.body.entry?.[0]?.response?.status).toBe('400');
    expect((batch.body.entry?.[0]?.response?.outcome as OperationOutcome).issue?.[0]?.expression).toEqual(['Bundle.entry[0].request.url']);
    expect(await countPatients()).toBe(before);
  });

  it('accepts the type, also after this server\'s own base URL', async () => {
    for (const url of ['Patient', `${server.fhir}/Patient`]) {
      const { status, body } = await fhirFetch<Bundle>(server, '', { method: 'POST', json: post('transaction', url) });
      expect(status).toBe(200);
      expect(body.entry?.[0]?.response?.status).toBe('201');
    }
  });
});

describe('logs', () => {
  it('never carry what a URL path held (an id may be anything, a name too)', async () => {
    await fhirFetch(server, 'Patient/Zyxwvut%20Qwerty/_history/x', { method: 'DELETE' });
    await fhirFetch(server, 'Patient/Zyxwvut%20Qwerty');
    const lines = server.logs.join('\n');
    expect(lines).toMatch(/"message":"request"/);
    expect(lines).not.toMatch(/Zyxwvut/);
  });
});
