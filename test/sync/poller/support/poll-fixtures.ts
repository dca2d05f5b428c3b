// What the poller suites share: an EHR peer's config, the EHR's resources, SQLite stores, and
// looking at our copies by their origin identifiers.
import { parseSearchRequest } from '@medplum/core';
import type { Encounter, Organization, Patient, Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import type { PeerConfig } from '../../../../src/config/peers.ts';
import { withPeerDefaults } from '../../../../src/config/peers.ts';
import { createLogger } from '../../../../src/log/logger.ts';
import type { Logger } from '../../../../src/log/logger.ts';
import type { FhirStore } from '../../../../src/store/fhir-store.ts';
import { SqliteStore } from '../../../../src/store/sqlite/sqlite-store.ts';
import { originSystem } from '../../../../src/sync/poller/ehr-poller.ts';

export const RIVERSIDE = { system: 'urn:oid:2.16.840.1.113883.3.8901', value: 'riverside-general' };

export function ehrPeer(fhirBaseUrl: string, pull: Partial<NonNullable<PeerConfig['pull']>> = {}, name = 'riverside-ehr'): PeerConfig {
  const peer = withPeerDefaults({
    name,
    kind: 'ehr',
    organization: RIVERSIDE,
    fhirBaseUrl,
    pull: { queries: ['Encounter?status=finished'], schedule: '*/15 * * * *', pageSize: 2, ...pull },
  });
  return { ...peer, limits: { ...peer.limits, timeoutMs: 2000 } };
}

export function patient(id: string, family = `Nguyen-${id}`): Patient {
  return { resourceType: 'Patient', id, name: [{ family, given: ['Thi'] }], birthDate: '1948-03-02', gender: 'female', identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: `MRN-${id}` }] };
}

export function encounter(id: string, patientRef: string, extra: Partial<Encounter> = {}): Encounter {
  return {
    resourceType: 'Encounter',
    id,
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' },
    subject: { reference: patientRef },
    period: { start: '2026-11-10T08:00:00Z', end: '2026-11-19T16:00:00Z' },
    ...extra,
  };
}

export function organization(id: string, partOf?: string): Organization {
  return { resourceType: 'Organization', id, name: `Organization ${id}`, ...(partOf ? { partOf: { reference: partOf } } : {}) };
}

/** 2026-11-20T10:00:<s>.000Z, and further minutes past 59 seconds. */
export function at(seconds: number): string {
  return new Date(Date.UTC(2026, 10, 20, 10, 0, 0) + seconds * 1000).toISOString();
}

/** Our clock in the tests: a day after the EHR's data, so the first poll's 30 days cover it. */
export const NOW = new Date('2026-11-21T09:00:00.000Z');

const files = new Map<FhirStore, string>();

export async function openSqlite(): Promise<FhirStore> {
  const file = join(mkdtempSync(join(tmpdir(), 'carebridge-poll-')), 'carebridge.db');
  const store = await SqliteStore.open(file);
  files.set(store, file);
  return store;
}

export async function disposeSqlite(store: FhirStore): Promise<void> {
  await store.close();
  rmSync(dirname(files.get(store) as string), { recursive: true, force: true });
}

/** Our copies of the peer's resources of a type (all of them, as carebridge sees them). */
export async function copiesOf(store: FhirStore, resourceType: string): Promise<Resource[]> {
  return (await store.search(parseSearchRequest(`${resourceType}?_count=1000`))).resources;
}

/** Our copy of the peer's `peerId`, found by its origin identifier (exactly one, or the test fails). */
export async function copyOf<T extends Resource>(store: FhirStore, baseUrl: string, resourceType: T['resourceType'], peerId: string): Promise<T> {
  const found = (await store.search(parseSearchRequest(`${resourceType}?identifier=${encodeURIComponent(`${originSystem(baseUrl, resourceType)}|${peerId}`)}`))).resources;
  if (found.length !== 1) {
    throw new Error(`expected one copy of ${resourceType}/${peerId}, found ${found.length}`);
  }
  return found[0] as T;
}

/** The peer's ids of our copies of a type, sorted (a duplicate shows twice). */
export async function peerIdsOf(store: FhirStore, baseUrl: string, resourceType: string): Promise<string[]> {
  const system = originSystem(baseUrl, resourceType);
  return (await copiesOf(store, resourceType))
    .map((r) => ((r as { identifier?: { system?: string; value?: string }[] }).identifier ?? []).find((i) => i.system === system)?.value ?? '?')
    .sort();
}

/** A logger whose lines the test can read. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return {
    logger: createLogger({ level: 'debug', stream }),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
