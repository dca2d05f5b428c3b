// The behaviour every FhirStore adapter must have. sqlite-store.test.ts and
// postgres-store.int.test.ts run this same suite against their adapter.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { OperationOutcomeError, getStatus, parseSearchRequest } from '@medplum/core';
import type { Bundle, CarePlan, Patient, Resource, Task } from '@medplum/fhirtypes';
import { sequentialUuids } from '../../src/mapping/context.ts';
import { toFhir } from '../../src/mapping/to-fhir.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { RetryableConflict } from '../../src/store/sql/executor.ts';
import type { SqlStore } from '../../src/store/sql/sql-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { readPlan } from '../support/fixtures.ts';

export interface StoreFactory {
  open: () => Promise<FhirStore>;
  /** Removes what open() made (a file, a schema). */
  dispose: (store: FhirStore) => Promise<void>;
}

/** The text of the OperationOutcome a refused write throws. */
async function textOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue?.[0]?.details?.text;
    }
    throw err;
  }
}

async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return getStatus(err.outcome);
    }
    throw err;
  }
}

const patient = (mrn: string, family = 'Nguyen', birthDate = '1948-03-02'): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: mrn }],
  name: [{ family, given: ['Thi'] }],
  birthDate,
  gender: 'female',
});

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`${name} store`, () => {
    let store: FhirStore;

    beforeAll(async () => {
      loadDefinitions();
      store = await factory.open();
    });

    afterAll(async () => {
      await factory.dispose(store);
    });

    it('creates a resource with a server id, versionId 1 and lastUpdated, and reads it back', async () => {
      const { outcome, version } = await store.create(patient('mrn-1'));
      expect(outcome).toBe('created');
      expect(version.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(version.resource?.meta).toEqual({ versionId: '1', lastUpdated: version.lastUpdated });
      const read = await store.read('Patient', version.id);
      expect(read?.resource).toEqual(version.resource);
    });

    it('stores a resource with deferred index rows at once, and indexes it before any search of its type', async () => {
      const event = { resourceType: 'AuditEvent', type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' }, recorded: '2026-11-24T10:00:00Z', agent: [{ requestor: true, altId: 'deferred-client' }], source: { observer: { display: 'carebridge' } } } as unknown as Resource;
      const { version } = await store.transaction((tx) => tx.create(event, { deferIndex: true }));
      expect((await store.read('AuditEvent', version.id))?.resource).toMatchObject({ recorded: '2026-11-24T10:00:00Z' });
      // The search catches up first: nothing stored is ever missed.
      const found = await store.search(parseSearchRequest('AuditEvent?altid=deferred-client'));
      expect(found.resources.map((r) => r.id)).toEqual([version.id]);
      expect(await store.indexDeferred()).toBe(0);
      // And the background pass finds nothing left either; a second deferred one it indexes.
      const second = await store.transaction((tx) => tx.create({ ...event, recorded: '2026-11-24T11:00:00Z' } as Resource, { deferIndex: true }));
      expect(await store.indexDeferred()).toBe(1);
      expect((await store.search(parseSearchRequest('AuditEvent?altid=deferred-client&_count=10'))).resources.map((r) => r.id).sort()).toEqual([version.id, second.version.id].sort());
    });

    it('indexes a deferred resource updated before its rows were written by its newest version only', async () => {
      const event = { resourceType: 'AuditEvent', type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' }, recorded: '2026-11-24T12:00:00Z', agent: [{ requestor: true, altId: 'before-update' }], source: { observer: { display: 'carebridge' } } } as unknown as Resource;
      const { version } = await store.transaction((tx) => tx.create(event, { deferIndex: true }));
      // The update writes version 2 with its index rows; the backlog entry is still there.
      await store.transaction((tx) => tx.update({ ...event, id: version.id, agent: [{ requestor: true, altId: 'after-update' }] } as Resource));
      await store.indexDeferred();
      expect((await store.search(parseSearchRequest('AuditEvent?altid=after-update'))).resources.map((r) => r.id)).toEqual([version.id]);
      expect((await store.search(parseSearchRequest('AuditEvent?altid=before-update'))).resources).toEqual([]);
      expect((await store.search(parseSearchRequest('AuditEvent?altid=after-update&_total=accurate'))).total).toBe(1);
    });

    it('indexes a batch of deferred resources together: first versions, updated ones and deleted ones', async () => {
      const event = (altId: string, patientId: string): Resource =>
        ({ resourceType: 'AuditEvent', type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' }, recorded: '2026-11-24T13:00:00Z', agent: [{ requestor: true, altId }], source: { observer: { display: 'carebridge' } }, entity: [{ what: { reference: `Patient/${patientId}` } }] }) as unknown as Resource;
      const [a, b, c] = await store.transaction(async (tx) => [
        (await tx.create(event('batch-a', 'batch-one'), { deferIndex: true })).version.id,
        (await tx.create(event('batch-b', 'batch-one'), { deferIndex: true })).version.id,
        (await tx.create(event('batch-c', 'batch-one'), { deferIndex: true })).version.id,
      ]);
      await store.update({ ...event('batch-b2', 'batch-two'), id: b } as Resource);
      await store.delete('AuditEvent', c as string);
      // Usually one pass; a loaded machine may exhaust a pass's time budget after the first.
      let indexed = 0;
      for (let done = await store.indexDeferred('AuditEvent'); done > 0; done = await store.indexDeferred('AuditEvent')) {
        indexed += done;
      }
      // The update and the delete wrote (or removed) their rows themselves and took their events
      // off the backlog: only the first version was left to the indexer.
      expect(indexed).toBe(1);
      const ids = async (query: string): Promise<string[]> => (await store.search(parseSearchRequest(query))).resources.map((r) => r.id as string).sort();
      expect(await ids('AuditEvent?patient=Patient/batch-one')).toEqual([a]);
      expect(await ids('AuditEvent?entity=Patient/batch-two&altid=batch-b2')).toEqual([b]);
      expect(await ids('AuditEvent?altid=batch-a,batch-b,batch-c')).toEqual([a]);
      expect((await store.search(parseSearchRequest('AuditEvent?altid=batch-b2&_total=accurate'))).total).toBe(1);
    });

    it('writes deferred rows extracted before the transaction only for what is still waiting, as it is now', async () => {
      const sql = store as unknown as SqlStore;
      const event = (altId: string): Resource =>
        ({ resourceType: 'AuditEvent', type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' }, recorded: '2026-11-24T14:00:00Z', agent: [{ requestor: true, altId }], source: { observer: { display: 'carebridge' } } }) as unknown as Resource;
      const [changed, taken, kept] = await store.transaction(async (tx) => [
        (await tx.create(event('prepared-changed'), { deferIndex: true })).version.id as string,
        (await tx.create(event('prepared-taken'), { deferIndex: true })).version.id as string,
        (await tx.create(event('prepared-kept'), { deferIndex: true })).version.id as string,
      ]);
      const prepared = (await sql.prepareBacklog({ resourceType: 'AuditEvent', limit: 500 })).filter((p) => [changed, taken, kept].includes(p.id));
      expect(prepared.map((p) => p.id).sort()).toEqual([changed, taken, kept].sort());
      // Between extraction and the write: one event is updated, another is indexed by a second
      // indexer.
      await store.transaction((tx) => tx.update({ ...event('prepared-changed-2'), id: changed } as Resource));
      await sql.runTransaction(undefined, async (tx) => tx.indexBacklog(await tx.prepareBacklog({ resourceType: 'AuditEvent', limit: 500 }).then((all) => all.filter((p) => p.id === taken))));
      // Only the kept one: the update wrote its own rows and took its event off the backlog.
      expect(await sql.runTransaction(undefined, (tx) => tx.indexBacklog(prepared))).toBe(1);
      const ids = async (query: string): Promise<string[]> => (await store.search(parseSearchRequest(query))).resources.map((r) => r.id as string).sort();
      expect(await ids('AuditEvent?altid=prepared-changed-2')).toEqual([changed]);
      expect(await ids('AuditEvent?altid=prepared-changed')).toEqual([]);
      expect(await ids('AuditEvent?altid=prepared-kept,prepared-taken')).toEqual([kept, taken].sort());
      expect((await store.search(parseSearchRequest('AuditEvent?altid=prepared-taken&_total=accurate'))).total).toBe(1);
    });

    it('catches up, before a search, on what was written when the search began, while new events keep arriving', async () => {
      const sql = store as unknown as SqlStore;
      const event = (altId: string): Resource =>
        ({ resourceType: 'AuditEvent', type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' }, recorded: '2026-11-24T15:00:00Z', agent: [{ requestor: true, altId }], source: { observer: { display: 'carebridge' } } }) as unknown as Resource;
      const before = await store.transaction(async (tx) => [
        (await tx.create(event('stream-before'), { deferIndex: true })).version.id,
        (await tx.create(event('stream-before'), { deferIndex: true })).version.id,
      ]);
      // A busy server: every indexing transaction has a new audit event written just before it.
      const runTransaction = sql.runTransaction.bind(sql);
      let added = 0;
      let adding = false;
      const spy = jest.spyOn(sql, 'runTransaction').mockImplementation(async (caller, work) => {
        if (!adding && added < 50) {
          adding = true;
          await runTransaction(undefined, (tx) => tx.create(event('stream-during'), { deferIndex: true }));
          adding = false;
          added++;
        }
        return runTransaction(caller, work);
      });
      try {
        const found = await store.search(parseSearchRequest('AuditEvent?altid=stream-before&_count=10'));
        expect(found.resources.map((r) => r.id).sort()).toEqual([...before].sort());
        // A batch or two took what was there (PostgreSQL claims in the transaction, so an empty one
        // still begins one); the events written meanwhile are left to the indexer.
        expect(added).toBeLessThanOrEqual(5);
      } finally {
        spy.mockRestore();
      }
    });

    it('versions every update, keeps history, and makes no version for an unchanged update', async () => {
      const created = (await store.create(patient('mrn-2'))).version;
      const changed = { ...(created.resource as Patient), gender: 'male' as const };
      const second = await store.update(changed);
      expect(second.outcome).toBe('updated');
      expect(second.version.versionId).toBe('2');
      const again = await store.update({ ...changed, meta: { versionId: '2' } });
      expect(again.outcome).toBe('unchanged');
      expect(again.version.versionId).toBe('2');
      const history = await store.history('Patient', created.id, { count: 10 });
      expect(history.map((h) => h.versionId)).toEqual(['2', '1']);
      expect((await store.vread('Patient', created.id, '1'))?.resource).toMatchObject({ gender: 'female' });
    });

    it('refuses a stale If-Match with 412', async () => {
      const created = (await store.create(patient('mrn-3'))).version;
      await store.update({ ...(created.resource as Patient), gender: 'other' }, { ifMatch: '1' });
      expect(await statusOf(store.update({ ...(created.resource as Patient), gender: 'unknown' }, { ifMatch: '1' }))).toBe(412);
      expect((await store.read('Patient', created.id))?.resource).toMatchObject({ gender: 'other' });
      // It says which precondition failed, and the version to read again (as 428 names the ETag).
      expect(await textOf(store.update({ ...(created.resource as Patient), gender: 'unknown' }, { ifMatch: '1' }))).toBe(`Patient/${created.id} is at version 2 (ETag W/"2"), not the one If-Match names: read it again, then retry`);
    });

    it('deletes by writing a new version, so reads can answer 410 and history still works', async () => {
      const created = (await store.create(patient('mrn-4'))).version;
      const deleted = await store.delete('Patient', created.id);
      expect(deleted?.version).toMatchObject({ versionId: '2', deleted: true });
      expect(await store.read('Patient', created.id)).toMatchObject({ deleted: true, resource: undefined });
      expect((await store.history('Patient', created.id, { count: 10 })).map((h) => h.deleted)).toEqual([true, false]);
      expect((await store.search(parseSearchRequest(`Patient?_id=${created.id}`))).resources).toEqual([]);
      const revived = await store.update({ ...(created.resource as Patient) });
      expect(revived.version.versionId).toBe('3');
    });

    it('commits a transaction whole or not at all', async () => {
      const before = (await store.search(parseSearchRequest('Patient?family=Rollback'))).resources.length;
      await expect(
        store.transaction(async (tx) => {
          await tx.create(patient('mrn-rb-1', 'Rollback'));
          await tx.create(patient('mrn-rb-2', 'Rollback'));
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect((await store.search(parseSearchRequest('Patient?family=Rollback'))).resources).toHaveLength(before);
    });

    it('rolls back a failing transaction alone while concurrent ones commit', async () => {
      const outcomes = await Promise.allSettled(
        ['Concurrent-a', 'Concurrent-fails', 'Concurrent-b'].map((family) =>
          store.transaction(async (tx) => {
            await tx.create(patient(`mrn-${family}`, family));
            if (family === 'Concurrent-fails') {
              throw new Error('boom');
            }
          }),
        ),
      );
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      for (const [family, count] of [['Concurrent-a', 1], ['Concurrent-fails', 0], ['Concurrent-b', 1]] as const) {
        expect((await store.search(parseSearchRequest(`Patient?family=${family}`))).resources).toHaveLength(count);
      }
    });

    it('runs a transaction that asks to (RetryableConflict) again, keeping only the last attempt', async () => {
      let attempts = 0;
      await store.transaction(async (tx) => {
        attempts++;
        await tx.create(patient(`mrn-retry-${attempts}`, 'Retried'));
        if (attempts === 1) {
          throw new RetryableConflict('raced');
        }
      });
      expect(attempts).toBe(2);
      const found = (await store.search(parseSearchRequest('Patient?family=Retried'))).resources;
      expect(found.map((p) => (p as Patient).identifier?.[0]?.value)).toEqual(['mrn-retry-2']);
    });

    it('conditional create finds what exists instead of duplicating, also for a resource created without the condition', async () => {
      const plain = (await store.create(patient('mrn-cc'))).version;
      const first = await store.create(patient('mrn-cc'), { ifNoneExist: 'identifier=urn:oid:2.16.840.1.113883.19.5|mrn-cc' });
      expect(first).toMatchObject({ outcome: 'existing', version: { id: plain.id } });
      const fresh = await store.create(patient('mrn-cc-2'), { ifNoneExist: 'identifier=urn:oid:2.16.840.1.113883.19.5|mrn-cc-2' });
      expect(fresh.outcome).toBe('created');
      const again = await store.create(patient('mrn-cc-2'), { ifNoneExist: 'identifier=urn%3Aoid%3A2.16.840.1.113883.19.5%7Cmrn-cc-2' });
      expect(again).toMatchObject({ outcome: 'existing', version: { id: fresh.version.id } });
    });

    it('never duplicates when 50 identical conditional creates arrive at once', async () => {
      const query = 'identifier=urn:oid:2.16.840.1.113883.19.5|mrn-race';
      const results = await Promise.all(Array.from({ length: 50 }, () => store.create(patient('mrn-race'), { ifNoneExist: query })));
      expect(new Set(results.map((r) => r.version.id)).size).toBe(1);
      expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
      expect((await store.search(parseSearchRequest(`Patient?${query}`))).resources).toHaveLength(1);
    });

    it('gives concurrent updates of one new id consecutive versions, none lost', async () => {
      const id = crypto.randomUUID();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.update({ ...patient(`mrn-put-${i}`), id })));
      expect(results.map((r) => Number(r.version.versionId)).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect((await store.history('Patient', id, { count: 20 })).length).toBe(8);
    });

    it('refuses a conditional create matching several resources with 412', async () => {
      await store.create(patient('mrn-dup-a', 'Twin'));
      await store.create(patient('mrn-dup-b', 'Twin'));
      expect(await statusOf(store.create(patient('mrn-dup-c', 'Twin'), { ifNoneExist: 'family=Twin' }))).toBe(412);
      expect(await textOf(store.create(patient('mrn-dup-c', 'Twin'), { ifNoneExist: 'family=Twin' }))).toBe('The If-None-Exist condition matches more than one resource: make it more selective');
    });

    describe('search', () => {
      let bundle: Bundle;
      const ids = new Map<string, string>();

      beforeAll(async () => {
        // Store a mapped transition the way the API's transaction will: urn:uuids → ids.
        bundle = toFhir(readPlan('heart-failure-home-health.json'), sequentialUuids());
        await store.transaction(async (tx) => {
          for (const entry of bundle.entry ?? []) {
            ids.set(entry.fullUrl as string, `${entry.resource?.resourceType}/${crypto.randomUUID()}`);
          }
          for (const entry of bundle.entry ?? []) {
            const text = JSON.stringify(entry.resource).replace(/urn:uuid:[0-9a-f-]{36}/g, (u) => ids.get(u) as string);
            const [, id] = (ids.get(entry.fullUrl as string) as string).split('/');
            await tx.create(JSON.parse(text) as Resource, { assignedId: id });
          }
        });
      });

      const idOf = (type: string): string => [...ids.values()].find((v) => v.startsWith(`${type}/`)) as string;

      it('finds by reference, token with system, and date prefixes', async () => {
        const patientRef = idOf('Patient');
        const plans = await store.search(parseSearchRequest(`CarePlan?patient=${patientRef}&status=active&date=ge2026-01-01`));
        expect(plans.resources.map((r) => r.resourceType)).toEqual(['CarePlan']);
        expect((await store.search(parseSearchRequest(`CarePlan?patient=${patientRef}&date=lt2000-01-01`))).resources).toEqual([]);
        const tasks = await store.search(parseSearchRequest(`Task?code=http://hl7.org/fhir/CodeSystem/task-code|fulfill&status=requested`));
        expect(tasks.resources.length).toBeGreaterThanOrEqual(1);
        expect(tasks.resources.every((t) => (t as Task).intent === 'order')).toBe(true);
      });

      it('matches strings by prefix, :contains and :exact, ignoring case and accents', async () => {
        await store.create({ ...patient('mrn-zoe', 'Núñez'), name: [{ family: 'Núñez', given: ['Zoë'] }] });
        expect((await store.search(parseSearchRequest('Patient?family=nun'))).resources).toHaveLength(1);
        expect((await store.search(parseSearchRequest('Patient?family:contains=ÑE'))).resources).toHaveLength(1);
        expect((await store.search(parseSearchRequest('Patient?family:exact=Núñez'))).resources).toHaveLength(1);
        expect((await store.search(parseSearchRequest('Patient?family:exact=nunez'))).resources).toHaveLength(0);
      });

      it('follows chained parameters', async () => {
        const mrn = readPlan('heart-failure-home-health.json').patient.identifiers[0];
        const found = await store.search(parseSearchRequest(`CarePlan?subject:Patient.identifier=${mrn?.system}|${mrn?.value}`));
        expect(found.resources).toHaveLength(1);
      });

      it('follows an untyped chain through every target type that has the parameter, never dropping it', async () => {
        const mrn = readPlan('heart-failure-home-health.json').patient.identifiers[0];
        const plans = await store.search(parseSearchRequest(`CarePlan?subject.identifier=${mrn?.system}|${mrn?.value}`));
        expect(plans.ignored).toEqual([]);
        expect(plans.resources).toHaveLength(1);
        const agency = readPlan('heart-failure-home-health.json').referrals?.[0]?.agency.identifier;
        const token = `${agency?.system}|${agency?.value}`;
        const typed = await store.search(parseSearchRequest(`Task?owner:Organization.identifier=${token}`));
        const untyped = await store.search(parseSearchRequest(`Task?owner.identifier=${token}`));
        expect(untyped.ignored).toEqual([]);
        expect(typed.resources.length).toBeGreaterThan(0);
        expect(untyped.resources.map((r) => r.id).sort()).toEqual(typed.resources.map((r) => r.id).sort());
        const nobody = await store.search(parseSearchRequest(`Task?owner.identifier=${agency?.system}|no-such-agency`));
        expect(nobody.ignored).toEqual([]);
        expect(nobody.resources).toEqual([]);
      });

      it('adds _include and _revinclude resources', async () => {
        const found = await store.search(parseSearchRequest(`CarePlan?patient=${idOf('Patient')}&_include=CarePlan:care-team&_revinclude=Task:based-on`));
        const types = found.included.map((r) => r.resourceType).sort();
        expect(types).toContain('CareTeam');
        expect(types.filter((t) => t === 'Task').length).toBeGreaterThanOrEqual(2);
      });

      it('searches the audit trail (its own index tables) by every kind of parameter, deferred or not', async () => {
        const patientRef = idOf('Patient');
        const event = (altId: string, recorded: string, outcome: '0' | '4'): Resource =>
          ({
            resourceType: 'AuditEvent',
            type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
            subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' }],
            action: 'R',
            recorded,
            outcome,
            agent: [{ requestor: true, altId, name: `Client ${altId}`, network: { address: '10.1.2.3', type: '2' } }],
            source: { observer: { display: 'carebridge' } },
            entity: [
              { what: { reference: patientRef }, role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1' } },
              { what: { reference: 'http://example.org/fhir/Basic/outside' } },
            ],
          }) as unknown as Resource;
        const indexed = await store.create(event('contract-a', '2026-11-20T10:00:00Z', '0'));
        const deferred = await store.create(event('contract-b', '2026-11-22T10:00:00Z', '4'), { deferIndex: true });
        const ids = async (query: string): Promise<string[]> => (await store.search(parseSearchRequest(query))).resources.map((r) => r.id as string).sort();
        const both = [indexed.version.id, deferred.version.id].sort();
        expect(await ids(`AuditEvent?patient=${patientRef}&altid=contract-a,contract-b`)).toEqual(both);
        expect(await ids(`AuditEvent?entity=${patientRef}&subtype=http://hl7.org/fhir/restful-interaction|read&altid=contract-a,contract-b`)).toEqual(both);
        expect(await ids('AuditEvent?altid=contract-a,contract-b&outcome:not=0')).toEqual([deferred.version.id]);
        expect(await ids('AuditEvent?altid=contract-a,contract-b&date=lt2026-11-21')).toEqual([indexed.version.id]);
        expect(await ids('AuditEvent?agent-name=client%20contract-b')).toEqual([deferred.version.id]);
        expect(await ids('AuditEvent?entity=http://example.org/fhir/Basic/outside&altid=contract-a')).toEqual([indexed.version.id]);
        expect(await ids('AuditEvent?altid=contract-a,contract-b&policy:missing=true')).toEqual(both);
        expect(await ids(`AuditEvent?patient:Patient._id=${patientRef.split('/')[1]}&altid=contract-b`)).toEqual([deferred.version.id]);
        const sorted = await store.search(parseSearchRequest('AuditEvent?altid=contract-a,contract-b&_sort=-date'));
        expect(sorted.resources.map((r) => r.id)).toEqual([deferred.version.id, indexed.version.id]);
        const withPatient = await store.search(parseSearchRequest('AuditEvent?altid=contract-a&_include=AuditEvent:patient'));
        expect(withPatient.included.map((r) => `${r.resourceType}/${r.id}`)).toEqual([patientRef]);
        const revIncluded = await store.search(parseSearchRequest(`Patient?_id=${patientRef.split('/')[1]}&_revinclude=AuditEvent:patient`));
        expect(revIncluded.included.map((r) => r.id).filter((id) => both.includes(id as string)).sort()).toEqual(both);
        // An update replaces the event's rows: the old values no longer find it.
        await store.update({ ...(await store.read('AuditEvent', indexed.version.id))?.resource, agent: [{ requestor: true, altId: 'contract-c' }] } as Resource);
        expect(await ids('AuditEvent?altid=contract-a')).toEqual([]);
        expect(await ids('AuditEvent?altid=contract-c')).toEqual([indexed.version.id]);
      });

      it('searches the audit trail by date: every prefix, ranges, with other filters, sorted and paged both ways', async () => {
        const patientRef = idOf('Patient');
        const event = (altId: string, recorded: string, entity: string[] = []): Resource =>
          ({
            resourceType: 'AuditEvent',
            type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
            action: 'R',
            recorded,
            outcome: '0',
            agent: [{ requestor: true, altId }],
            source: { observer: { display: 'carebridge' } },
            entity: entity.map((reference) => ({ what: { reference } })),
          }) as unknown as Resource;
        // Created in this order (ordinals grow); some deferred, as the audit trail writes them.
        const a = (await store.create(event('date-a', '2031-03-01T10:00:00Z'))).version.id;
        const b = (await store.create(event('date-b', '2031-03-01T10:00:00.500Z'), { deferIndex: true })).version.id;
        const c = (await store.create(event('date-c', '2031-03-02T08:00:00Z'))).version.id;
        const d = (await store.create(event('date-d', '2031-03-03T12:00:00Z'))).version.id;
        const e = (await store.create(event('date-e', '2031-03-04T00:00:00Z', [patientRef]))).version.id;
        // A month, not an instant (the store does not validate): a row as wide as March.
        const w = (await store.create(event('date-w', '2031-03'), { deferIndex: true })).version.id;
        const f = (await store.create(event('date-f', '2031-03-03T12:00:00Z'), { deferIndex: true })).version.id;
        const g = (await store.create(event('date-g', '2031-04-01T09:00:00Z'))).version.id;
        const ids = async (query: string): Promise<string[]> => (await store.search(parseSearchRequest(query))).resources.map((r) => r.id as string).sort();
        const ordered = async (query: string): Promise<string[]> => (await store.search(parseSearchRequest(query))).resources.map((r) => r.id as string);
        const set = (...found: string[]): string[] => found.sort();

        expect(await ids('AuditEvent?date=ge2031-03-02')).toEqual(set(c, d, e, w, f, g));
        // The second 10:00:00 ends at .999: a seconds-precision event starts before a bound it still meets.
        expect(await ids('AuditEvent?date=ge2031-03-01T10:00:00.700Z')).toEqual(set(a, c, d, e, w, f, g));
        expect(await ids('AuditEvent?date=ge2031-04-01T09:00:00.300Z')).toEqual([g]);
        expect(await ids('AuditEvent?date=gt2031-04-01T08:59:59.500Z')).toEqual([g]);
        expect(await ids('AuditEvent?date=ap2031-04-01T09:00:00.999Z')).toEqual([g]);
        expect(await ids('AuditEvent?date=gt2031-03-01T10:00:00Z')).toEqual(set(c, d, e, w, f, g));
        expect(await ids('AuditEvent?date=gt2031-03-01T10:00:00.200Z')).toEqual(set(a, b, c, d, e, w, f, g));
        expect(await ids('AuditEvent?date=sa2031-03-02')).toEqual(set(d, e, f, g));
        expect(await ids('AuditEvent?date=eq2031-03-01')).toEqual(set(a, b));
        expect(await ids('AuditEvent?date=2031-03')).toEqual(set(a, b, c, d, e, w, f));
        expect(await ids('AuditEvent?date=ap2031-03-03')).toEqual(set(d, f, w));
        expect(await ids('AuditEvent?date=ge2031-03-02&date=le2031-03-03')).toEqual(set(c, d, f, w));
        expect(await ids('AuditEvent?date=gt2031-03-01T10:00:00.200Z&date=lt2031-03-02')).toEqual(set(a, b, w));
        expect(await ids('AuditEvent?date=le2031-03-01T10:00:00Z&date=ge2031-01-01')).toEqual(set(a, b, w));
        expect(await ids('AuditEvent?date=eb2031-03-02&date=ge2031-01-01')).toEqual(set(a, b));
        expect(await ids('AuditEvent?date=ne2031-03-01&date=ge2031-01-01')).toEqual(set(c, d, e, w, f, g));
        expect(await ids(`AuditEvent?date=ge2031-03-02&patient=${patientRef}`)).toEqual([e]);
        expect(await ids('AuditEvent?date=ge2031-03-02&altid=date-c,date-d')).toEqual(set(c, d));
        expect(await ids('AuditEvent?date=ge2031-03-05')).toEqual(set(w, g));
        expect((await store.search(parseSearchRequest('AuditEvent?date=ge2031-03-02&_total=accurate'))).total).toBe(6);

        // Sorted by the date (ties by creation), each way, and paged with cursors.
        expect(await ordered('AuditEvent?date=ge2031-01-01&_sort=-date')).toEqual([g, e, f, d, c, b, a, w]);
        expect(await ordered('AuditEvent?date=ge2031-01-01&date=lt2032&_sort=date')).toEqual([w, a, b, c, d, f, e, g]);
        expect(await ordered(`AuditEvent?date=ge2031-03-01T10:00:00.700Z&altid=date-a,date-b,date-e&_sort=-date`)).toEqual([e, a]);
        const pages = async (query: string): Promise<string[][]> => {
          const seen: string[][] = [];
          let page = await store.search(parseSearchRequest(query));
          seen.push(page.resources.map((r) => r.id as string));
          while (page.next) {
            const back = page;
            page = await store.search(parseSearchRequest(query), { cursor: page.next });
            seen.push(page.resources.map((r) => r.id as string));
            const previous = await store.search(parseSearchRequest(query), { cursor: page.previous });
            expect(previous.resources.map((r) => r.id)).toEqual(back.resources.map((r) => r.id));
          }
          return seen;
        };
        expect(await pages('AuditEvent?date=ge2031-01-01&_sort=-date&_count=3')).toEqual([[g, e, f], [d, c, b], [a, w]]);
        expect(await pages('AuditEvent?date=ge2031-01-01&_sort=date&_count=3')).toEqual([[w, a, b], [c, d, f], [e, g]]);
        expect(await pages('AuditEvent?date=ge2031-03-02&date=le2031-03-03&_sort=-date&_count=2')).toEqual([[f, d], [c, w]]);
        expect(await pages('AuditEvent?date=ge2031-01-01&_count=4')).toEqual([[a, b, c, d], [e, w, f, g]]);
      });

      it('pages with a cursor that stays stable while new resources arrive', async () => {
        for (let i = 0; i < 5; i++) {
          await store.create(patient(`mrn-page-${i}`, 'Pager'));
        }
        const first = await store.search(parseSearchRequest('Patient?family=Pager&_count=2'));
        expect(first.resources).toHaveLength(2);
        await store.create(patient('mrn-page-late', 'Pager'));
        const second = await store.search(parseSearchRequest('Patient?family=Pager&_count=2'), { cursor: first.next });
        const third = await store.search(parseSearchRequest('Patient?family=Pager&_count=10'), { cursor: second.next });
        const seen = [...first.resources, ...second.resources, ...third.resources].map((r) => (r as Patient).identifier?.[0]?.value);
        expect(seen).toEqual(['mrn-page-0', 'mrn-page-1', 'mrn-page-2', 'mrn-page-3', 'mrn-page-4', 'mrn-page-late']);
      });

      it('pages back with previous cursors, in order', async () => {
        for (let i = 0; i < 5; i++) {
          await store.create(patient(`mrn-back-${i}`, 'Backer'));
        }
        const mrns = (r: { resources: Resource[] }): (string | undefined)[] => r.resources.map((p) => (p as Patient).identifier?.[0]?.value);
        const first = await store.search(parseSearchRequest('Patient?family=Backer&_count=2'));
        expect(first.previous).toBeUndefined();
        const second = await store.search(parseSearchRequest('Patient?family=Backer&_count=2'), { cursor: first.next });
        const third = await store.search(parseSearchRequest('Patient?family=Backer&_count=2'), { cursor: second.next });
        expect(mrns(third)).toEqual(['mrn-back-4']);
        expect(third.next).toBeUndefined();
        const back = await store.search(parseSearchRequest('Patient?family=Backer&_count=2'), { cursor: third.previous });
        expect(mrns(back)).toEqual(['mrn-back-2', 'mrn-back-3']);
        const start = await store.search(parseSearchRequest('Patient?family=Backer&_count=2'), { cursor: back.previous });
        expect(mrns(start)).toEqual(['mrn-back-0', 'mrn-back-1']);
        expect(start.previous).toBeUndefined();
        expect(mrns(await store.search(parseSearchRequest('Patient?family=Backer&_count=2'), { cursor: start.next }))).toEqual(['mrn-back-2', 'mrn-back-3']);
        const sortedFirst = await store.search(parseSearchRequest('Patient?family=Backer&_count=3&_sort=-_lastUpdated'));
        const sortedSecond = await store.search(parseSearchRequest('Patient?family=Backer&_count=3&_sort=-_lastUpdated'), { cursor: sortedFirst.next });
        const sortedBack = await store.search(parseSearchRequest('Patient?family=Backer&_count=3&_sort=-_lastUpdated'), { cursor: sortedSecond.previous });
        expect(mrns(sortedBack)).toEqual(mrns(sortedFirst));
      });

      it('sorts by an allow-listed parameter, counts, and refuses other sorts', async () => {
        await store.create(patient('mrn-s1', 'Sorter', '1950-01-01'));
        await store.create(patient('mrn-s2', 'Sorter', '1930-01-01'));
        await store.create(patient('mrn-s3', 'Sorter', '1940-01-01'));
        const sorted = await store.search(parseSearchRequest('Patient?family=Sorter&_sort=-birthdate&_total=accurate'));
        expect(sorted.resources.map((r) => (r as Patient).birthDate)).toEqual(['1950-01-01', '1940-01-01', '1930-01-01']);
        expect(sorted.total).toBe(3);
        const paged = await store.search(parseSearchRequest('Patient?family=Sorter&_sort=birthdate&_count=1'));
        const rest = await store.search(parseSearchRequest('Patient?family=Sorter&_sort=birthdate&_count=5'), { cursor: paged.next });
        expect([...paged.resources, ...rest.resources].map((r) => (r as Patient).birthDate)).toEqual(['1930-01-01', '1940-01-01', '1950-01-01']);
        expect(await statusOf(store.search(parseSearchRequest('Patient?_sort=gender')))).toBe(400);
      });

      it('treats hostile values as values', async () => {
        for (const value of ["x' OR '1'='1", '%', '_', '\\', 'Robert"); DROP TABLE resources;--']) {
          const found = await store.search(parseSearchRequest(`Patient?family=${encodeURIComponent(value)}`));
          expect(found.resources).toEqual([]);
        }
        expect((await store.search(parseSearchRequest('CarePlan?status=active'))).resources.length).toBeGreaterThan(0);
      });

      it('reports unknown parameters as ignored', async () => {
        const found = await store.search(parseSearchRequest('CarePlan?frobnicate=1&status=active'));
        expect(found.ignored).toEqual(['frobnicate']);
        expect((found.resources[0] as CarePlan).status).toBe('active');
      });
    });
  });
}
