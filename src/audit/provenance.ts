// The Provenance of one write request: which versions it made (every entry of a transaction in
// one Provenance), who is responsible (the client's Organization, as author), which system did it
// (the client, as performer on behalf of that Organization), where the data came from, and what
// was done (v3-DataOperation). The caller creates it in the write's own store transaction.
import type { Organization, Provenance, ProvenanceAgent, Reference } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.ts';
import { AUDIT_SYSTEMS, CLIENT_ID_SYSTEM, CODES, SOURCE_SYSTEM_ID_SYSTEM } from './codes.ts';

export type ProvenanceActivity = 'CREATE' | 'UPDATE' | 'DELETE';

const ACTIVITY_DISPLAY: Record<ProvenanceActivity, string> = { CREATE: 'create', UPDATE: 'revise', DELETE: 'delete' };

export interface ProvenanceInput {
  principal: Principal;
  /** Versioned references of what the request wrote: "Type/id/_history/n". */
  targets: readonly string[];
  /** What the request did. A transaction that mixes creates and updates is an UPDATE of the record. */
  activity: ProvenanceActivity;
  recorded: Date;
  /** A URI naming the system the data came from (the client's own base URL, an EHR endpoint, ...). */
  sourceSystem: string;
  /** The request id (X-Request-Id), kept in meta.source as "<sourceSystem>#<requestId>". */
  requestId?: string;
}

const VERSIONED_REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}\/_history\/[A-Za-z0-9\-.]{1,64}$/;

export function provenanceFor(input: ProvenanceInput): Provenance {
  if (input.targets.length === 0) {
    throw new Error('A Provenance needs at least one target');
  }
  const bad = input.targets.find((t) => !VERSIONED_REFERENCE.test(t));
  if (bad !== undefined) {
    throw new Error('Provenance targets must be versioned references (Type/id/_history/n)');
  }
  const { principal } = input;
  const organization: Reference<Organization> = {
    type: 'Organization',
    identifier: { system: principal.organization.system, value: principal.organization.value },
    ...(principal.organization.display ? { display: principal.organization.display } : {}),
  };
  const agent: ProvenanceAgent[] = [
    { type: { coding: [CODES.author] }, who: organization },
    {
      type: { coding: [CODES.performer] },
      who: { type: 'Device', identifier: { system: CLIENT_ID_SYSTEM, value: principal.clientId }, display: principal.clientName },
      onBehalfOf: organization,
    },
  ];
  return {
    resourceType: 'Provenance',
    ...(input.requestId ? { meta: { source: `${input.sourceSystem}#${input.requestId}` } } : {}),
    target: [...new Set(input.targets)].map((reference) => ({ reference })),
    recorded: input.recorded.toISOString(),
    activity: { coding: [{ system: AUDIT_SYSTEMS.v3DataOperation, code: input.activity, display: ACTIVITY_DISPLAY[input.activity] }] },
    agent,
    entity: [{ role: 'source', what: { identifier: { system: SOURCE_SYSTEM_ID_SYSTEM, value: input.sourceSystem } } }],
  };
}
