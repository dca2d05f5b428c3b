// Audit and provenance around one FHIR request (HAPI-style hooks around the one write path):
// - a write that commits records its Provenance and its AuditEvent in its own transaction;
// - every other request (reads, searches, refused or failed writes) records its AuditEvent
//   through the group-committing AuditTrail before the response leaves. If the audit trail
//   cannot be written, the request fails: there is no unaudited access.
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { AuditEventInput, AuditInteraction, AuditObserver } from '../../audit/audit-event.ts';
import { auditEventFor } from '../../audit/audit-event.ts';
import type { AuditTrail } from '../../audit/audit-trail.ts';
import { recordInTransaction } from '../../audit/audit-trail.ts';
import type { ProvenanceActivity } from '../../audit/provenance.ts';
import { provenanceFor } from '../../audit/provenance.ts';
import { callerFor } from '../../auth/access/policy.ts';
import type { Principal } from '../../auth/principal.ts';
import type { StoreCaller } from '../../store/access.ts';
import type { StoreTransaction, StoredVersion } from '../../store/fhir-store.ts';
import type { FhirResponse } from './request.ts';
import type { WorkflowSettings } from '../../workflow/write-rules.ts';

/** Result ids an AuditEvent lists: enough to answer "who saw this patient" without 1,000-entity events (1.5 ms each to store). */
const MAX_AUDITED_REFERENCES = 100;
const MAX_AUDITED_PATIENTS = 20;
const PATIENT_FIELDS = ['subject', 'patient', 'for', 'beneficiary'];

export interface RequestAudit {
  interaction: AuditInteraction;
  principal: Principal | undefined;
  resourceType?: string;
  query?: string;
  address?: string;
  requestId?: string;
  observer: AuditObserver;
  /** The operation of an "operation" interaction ("$process-message"). */
  operation?: string;
  /**
   * Set once the request's write transaction recorded its own AuditEvent: "Type/id" of what it
   * wrote, which that event names already (a batch's: what all its entries' transactions wrote).
   */
  written?: Set<string>;
}

function patientOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') {
    return `Patient/${resource.id}`;
  }
  for (const field of PATIENT_FIELDS) {
    const reference = (resource as unknown as Record<string, { reference?: unknown } | undefined>)[field]?.reference;
    if (typeof reference === 'string' && reference.startsWith('Patient/')) {
      return reference;
    }
  }
  return undefined;
}

/** Interactions BALP records as a query: the query and the patients it touched, not each result. */
const QUERIES = new Set<AuditInteraction>(['search-type', 'search-system', 'history-type', 'history-system']);

function summarize(resources: readonly Resource[], interaction: AuditInteraction): Pick<AuditEventInput, 'references' | 'patients'> {
  const references = QUERIES.has(interaction) ? [] : resources.slice(0, MAX_AUDITED_REFERENCES).map((r) => `${r.resourceType}/${r.id}`);
  const patients = [...new Set(resources.map(patientOf).filter((p): p is string => p !== undefined))].slice(0, MAX_AUDITED_PATIENTS);
  return { references, patients };
}

/** What a response disclosed: the resource, or a Bundle's entries. */
function disclosed(response: FhirResponse): Resource[] {
  const body = response.body;
  if (!body || body.resourceType === 'OperationOutcome') {
    return [];
  }
  if (body.resourceType === 'Bundle') {
    return entriesOf(body);
  }
  return [body];
}

function entriesOf(bundle: Bundle): Resource[] {
  // A transaction's or batch's GET search entry answers with a searchset: what it found is what was disclosed.
  return (bundle.entry ?? []).flatMap((e) =>
    !e.resource || e.resource.resourceType === 'OperationOutcome' ? [] : e.resource.resourceType === 'Bundle' && (e.resource.type === 'searchset' || e.resource.type === 'history') ? entriesOf(e.resource) : [e.resource],
  );
}

function activityOf(version: StoredVersion): ProvenanceActivity {
  return version.deleted ? 'DELETE' : version.versionId === '1' ? 'CREATE' : 'UPDATE';
}

/** The caller a principal writes as, with its writes' Provenance and AuditEvent in the same transaction. */
export function auditedCaller(principal: Principal, audit: RequestAudit, workflow?: WorkflowSettings): StoreCaller {
  return {
    ...callerFor(principal, workflow),
    // A retried attempt starts over: what an earlier, rolled-back attempt recorded is gone. A
    // batch runs a transaction per entry: what the earlier entries wrote stays named (an entry
    // that failed wrote nothing the answer shows, so its names exclude nothing).
    onTransaction: () => {
      if (audit.interaction !== 'batch') {
        audit.written = undefined;
      }
    },
    recordWrites: async (written: StoredVersion[], system: StoreTransaction) => {
      const recorded = new Date();
      // One Provenance per kind of change (a transaction Bundle may create, update and delete).
      for (const activity of ['CREATE', 'UPDATE', 'DELETE'] as const) {
        const targets = written.filter((v) => activityOf(v) === activity).map((v) => `${v.resourceType}/${v.id}/_history/${v.versionId}`);
        if (targets.length > 0) {
          await system.create(provenanceFor({ principal, targets, activity, recorded, sourceSystem: `urn:carebridge:client:${encodeURIComponent(principal.clientId)}`, requestId: audit.requestId }), { deferIndex: true });
        }
      }
      const resources = written.map((v) => v.resource ?? ({ resourceType: v.resourceType, id: v.id } as Resource));
      const status = audit.interaction === 'create' && written.some((v) => v.versionId === '1') ? 201 : 200;
      await recordInTransaction(system, auditEventFor({ ...baseInput(audit, recorded), status, ...summarize(resources, audit.interaction) }));
      audit.written ??= new Set();
      for (const v of written) {
        audit.written.add(`${v.resourceType}/${v.id}`);
      }
    },
  };
}

function baseInput(audit: RequestAudit, recorded: Date): Omit<AuditEventInput, 'status'> {
  return {
    interaction: audit.interaction,
    principal: audit.principal,
    resourceType: audit.resourceType,
    query: audit.query,
    address: audit.address,
    requestId: audit.requestId,
    observer: audit.observer,
    ...(audit.operation ? { operation: audit.operation } : {}),
    recorded,
  };
}

/** Records the request's AuditEvent unless its transaction already did; resolves once it is durable. */
export async function recordRequest(trail: AuditTrail, audit: RequestAudit, response: FhirResponse): Promise<void> {
  let shown = disclosed(response);
  if (audit.written && response.status < 400) {
    // A transaction may also have read (GET entries): its request event names what it disclosed
    // beyond what it wrote, when there is any. The writes' own echo is in the transaction's event.
    if (audit.interaction !== 'transaction' && audit.interaction !== 'batch') {
      return;
    }
    const written = audit.written;
    shown = shown.filter((r) => !written.has(`${r.resourceType}/${r.id}`));
    if (shown.length === 0) {
      return;
    }
  }
  const issueCode = response.status >= 400 && response.body?.resourceType === 'OperationOutcome' ? response.body.issue?.[0]?.code : undefined;
  await trail.record(auditEventFor({ ...baseInput(audit, new Date()), status: response.status, issueCode, ...summarize(shown, audit.interaction) }));
}

/** A request refused before any handler ran (body too large, unreadable): its AuditEvent, status and reason. */
export async function recordRefusal(trail: AuditTrail, audit: Pick<RequestAudit, 'principal' | 'address' | 'requestId' | 'observer'>, status: number, outcome: Resource): Promise<void> {
  const issueCode = outcome.resourceType === 'OperationOutcome' ? outcome.issue?.[0]?.code : undefined;
  await trail.record(auditEventFor({ interaction: 'operation', ...audit, recorded: new Date(), status, issueCode }));
}
