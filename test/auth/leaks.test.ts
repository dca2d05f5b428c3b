// What a caller may not see does not exist for it — also through the side doors peers have
// shipped leaks through: _id, _include/_revinclude, chains, _has, _history, conditional
// create/update matches, paging cursors, totals and error messages. Over HTTP, with real tokens.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { AuditEvent, Bundle, Resource, Task } from '@medplum/fhirtypes';
import type { ClientRole, Principal } from '../../src/auth/principal.ts';
import { parseScopes } from '../../src/auth/scopes.ts';
import type { AuthTestServer, Call } from './support/auth-server.ts';
import { startAuthTestServer } from './support/auth-server.ts';

const ORGS = 'urn:orgs';
const as = (role: ClientRole, value: string): Principal => ({ clientId: `${value}-client`, clientName: value, role, organization: { system: ORGS, value }, scopes: parseScopes('system/*.cruds').scopes });
const HOSPITAL_A = as('hospital', 'hospital-a');
const HOSPITAL_B = as('hospital', 'hospital-b');
const AGENCY_X = as('agency', 'agency-x');
const AGENCY_Y = as('agency', 'agency-y');
const MRN_A = 'urn:mrn:a|P-1';

const ids = (bundle: Resource | undefined): string[] => ((bundle as Bundle | undefined)?.entry ?? []).flatMap((e) => (e.resource?.id ? [`${e.resource.resourceType}/${e.resource.id}`] : []));

describe('no leaks through the side doors', () => {
  let server: AuthTestServer;
  let a: Call;
  let b: Call;
  let x: Call;
  const s: Record<string, string> = {};

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: [HOSPITAL_A, HOSPITAL_B, AGENCY_X, AGENCY_Y] });
    [a, b, x] = [server.as(HOSPITAL_A), server.as(HOSPITAL_B), server.as(AGENCY_X)];
    const org = (id: string, value: string) => ({ fullUrl: `urn:uuid:${id}`, resource: { resourceType: 'Organization', identifier: [{ system: ORGS, value }], name: value }, request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${ORGS}|${value}` } });
    const patient = 'urn:uuid:0b3a8f5e-0000-4000-8000-000000000001';
    const pushed = await a('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        org('0b3a8f5e-0000-4000-8000-0000000000a1', 'agency-x'),
        org('0b3a8f5e-0000-4000-8000-0000000000a2', 'agency-y'),
        { fullUrl: patient, resource: { resourceType: 'Patient', identifier: [{ system: 'urn:mrn:a', value: 'P-1' }] }, request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${MRN_A}` } },
        { resource: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: patient } }, request: { method: 'POST', url: 'CarePlan' } },
        { resource: { resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: patient }, owner: { reference: 'urn:uuid:0b3a8f5e-0000-4000-8000-0000000000a1' } }, request: { method: 'POST', url: 'Task' } },
        { resource: { resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: patient }, owner: { reference: 'urn:uuid:0b3a8f5e-0000-4000-8000-0000000000a2' } }, request: { method: 'POST', url: 'Task' } },
      ],
    });
    expect(pushed.status).toBe(200);
    // Locations are absolute (…/fhir/Type/id/_history/1): keep "Type/id".
    const locations = ((pushed.body as Bundle).entry ?? []).map((e) => (/([A-Z][A-Za-z]+\/[^/]+)\/_history/.exec(e.response?.location ?? '') as RegExpExecArray)[1] as string);
    ['orgX', 'orgY', 'patient', 'carePlan', 'taskX', 'taskY'].forEach((name, i) => (s[name] = locations[i] as string));
    s.patientB = `Patient/${((await b('POST', 'Patient', { resourceType: 'Patient', identifier: [{ system: 'urn:mrn:b', value: 'Q-1' }] })).body as Resource).id}`;
  });
  afterAll(async () => {
    await server.stop();
  });

  it('_id: another hospital\'s patient id finds nothing, and counts nothing', async () => {
    const found = await b('GET', `Patient?_id=${s.patient?.split('/')[1]}&_total=accurate`);
    expect(ids(found.body)).toEqual([]);
    expect((found.body as Bundle).total).toBe(0);
  });

  it('_revinclude and _include: an agency gets its own referral, never the other agency\'s', async () => {
    const found = await x('GET', `Patient?_revinclude=Task:patient&_include=Patient:organization`);
    expect(ids(found.body).sort()).toEqual([s.patient, s.taskX].sort());
    const tasks = await x('GET', 'Task?_include=Task:owner');
    expect(ids(tasks.body).sort()).toEqual([s.taskX, s.orgX].sort());
  });

  it('chained parameters do not reach into another tenant\'s data', async () => {
    expect(ids((await b('GET', `CarePlan?subject:Patient.identifier=${MRN_A}`)).body)).toEqual([]);
    expect(ids((await b('GET', `Task?patient.identifier=${MRN_A}`)).body)).toEqual([]);
    expect(ids((await a('GET', `CarePlan?subject:Patient.identifier=${MRN_A}`)).body)).toEqual([s.carePlan]);
  });

  it('_has is not an oracle: refused when strict, ignored (with a warning) otherwise', async () => {
    const strict = await b('GET', `Patient?_has:CarePlan:subject:status=active`, undefined, { prefer: 'handling=strict' });
    expect(strict.status).toBe(400);
    const lenient = await b('GET', `Patient?_has:CarePlan:subject:status=active`);
    expect(ids(lenient.body)).toEqual([s.patientB]);
    expect(lenient.text).not.toContain(s.patient?.split('/')[1]);
  });

  it('_history: instance, type and system history hold only what the caller may see', async () => {
    expect((await b('GET', `${s.patient}/_history`)).status).toBe(404);
    expect(ids((await b('GET', 'Patient/_history')).body)).toEqual([s.patientB]);
    const system = ids((await b('GET', '_history')).body);
    expect(system).toContain(s.patientB);
    expect(system).not.toContain(s.patient);
    expect(system).not.toContain(s.carePlan);
  });

  it('conditional create and update match only the caller\'s own resources', async () => {
    const created = await b('POST', 'Patient', { resourceType: 'Patient', identifier: [{ system: 'urn:mrn:a', value: 'P-1' }] }, { 'if-none-exist': `identifier=${MRN_A}` });
    expect(created.status).toBe(201);
    expect(`Patient/${(created.body as Resource).id}`).not.toBe(s.patient);
    const updated = await b('PUT', `Patient?identifier=${MRN_A}&_id=${s.patient?.split('/')[1]}`, { resourceType: 'Patient', active: false, identifier: [{ system: 'urn:mrn:a', value: 'P-1' }] });
    expect(updated.status).toBe(201);
    expect(`Patient/${(updated.body as Resource).id}`).not.toBe(s.patient);
    const original = await a('GET', s.patient as string);
    expect(original.body?.meta?.versionId).toBe('1');
  });

  it('a conditional update of directory data (readable by all) matches only what the caller wrote: another hospital cannot block it by taking the identifier first', async () => {
    const identifier = { system: 'urn:carebridge-test:location', value: 'clinic-7' };
    const query = `Location?identifier=${identifier.system}|${identifier.value}`;
    const location = (name: string): Resource => ({ resourceType: 'Location', status: 'active', name, identifier: [identifier] }) as Resource;
    const squatted = await b('PUT', query, location('B clinic'));
    expect(squatted.status).toBe(201);
    // Hospital A's own conditional update, alone and in a transaction: its own Location, not a 403 on B's.
    const own = await a('PUT', query, location('A clinic'));
    expect(own.status).toBe(201);
    expect((own.body as Resource).id).not.toBe((squatted.body as Resource).id);
    const again = await a('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: location('A clinic, 2nd floor'), request: { method: 'PUT', url: query } }] });
    expect(again.status).toBe(200);
    expect((again.body as Bundle).entry?.[0]?.response?.status).toBe('200');
    expect((again.body as Bundle).entry?.[0]?.response?.location).toContain(`Location/${(own.body as Resource).id}/_history/2`);
    // B's Location is untouched, and B's next conditional update still finds its own.
    const theirs = await b('PUT', query, location('B clinic, renamed'));
    expect(theirs.status).toBe(200);
    expect((theirs.body as Resource).id).toBe((squatted.body as Resource).id);
    const read = await a('GET', `Location/${(squatted.body as Resource).id}`);
    expect((read.body as { name?: string }).name).toBe('B clinic, renamed');
    // Both stay readable by everyone: a plain search finds the two.
    expect(ids((await a('GET', query)).body)).toHaveLength(2);
  });

  it('paging cursors: another tenant\'s cursor, or a forged one, pages only through the caller\'s data', async () => {
    const page = await a('GET', 'Organization?_count=1');
    const next = (page.body as Bundle).link?.find((l) => l.relation === 'next')?.url as string;
    const cursor = new URL(next).searchParams.get('_cursor') as string;
    const withA = await b('GET', `Patient?_count=5&_cursor=${encodeURIComponent(cursor)}`);
    expect(withA.status).toBe(200);
    expect(ids(withA.body).every((id) => id.startsWith('Patient/') && id !== s.patient)).toBe(true);
    const forged = Buffer.from(JSON.stringify({ v: null, o: 0 })).toString('base64url');
    const withForged = await b('GET', `Patient?_count=50&_cursor=${forged}`);
    expect(ids(withForged.body)).not.toContain(s.patient);
  });

  it('error messages: a hidden resource answers exactly as a missing one does', async () => {
    const missing = 'Patient/0b3a8f5e-dead-4000-8000-000000000000';
    for (const [method, body] of [['GET', undefined], ['PUT', { resourceType: 'Patient', active: true }], ['DELETE', undefined]] as const) {
      const hidden = await b(method, s.patient as string, body ? { ...body, id: s.patient?.split('/')[1] } : undefined);
      const absent = await b(method, missing, body ? { ...body, id: missing.split('/')[1] } : undefined);
      expect({ method, status: hidden.status }).toEqual({ method, status: 404 });
      expect({ method, status: absent.status }).toEqual({ method, status: 404 });
      expect(hidden.text).toEqual(absent.text);
    }
  });

  it('an agency\'s access ends when its referral goes to another agency', async () => {
    expect((await x('GET', s.patient as string)).status).toBe(200);
    const task = (await a('GET', s.taskX as string)).body as Task;
    expect((await a('PUT', s.taskX as string, { ...task, owner: { reference: s.orgY } })).status).toBe(200);
    expect((await x('GET', s.patient as string)).status).toBe(404);
    expect((await x('GET', s.carePlan as string)).status).toBe(404);
    expect((await server.as(AGENCY_Y)('GET', s.taskX as string)).status).toBe(200);
  });

  it('a Patient.link does not open another tenant\'s patient to its author', async () => {
    const linked = await b('POST', 'Patient', { resourceType: 'Patient', link: [{ other: { reference: s.patient }, type: 'seealso' }] });
    expect(linked.status).toBe(403);
    expect((await b('GET', s.patient as string)).status).toBe(404);
    const own = (await b('GET', s.patientB as string)).body as Resource;
    expect((await b('PUT', s.patientB as string, { ...own, link: [{ other: { reference: s.patient }, type: 'seealso' }] })).status).toBe(403);
    expect((await b('GET', s.patient as string)).status).toBe(404);
  });

  it('an absolute reference to this server\'s own base is checked as the relative one it is', async () => {
    const tag = `urn:test:absolute|${Date.now()}`;
    const [system, value] = tag.split('|') as [string, string];
    const observation = (subject: string) => ({ resourceType: 'Observation', status: 'final', identifier: [{ system, value }], code: { text: 'heart rate' }, subject: { reference: subject } });
    const refused = await b('POST', 'Observation', observation(`${server.url}/fhir/${s.patient}`));
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden' }] });
    const inTransaction = await b('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: observation(`${server.url}/fhir/${s.patient}`), request: { method: 'POST', url: 'Observation' } }] });
    expect(inTransaction.status).toBe(403);
    expect((await server.store.search(parseSearchRequest(`Observation?identifier=${tag}`))).resources).toEqual([]);
    // About its own patient: stored relative, so it is in that patient's compartment and found by subject.
    const own = await b('POST', 'Observation', observation(`${server.url}/fhir/${s.patientB}`));
    expect(own.status).toBe(201);
    expect(own.body).toMatchObject({ subject: { reference: s.patientB } });
    expect(ids((await b('GET', `Observation?subject=${s.patientB}&identifier=${tag}`)).body)).toEqual([`Observation/${(own.body as Resource).id}`]);
  });

  it('a deleted resource is not taken back by someone who is not its author', async () => {
    const observation = await a('POST', 'Observation', { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: s.patient } });
    const id = (observation.body as Resource).id as string;
    expect((await a('DELETE', `Observation/${id}`)).status).toBe(200);
    const agencyY = server.as(AGENCY_Y);
    const revived = await agencyY('PUT', `Observation/${id}`, { resourceType: 'Observation', id, status: 'final', code: { text: 'weight' }, subject: { reference: s.patient } });
    expect(revived.status).toBe(403);
    expect((await a('GET', `Observation/${id}`)).status).toBe(410);
  });

  it('a conditional update that matches nothing never takes the id the tenant chose (no probing for ids)', async () => {
    const taken = await b('PUT', 'Patient?identifier=urn:mrn:b|nobody', { resourceType: 'Patient', id: s.patient?.split('/')[1], identifier: [{ system: 'urn:mrn:b', value: 'nobody' }] });
    const free = await b('PUT', 'Patient?identifier=urn:mrn:b|nobody-2', { resourceType: 'Patient', id: '0b3a8f5e-feed-4000-8000-000000000000', identifier: [{ system: 'urn:mrn:b', value: 'nobody-2' }] });
    // Both are created under ids carebridge chose; neither answer says whether the chosen id exists.
    expect([taken.status, free.status]).toEqual([201, 201]);
    expect((taken.body as Resource).id).not.toBe(s.patient?.split('/')[1]);
    expect((free.body as Resource).id).not.toBe('0b3a8f5e-feed-4000-8000-000000000000');
  });

  it('a referral cannot step around its lifecycle by changing what it is (intent, code)', async () => {
    const referral = (await a('GET', s.taskY as string)).body as Task;
    const demoted = await a('PUT', s.taskY as string, { ...referral, intent: 'proposal' }, { 'if-match': `W/"${referral.meta?.versionId}"` });
    expect(demoted.status).toBe(422);
    const proposal = await a('POST', 'Task', { resourceType: 'Task', status: 'requested', intent: 'proposal', for: { reference: s.patient } });
    const created = proposal.body as Task;
    const promoted = await a('PUT', `Task/${created.id}`, { ...created, intent: 'order', code: referral.code, status: 'accepted' }, { 'if-match': `W/"${created.meta?.versionId}"` });
    expect(promoted.status).toBe(422);
  });

  it('an Organization\'s identifier (who acts for it) is not changed by a tenant', async () => {
    const org = (await a('GET', s.orgY as string)).body as Resource & { identifier?: unknown[] };
    const renamed = await a('PUT', s.orgY as string, { ...org, identifier: [{ system: ORGS, value: 'agency-x' }] });
    expect(renamed.status).toBe(403);
    expect((await a('PUT', s.orgY as string, { ...org, name: 'Agency Y (renamed)' })).status).toBe(200);
  });

  it('a request without a valid token is refused with 401 and audited', async () => {
    const before = (await server.store.search(parseSearchRequest('AuditEvent?_count=1000&_total=accurate'))).total ?? 0;
    const response = await fetch(`${server.url}/fhir/Patient`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(response.status).toBe(401);
    await response.text();
    const events = (await server.store.search(parseSearchRequest('AuditEvent?_count=1000&_total=accurate'))).resources as AuditEvent[];
    expect(events.length).toBe(before + 1);
    expect(events.some((e) => e.outcome === '4' && JSON.stringify(e).includes('401'))).toBe(true);
  });
});
