// GET /transitions/{id}/timeline and GET /fhir/CarePlan/{id}/$timeline on a fixed, moving clock:
// deadlines open, met by evidence the hospital records, overdue when the day passes, and what the
// sweep recorded; tenancy as for the transition itself.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Parameters } from '@medplum/fhirtypes';
import { withClockDefaults } from '../../../src/config/clock.ts';
import { SYSTEMS } from '../../../src/model/terminology.ts';
import { SweepJob } from '../../../src/sync/tcm-sweep-job.ts';
import type { Timeline } from '../../../src/api/transitions/timeline.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';
import { HOSPITAL, OTHER_HOSPITAL, PARTIES, party } from './support.ts';

/** The care coordinator's organization on the plan's CareTeam, signed in with the case-management role. */
const COORDINATION = party('cchp', 'case-management', 'CCHP-MD-2210', 'https://payers.example/fhir/sid/payer-id');

describe('the transition timeline', () => {
  let server: AuthTestServer;
  let nowMs = Date.parse('2026-12-01T12:00:00-05:00');
  const plan = readPlan('broadcast-three-agencies.json'); // discharged Mon 2026-11-30 16:20 EST, moderate
  let id: string;
  let patient: string;

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: [...PARTIES, COORDINATION], tcmClock: withClockDefaults({ timeZone: 'America/New_York' }), now: () => nowMs });
    const pushed = await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' });
    id = (pushed.body as { id: string }).id;
    const carePlan = await server.as(HOSPITAL)('GET', `CarePlan/${id}`);
    patient = (carePlan.body as { subject: { reference: string } }).subject.reference;
  });
  afterAll(() => server.stop());

  const timeline = async (who = HOSPITAL): Promise<{ status: number; body: Timeline }> => {
    const answer = await server.http(who)('GET', `/transitions/${id}/timeline`);
    return { status: answer.status, body: answer.body as Timeline };
  };
  const states = (t: Timeline): Record<string, string> => Object.fromEntries(t.deadlines.map((d) => [d.kind, d.state]));

  it('lists the four deadlines, all open the day after the discharge', async () => {
    const { status, body } = await timeline();
    expect(status).toBe(200);
    expect(body).toMatchObject({ id, carePlan: `CarePlan/${id}`, now: '2026-12-01T17:00:00.000Z', dischargedAt: '2026-11-30T16:20:00-05:00', readmission: null });
    expect(body.deadlines.map((d) => [d.kind, d.due, d.state])).toEqual([
      ['interactive-contact', '2026-12-02T23:59:59-05:00', 'open'],
      ['face-to-face-visit', '2026-12-14T23:59:59-05:00', 'open'],
      ['medication-reconciliation', '2026-12-14T23:59:59-05:00', 'open'],
      ['tcm-period-end', '2026-12-29T23:59:59-05:00', 'open'],
    ]);
  });

  it('shows the contact met by the Communication the coordinator recorded, with the evidence', async () => {
    const sent = await server.as(HOSPITAL)('POST', 'Communication', {
      resourceType: 'Communication',
      status: 'completed',
      subject: { reference: patient },
      sent: '2026-12-02T10:00:00-05:00',
      category: [{ coding: [{ system: SYSTEMS.tcmDeadline, code: 'interactive-contact' }] }],
      payload: [{ contentString: 'Called the daughter; medications picked up.' }],
    });
    expect(sent.status).toBe(201);
    nowMs = Date.parse('2026-12-02T12:00:00-05:00');
    const { body } = await timeline();
    expect(body.deadlines[0]).toMatchObject({ state: 'met', metAt: '2026-12-02T10:00:00-05:00', evidence: [{ resource: `Communication/${sent.body?.id}`, outcome: 'met' }] });
  });

  it('shows the visit and the reconciliation overdue once their day has passed, and what the sweep recorded', async () => {
    nowMs = Date.parse('2026-12-15T00:00:00-05:00');
    expect(states((await timeline()).body)).toEqual({ 'interactive-contact': 'met', 'face-to-face-visit': 'overdue', 'medication-reconciliation': 'overdue', 'tcm-period-end': 'open' });
    const job = new SweepJob({ store: server.store, now: () => nowMs });
    expect(await job.trigger()).toMatchObject({ outcome: 'swept', result: { met: 1, overdue: 2 } });
    const after = (await timeline()).body;
    expect(after.deadlines.map((d) => d.recorded)).toEqual([{ status: 'completed' }, { status: 'requested', businessStatus: 'overdue' }, { status: 'requested', businessStatus: 'overdue' }, { status: 'requested' }]);
  });

  it('answers the same clock as FHIR Parameters at /fhir/CarePlan/{id}/$timeline', async () => {
    const answer = await server.http(HOSPITAL)('GET', `/fhir/CarePlan/${id}/$timeline`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const parameters = answer.body as Parameters;
    const deadlines = (parameters.parameter ?? []).filter((p) => p.name === 'deadline');
    expect(deadlines.map((d) => [d.part?.find((p) => p.name === 'code')?.valueCoding?.code, d.part?.find((p) => p.name === 'state')?.valueCode])).toEqual([
      ['interactive-contact', 'met'],
      ['face-to-face-visit', 'overdue'],
      ['medication-reconciliation', 'overdue'],
      ['tcm-period-end', 'open'],
    ]);
  });

  it("is a 403 for a client that may not read Tasks (the care coordinator's organization as case management), not a clock without deadlines", async () => {
    expect((await server.http(COORDINATION)('GET', `/transitions/${id}`)).status).toBe(200);
    for (const path of [`/transitions/${id}/timeline`, `/fhir/CarePlan/${id}/$timeline`, '/transitions/no-such-transition/timeline']) {
      const answer = await server.http(COORDINATION)('GET', path);
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
      expect(JSON.stringify(answer.body)).toContain('deadline Tasks');
    }
  });

  it("is a 404 for a hospital that is not the transition's", async () => {
    expect((await timeline(OTHER_HOSPITAL)).status).toBe(404);
    expect((await server.http(OTHER_HOSPITAL)('GET', `/fhir/CarePlan/${id}/$timeline`)).status).toBe(404);
  });
});
