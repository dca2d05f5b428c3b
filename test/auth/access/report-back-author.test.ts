// An agency reports back in its own name only, over HTTP with real tokens: an Observation's
// performer and a Communication's sender that name an Organization (Organization/id, an
// identifier, a PractitionerRole's organization) must name the agency's own. Another agency of the
// same broadcast is refused with 403 and nothing is stored; people stay free to name.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, Communication, Observation, OperationOutcome, Reference, Resource } from '@medplum/fhirtypes';
import type { TransitionState } from '../../../src/api/transitions/state.ts';
import type { AuthTestServer } from '../support/auth-server.ts';
import { startAuthTestServer } from '../support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';
import { ADMIN, AGENCY_A, AGENCY_B, HOSPITAL, PARTIES, dumpSqlite, expectOnlyItsAuditEvent } from '../../api/transitions/support.ts';

const NPI = 'http://hl7.org/fhir/sid/us-npi';
const CHARM_CITY = AGENCY_A.organization.value;
const INNER_HARBOR = AGENCY_B.organization.value;

describe("an agency's report-back names its own organization", () => {
  let server: AuthTestServer;
  let transition: string;
  let patient: string;
  /** Organization ids of the two agencies (Charm City is A, Inner Harbor is B). */
  let charmCity: string;
  let innerHarbor: string;

  const organizationId = async (npi: string): Promise<string> => {
    const found = (await server.as(ADMIN)('GET', `Organization?identifier=${encodeURIComponent(`${NPI}|${npi}`)}`)).body as Bundle;
    expect(found.entry).toHaveLength(1);
    return found.entry?.[0]?.resource?.id as string;
  };

  const observation = (performer: NonNullable<Observation['performer']>): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }], text: 'Heart rate' },
    subject: { reference: patient },
    effectiveDateTime: '2026-12-01T11:30:00-05:00',
    performer,
    valueQuantity: { value: 70, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  });
  const communication = (sender: NonNullable<Communication['sender']>): Communication => ({
    resourceType: 'Communication',
    status: 'completed',
    subject: { reference: patient },
    sender,
    payload: [{ contentString: 'We declined, sorry' }],
  });

  const lastReportBack = async (): Promise<TransitionState['lastReportBack']> => ((await server.http(HOSPITAL)('GET', `/transitions/${transition}`)).body as TransitionState).lastReportBack;

  /** The write is refused with 403 forbidden, the store holds nothing new but the request's AuditEvent, the hospital sees no report-back. */
  const expectRefused = async (write: () => Promise<{ status: number; body: unknown }>, text: RegExp): Promise<void> => {
    const reportBack = await lastReportBack();
    const before = dumpSqlite(server.database);
    const answer = await write();
    expect(answer.status).toBe(403);
    const outcome = answer.body as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue?.[0]).toMatchObject({ severity: 'error', code: 'forbidden' });
    expect(outcome.issue?.[0]?.details?.text).toMatch(text);
    expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
    expect(await lastReportBack()).toEqual(reportBack);
  };

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: PARTIES });
    // Every party's token first: a token request writes its assertion's id, which no dump should see.
    for (const who of PARTIES) {
      expect((await server.http(who)('GET', '/transitions')).status).toBe(200);
    }
    const pushed = await server.http(HOSPITAL)('POST', '/transitions', readPlan('broadcast-three-agencies.json'), { 'content-type': 'application/json' });
    expect(pushed.status).toBe(201);
    transition = (pushed.body as { id: string }).id;
    patient = ((await server.as(HOSPITAL)('GET', `CarePlan/${transition}`)).body as { subject: Reference }).subject.reference as string;
    charmCity = await organizationId(CHARM_CITY);
    innerHarbor = await organizationId(INNER_HARBOR);
  });
  afterAll(() => server.stop());

  it("refuses an Observation whose performer is another agency's Organization: 403, nothing stored", async () => {
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', observation([{ reference: `Organization/${charmCity}` }])), /performer/);
    // Among other performers, too.
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', observation([{ reference: `Organization/${innerHarbor}` }, { reference: `Organization/${charmCity}` }])), /performer/);
  });

  it("refuses a performer that names another agency by identifier, typed or not, or an Organization nobody knows", async () => {
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', observation([{ identifier: { system: NPI, value: CHARM_CITY }, display: 'Charm City' }])), /performer/);
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', observation([{ type: 'Organization', identifier: { system: NPI, value: CHARM_CITY } }])), /performer/);
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', observation([{ type: 'Organization', identifier: { system: NPI, value: '1234567893' } }])), /performer/);
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', observation([{ reference: 'Organization/no-such-organization' }])), /performer/);
    // A contained Organization is held to the same: it carries the agency's identifier or none of another's.
    const contained = { ...observation([{ reference: '#org' }]), contained: [{ resourceType: 'Organization', id: 'org', identifier: [{ system: NPI, value: CHARM_CITY }], name: 'Charm City Home Health' }] } as Observation;
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', contained), /performer\[0\]/);
  });

  it("refuses a Communication whose sender is another agency, by reference or identifier: 403, nothing stored", async () => {
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Communication', communication({ reference: `Organization/${charmCity}` })), /sender/);
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Communication', communication({ identifier: { system: NPI, value: CHARM_CITY } })), /sender/);
  });

  it("refuses a PractitionerRole of another agency; one of its own agency is its own", async () => {
    const role = async (organization: string): Promise<string> => {
      const created = await server.as(ADMIN)('POST', 'PractitionerRole', { resourceType: 'PractitionerRole', active: true, organization: { reference: `Organization/${organization}` } });
      expect(created.status).toBe(201);
      return (created.body as Resource).id as string;
    };
    const theirs = await role(charmCity);
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', observation([{ reference: `PractitionerRole/${theirs}` }])), /performer/);
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Communication', communication({ reference: `PractitionerRole/${theirs}` })), /sender/);
    const mine = await role(innerHarbor);
    expect((await server.as(AGENCY_B)('POST', 'Observation', observation([{ reference: `PractitionerRole/${mine}` }]))).status).toBe(201);
    // Another agency's identifier behind a literal reference to someone else is judged on its own.
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', observation([{ reference: `PractitionerRole/${mine}`, identifier: { system: NPI, value: CHARM_CITY } }])), /performer/);
  });

  it("refuses another agency's identifier behind a literal reference to a person, and never shows such a report-back as that agency's", async () => {
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Observation', observation([{ reference: patient, identifier: { system: NPI, value: CHARM_CITY } }])), /performer/);
    await expectRefused(() => server.as(AGENCY_B)('POST', 'Communication', communication({ reference: patient, identifier: { system: NPI, value: CHARM_CITY } })), /sender/);
    // Written by the hospital (not held to the rule), it is still no report-back of Charm City:
    // a literal reference names what it names, whatever identifier rides along.
    const before = await lastReportBack();
    expect((await server.as(HOSPITAL)('POST', 'Observation', observation([{ reference: patient, identifier: { system: NPI, value: CHARM_CITY } }]))).status).toBe(201);
    expect((await lastReportBack())?.agency?.display).not.toBe('Charm City Home Health');
    expect((await lastReportBack())?.resource).toBe(before?.resource);
  });

  it("accepts an absolute reference to another server's Organization: nothing carebridge could check, nor count as a report-back", async () => {
    expect((await server.as(AGENCY_B)('POST', 'Observation', observation([{ reference: 'https://agency.example/fhir/Organization/abc' }]))).status).toBe(201);
  });

  it('refuses it in a transaction and in an update of its own Observation, too', async () => {
    const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:5f0c3a8e-1d2b-4c6e-9a7f-2b3c4d5e6f70', resource: observation([{ reference: `Organization/${charmCity}` }]), request: { method: 'POST', url: 'Observation' } }] };
    await expectRefused(() => server.as(AGENCY_B)('POST', '', bundle), /performer/);
    const own = await server.as(AGENCY_B)('POST', 'Observation', observation([{ reference: `Organization/${innerHarbor}` }]));
    expect(own.status).toBe(201);
    const stored = own.body as Observation;
    await expectRefused(() => server.as(AGENCY_B)('PUT', `Observation/${stored.id}`, { ...stored, performer: [{ reference: `Organization/${charmCity}` }] }), /performer/);
  });

  it('accepts its own Organization by reference or identifier, and people as performers and senders', async () => {
    const performers: NonNullable<Observation['performer']>[] = [
      [{ reference: `Organization/${innerHarbor}` }],
      [{ identifier: { system: NPI, value: INNER_HARBOR } }],
      [{ type: 'Organization', identifier: { system: NPI, value: INNER_HARBOR } }],
      [{ reference: patient }],
      [{ type: 'Practitioner', identifier: { system: NPI, value: '1003000126' }, display: 'a visiting nurse' }],
      [{ display: 'the visiting nurse' }],
    ];
    for (const performer of performers) {
      const answer = await server.as(AGENCY_B)('POST', 'Observation', observation(performer));
      expect({ performer, status: answer.status }).toEqual({ performer, status: 201 });
    }
    expect((await server.as(AGENCY_B)('POST', 'Communication', communication({ reference: `Organization/${innerHarbor}` }))).status).toBe(201);
    expect((await server.as(AGENCY_B)('POST', 'Communication', communication({ identifier: { system: NPI, value: INNER_HARBOR } }))).status).toBe(201);
    // Charm City writes in its own name: the rule is the same for every agency.
    expect((await server.as(AGENCY_A)('POST', 'Communication', communication({ reference: `Organization/${charmCity}` }))).status).toBe(201);
  });

  it('an admin is not held to it (it may record what an agency reported)', async () => {
    expect((await server.as(ADMIN)('POST', 'Observation', observation([{ reference: `Organization/${charmCity}` }]))).status).toBe(201);
  });
});
