// The simulated EHR / agency FHIR peer and the webhook receiver, over real HTTP: what carebridge's
// outbound sync, EHR poller and writeback will do must work against them, and outages must be real.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { MedplumClient, parseSearchRequest } from '@medplum/core';
import type { Bundle, BundleEntry, CapabilityStatement, CarePlan, Communication, OperationOutcome, Patient, Resource, Task } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import type { SimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { RETRY_AFTER_SECONDS, startSimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import type { WebhookReceiver } from '../../src/sync/simulated/webhook-receiver.ts';
import { startWebhookReceiver } from '../../src/sync/simulated/webhook-receiver.ts';
import { readJson } from '../support/fixtures.ts';

const SYSTEM = 'https://riverside-regional.example/fhir/sid/transition-plan';
const MRN = 'https://riverside-regional.example/fhir/sid/mrn';
const FHIR_JSON = 'application/fhir+json';

let peer: SimulatedFhirPeer;

async function fhir(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Resource }> {
  const res = await fetch(`${peer.baseUrl}/${path}`, {
    method,
    headers: { accept: FHIR_JSON, ...(body === undefined ? {} : { 'content-type': FHIR_JSON }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Resource };
}

function carePlan(value: string, title: string): CarePlan {
  return { resourceType: 'CarePlan', status: 'active', intent: 'plan', title, identifier: [{ system: SYSTEM, value }], subject: { reference: 'Patient/example' } };
}

/** How many resources of a type the peer holds: "nothing new" means this does not move. */
async function count(type: string): Promise<number> {
  return (await peer.repo.searchResources(parseSearchRequest(type))).length;
}

/** A transaction of conditional PUTs: a Patient, and a CarePlan whose subject is the Patient entry's urn:uuid. */
function planTransaction(mrn: string, planId: string): Bundle {
  const patientUrn = `urn:uuid:${randomUUID()}`;
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: { ...carePlan(planId, 'Heart failure transition'), subject: { reference: patientUrn } },
        request: { method: 'PUT', url: `CarePlan?identifier=${encodeURIComponent(`${SYSTEM}|${planId}`)}` },
      },
      {
        fullUrl: patientUrn,
        resource: { resourceType: 'Patient', identifier: [{ system: MRN, value: mrn }], name: [{ family: 'Okafor' }] } satisfies Patient,
        request: { method: 'PUT', url: `Patient?identifier=${encodeURIComponent(`${MRN}|${mrn}`)}` },
      },
    ],
  };
}

beforeAll(async () => {
  peer = await startSimulatedFhirPeer({ name: 'Riverside Regional EHR' });
});

afterAll(async () => {
  await peer.close();
});

afterEach(() => {
  peer.setDown(false);
});

describe('simulated FHIR peer', () => {
  it('listens on 127.0.0.1 under /fhir and describes itself at GET /metadata', async () => {
    expect(peer.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir$/);
    const res = await fhir('GET', 'metadata');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain(FHIR_JSON);
    const statement = res.body as CapabilityStatement;
    expect(statement).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', kind: 'instance', software: { name: expect.stringContaining('Riverside Regional EHR') } });
    expect(statement.rest?.[0]?.interaction?.map((i) => i.code)).toEqual(expect.arrayContaining(['transaction', 'batch']));
    const taskInteractions = statement.rest?.[0]?.resource?.find((r) => r.type === 'Task')?.interaction?.map((i) => i.code);
    expect(taskInteractions).toEqual(expect.arrayContaining(['read', 'update', 'create', 'search-type']));
  });

  it('PUT CarePlan?identifier= creates when absent, updates when present, and the same content twice is one version', async () => {
    const planId = `TP-${randomUUID()}`;
    const url = `CarePlan?identifier=${encodeURIComponent(`${SYSTEM}|${planId}`)}`;
    const before = await count('CarePlan');

    const created = await fhir('PUT', url, carePlan(planId, 'first'));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.headers.get('location')).toBe(`${peer.baseUrl}/CarePlan/${id}/_history/${created.body.meta?.versionId}`);
    expect(created.headers.get('etag')).toBe(`W/"${created.body.meta?.versionId}"`);

    const again = await fhir('PUT', url, carePlan(planId, 'first'));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id, meta: { versionId: created.body.meta?.versionId } });

    const changed = await fhir('PUT', url, carePlan(planId, 'second'));
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id, title: 'second' });
    expect(changed.body.meta?.versionId).not.toBe(created.body.meta?.versionId);

    expect(await count('CarePlan')).toBe(before + 1);
    expect(await peer.repo.readResource('CarePlan', id)).toMatchObject({ title: 'second' });
  });

  it('concurrent PUTs with the same identifier create one resource', async () => {
    const planId = `TP-${randomUUID()}`;
    const url = `CarePlan?identifier=${encodeURIComponent(`${SYSTEM}|${planId}`)}`;
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => fhir('PUT', url, carePlan(planId, `push ${n}`))));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
  });

  it('a transaction of conditional PUTs rewrites urn:uuid references to the ids it assigned; sent again it creates nothing', async () => {
    const bundle = planTransaction(`MRN-${randomUUID()}`, `TP-${randomUUID()}`);
    const [plans, patients] = [await count('CarePlan'), await count('Patient')];

    const first = await fhir('POST', '', bundle);
    expect(first.status).toBe(200);
    const response = first.body as Bundle;
    expect(response.type).toBe('transaction-response');
    expect(response.entry?.map((e) => e.response?.status)).toEqual(['201', '201']);
    const [planEntry, patientEntry] = response.entry as BundleEntry[];
    const patientId = patientEntry?.resource?.id as string;
    expect(patientEntry?.response?.location).toBe(`Patient/${patientId}`);
    expect((planEntry?.resource as CarePlan).subject?.reference).toBe(`Patient/${patientId}`);
    const stored = await peer.repo.readResource<CarePlan>('CarePlan', planEntry?.resource?.id as string);
    expect(stored.subject?.reference).toBe(`Patient/${patientId}`);

    const second = await fhir('POST', '', bundle);
    const again = (second.body as Bundle).entry as BundleEntry[];
    expect(again.map((e) => e.response?.status)).toEqual(['200', '200']);
    expect(again.map((e) => `${e.resource?.resourceType}/${e.resource?.id}/${e.resource?.meta?.versionId}`)).toEqual(
      response.entry?.map((e) => `${e.resource?.resourceType}/${e.resource?.id}/${e.resource?.meta?.versionId}`),
    );
    expect([await count('CarePlan'), await count('Patient')]).toEqual([plans + 1, patients + 1]);
  });

  it('takes a whole 48-entry discharge transaction (past fhir-router\'s 8-entry cap), and again without duplicates', async () => {
    const bundle = readJson('golden/heart-failure-home-health.bundle.json') as Bundle;
    const types = [...new Set(bundle.entry?.map((e) => e.resource?.resourceType as string))];
    const first = await fhir('POST', '', bundle);
    expect(first.status).toBe(200);
    const entries = (first.body as Bundle).entry as BundleEntry[];
    expect(entries).toHaveLength(48);
    const counts = Object.fromEntries(await Promise.all(types.map(async (t) => [t, await count(t)])));
    // Everything stored points at ids the peer assigned, never at a urn:uuid placeholder.
    for (const entry of entries) {
      const stored = await peer.repo.readResource(entry.resource?.resourceType as string, entry.resource?.id as string);
      expect(JSON.stringify(stored)).not.toContain('urn:uuid:');
    }
    const plan = entries.find((e) => e.resource?.resourceType === 'CarePlan')?.resource as CarePlan;
    expect(await peer.repo.readReference(plan.subject)).toMatchObject({ resourceType: 'Patient' });

    const second = await fhir('POST', '', bundle);
    expect(((second.body as Bundle).entry as BundleEntry[]).every((e) => e.response?.status === '200')).toBe(true);
    expect(Object.fromEntries(await Promise.all(types.map(async (t) => [t, await count(t)])))).toEqual(counts);
  });

  it('a transaction that fails on its second entry leaves nothing of the first behind', async () => {
    const mrn = `MRN-${randomUUID()}`;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient', identifier: [{ system: MRN, value: mrn }] }, request: { method: 'PUT', url: `Patient?identifier=${MRN}|${mrn}` } },
        { resource: { resourceType: 'Observation', id: 'x', status: 'final', code: { text: 'weight' } }, request: { method: 'PUT', url: 'Patient/x' } },
      ],
    };
    const res = await fhir('POST', '', bundle);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(await peer.repo.searchResources(parseSearchRequest(`Patient?identifier=${MRN}|${mrn}`))).toEqual([]);
  });

  it('takes writeback: PUT Task/{id} with If-Match (a stale one gets 412) and POST Communication', async () => {
    const task = await peer.repo.createResource<Task>({ resourceType: 'Task', status: 'requested', intent: 'order' });
    const version = task.meta?.versionId as string;

    const accepted = await fhir('PUT', `Task/${task.id}`, { ...task, status: 'accepted' }, { 'if-match': `W/"${version}"` });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ id: task.id, status: 'accepted' });
    const stale = await fhir('PUT', `Task/${task.id}`, { ...task, status: 'rejected' }, { 'if-match': `W/"${version}"` });
    expect(stale.status).toBe(412);
    expect(await peer.repo.readResource<Task>('Task', task.id)).toMatchObject({ status: 'accepted' });

    const message: Communication = { resourceType: 'Communication', status: 'completed', about: [{ reference: `Task/${task.id}` }], payload: [{ contentString: 'Start of care on Monday' }] };
    const sent = await fhir('POST', 'Communication', message);
    expect(sent.status).toBe(201);
    expect(sent.headers.get('location')).toContain(`${peer.baseUrl}/Communication/${sent.body.id}/_history/`);
    expect(await peer.repo.readResource('Communication', sent.body.id as string)).toMatchObject({ payload: [{ contentString: 'Start of care on Monday' }] });
  });

  it('answers an unknown search parameter with 400, not an empty page', async () => {
    const res = await fhir('GET', 'Task?ownr=Organization/x');
    expect(res.status).toBe(400);
    expect((res.body as OperationOutcome).issue?.[0]?.details?.text).toContain('ownr');
  });
});

describe('EHR polling: Task?_lastUpdated=gt…&_count=N', () => {
  // A peer of its own, so the poll sees only the Tasks seeded here.
  let ehr: SimulatedFhirPeer;
  const since = '2020-01-01T00:00:00.000Z';
  const ids: string[] = [];

  beforeAll(async () => {
    ehr = await startSimulatedFhirPeer({ name: 'Polled EHR' });
    // Seeding keeps the given lastUpdated: two Tasks share a millisecond, one is older than `since`.
    const times = ['2019-12-31T23:59:59.000Z', '2020-01-01T00:00:01.000Z', '2020-01-01T00:00:02.000Z', '2020-01-01T00:00:02.000Z', '2020-01-01T00:00:03.000Z', '2020-01-01T00:00:04.000Z'];
    await ehr.repo.withSeeding(async () => {
      for (const [i, lastUpdated] of times.entries()) {
        const task = await ehr.repo.createResource<Task>({ resourceType: 'Task', id: `referral-${i}`, status: 'requested', intent: 'order', meta: { lastUpdated, versionId: '1' } });
        ids.push(task.id);
      }
    });
  });

  afterAll(async () => {
    await ehr.close();
  });

  async function pollAll(firstUrl: string, between?: () => Promise<void>): Promise<{ seen: string[]; pages: number; totals: number[] }> {
    const seen: string[] = [];
    const totals: number[] = [];
    let url: string | undefined = firstUrl;
    let pages = 0;
    while (url) {
      const res = await fetch(url, { headers: { accept: FHIR_JSON } });
      expect(res.status).toBe(200);
      const page = (await res.json()) as Bundle<Task>;
      totals.push(page.total as number);
      seen.push(...(page.entry ?? []).map((e) => e.resource?.id as string));
      url = page.link?.find((l) => l.relation === 'next')?.url;
      if (pages++ === 0 && between) {
        await between();
      }
    }
    return { seen, pages, totals };
  }

  it('pages in _lastUpdated order with next links until every match is seen once', async () => {
    const result = await pollAll(`${ehr.baseUrl}/Task?_lastUpdated=gt${since}&_count=2`);
    expect(result).toEqual({ seen: ids.slice(1), pages: 3, totals: [5, 5, 5] });
  });

  it('a Task updated between two pages is not lost: it comes again at the end', async () => {
    // After page 1 the first Task is answered: it moves behind every other match, and must not
    // push one of them out of page 2 (offset paging would skip referral-3 here).
    const result = await pollAll(`${ehr.baseUrl}/Task?_lastUpdated=gt${since}&_count=2`, async () => {
      const first = await ehr.repo.readResource<Task>('Task', ids[1] as string);
      await ehr.repo.updateResource({ ...first, status: 'accepted' });
    });
    expect(result.seen).toEqual([...ids.slice(1), ids[1]]);
  });

  it('MedplumClient follows the next links as any FHIR client would', async () => {
    const medplum = new MedplumClient({ baseUrl: ehr.baseUrl.replace(/fhir$/, ''), fhirUrlPath: 'fhir', fetch: (url, init) => fetch(url, init), cacheTime: 0 });
    const pages: string[][] = [];
    for await (const page of medplum.searchResourcePages('Task', { _count: 4, _sort: '-_lastUpdated' })) {
      pages.push(page.map((t) => t.id as string));
    }
    expect(pages.map((p) => p.length)).toEqual([4, 2]);
    expect(pages.flat().at(-1)).toBe(ids[0]);
  });
});

describe('outages and authentication', () => {
  it('unavailable: 503 with Retry-After, recorded with the event id it carried; back up when setDown(false)', async () => {
    peer.setDown('unavailable');
    const eventId = randomUUID();
    const res = await fhir('PUT', `CarePlan?identifier=${SYSTEM}|down`, carePlan('down', 'x'), { 'x-carebridge-event-id': eventId });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(peer.requests.at(-1)).toMatchObject({ method: 'PUT', url: expect.stringContaining('/fhir/CarePlan?identifier='), headers: { 'x-carebridge-event-id': eventId }, status: 503 });

    peer.setDown(false);
    expect((await fhir('PUT', `CarePlan?identifier=${SYSTEM}|down`, carePlan('down', 'x'))).status).toBe(201);
  });

  it('hang: the request is received and never answered', async () => {
    peer.setDown('hang');
    const before = peer.requests.length;
    const error = await fetch(`${peer.baseUrl}/Task`, { signal: AbortSignal.timeout(300) }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((error as Error)?.name).toBe('TimeoutError');
    expect(peer.requests.slice(before)).toEqual([expect.objectContaining({ method: 'GET', url: '/fhir/Task' })]);
    expect(peer.requests.at(-1)?.status).toBeUndefined();
  });

  it('reset: the connection is dropped without an answer', async () => {
    peer.setDown('reset');
    const error = await fetch(`${peer.baseUrl}/Task`).then(
      () => undefined,
      (err: unknown) => err,
    );
    // undici's TypeError comes from another realm than Jest's: match by name, and by the socket error under it.
    expect(error).toMatchObject({ name: 'TypeError', message: 'fetch failed', cause: { code: 'UND_ERR_SOCKET' } });
  });

  it('a peer that requires a token answers 401 without it, serves with it, and keeps /metadata open', async () => {
    const secured = await startSimulatedFhirPeer({ requireToken: 'agency-secret' });
    try {
      const without = await fetch(`${secured.baseUrl}/Task`);
      expect(without.status).toBe(401);
      expect(without.headers.get('www-authenticate')).toBe('Bearer');
      expect(((await without.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
      expect((await fetch(`${secured.baseUrl}/Task`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${secured.baseUrl}/Task`, { headers: { authorization: 'Bearer agency-secret' } })).status).toBe(200);
      const metadata = await fetch(`${secured.baseUrl}/metadata`);
      expect(metadata.status).toBe(200);
      expect(((await metadata.json()) as CapabilityStatement).rest?.[0]?.security?.service?.[0]?.coding?.[0]?.code).toBe('OAuth');
    } finally {
      await secured.close();
    }
  });

  it('refuses malformed JSON with 400 and a body over the limit with 413, as OperationOutcomes', async () => {
    const malformed = await fetch(`${peer.baseUrl}/Patient`, { method: 'POST', headers: { 'content-type': FHIR_JSON }, body: '{"resourceType":' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    const huge = JSON.stringify({ resourceType: 'Patient', name: [{ text: 'x'.repeat(6 * 1024 * 1024) }] });
    const tooLarge = await fetch(`${peer.baseUrl}/Patient`, { method: 'POST', headers: { 'content-type': FHIR_JSON }, body: huge });
    expect(tooLarge.status).toBe(413);
  });

  it('close() returns even while a request hangs', async () => {
    const other = await startSimulatedFhirPeer();
    other.setDown('hang');
    const pending = fetch(`${other.baseUrl}/Task`).catch((err: unknown) => err);
    while (other.requests.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await other.close();
    expect(await pending).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
  });
});

describe('webhook receiver', () => {
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver({ statuses: [500, 503] });
  });

  afterAll(async () => {
    await receiver.close();
  });

  it('records POSTed JSON with its headers and answers the configured statuses in order, then 200', async () => {
    const notification = { resourceType: 'Bundle', type: 'history', entry: [] };
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${receiver.url}/hooks/agency-a`, { method: 'POST', headers: { 'content-type': FHIR_JSON, 'x-carebridge-event-id': `evt-${i}` }, body: JSON.stringify(notification) });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([500, 503, 200]);
    expect(receiver.received.map((r) => [r.url, r.headers['x-carebridge-event-id'], r.status])).toEqual([
      ['/hooks/agency-a', 'evt-0', 500],
      ['/hooks/agency-a', 'evt-1', 503],
      ['/hooks/agency-a', 'evt-2', 200],
    ]);
    expect(receiver.received[0]?.body).toEqual(notification);
    expect(receiver.received[0]?.headers['content-type']).toBe(FHIR_JSON);
  });

  it('waitFor resolves when a notification arrives later; an empty rest-hook ping has no body', async () => {
    receiver.answerWith([202]);
    const already = receiver.received.length;
    const waiting = receiver.waitFor(already + 1, 2000);
    setTimeout(() => void fetch(receiver.url, { method: 'POST' }), 50);
    const received = await waiting;
    expect(received.at(-1)).toMatchObject({ method: 'POST', url: '/', body: undefined, rawBody: '', status: 202 });
    await expect(receiver.waitFor(already + 2, 100)).rejects.toThrow(`got ${already + 1} of ${already + 2}`);
  });
});
