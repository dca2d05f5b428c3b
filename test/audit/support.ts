// Shared by the audit tests: a principal, a store that counts its transactions or fails on
// demand, and a check that every coding sits in the R4 ValueSet its element is bound to.
import type { Coding, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../../src/auth/principal.ts';
import { parseScopes } from '../../src/auth/scopes.ts';
import type { FhirStore, StoreTransaction } from '../../src/store/fhir-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';

export function agencyPrincipal(overrides: Partial<Principal> = {}): Principal {
  return {
    clientId: 'sunrise-home-health',
    clientName: 'Sunrise Home Health EHR',
    role: 'agency',
    organization: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893', display: 'Sunrise Home Health' },
    scopes: parseScopes('system/Patient.rs system/Task.cruds').scopes,
    tokenId: 'jti-7f3a',
    ...overrides,
  };
}

export interface CountingStore {
  store: FhirStore;
  transactions: () => number;
  /** From now on, every transaction fails after its work ran (as a failed COMMIT would). */
  failTransactions: (fail: boolean) => void;
}

/** Wraps a store: counts transaction() calls, and can make them fail. */
export function countingStore(inner: FhirStore): CountingStore {
  let count = 0;
  let failing = false;
  const store = new Proxy(inner, {
    get(target, property) {
      if (property === 'transaction') {
        return async <T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> => {
          count++;
          if (failing) {
            throw new Error('disk I/O error');
          }
          return target.transaction(work);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, transactions: () => count, failTransactions: (fail) => (failing = fail) };
}

/** The R4 ValueSets of the coded elements the audit builders fill. */
const BINDINGS: Record<string, string> = {
  'AuditEvent.type': 'http://hl7.org/fhir/ValueSet/audit-event-type',
  'AuditEvent.subtype': 'http://hl7.org/fhir/ValueSet/audit-event-sub-type',
  'AuditEvent.agent.type': 'http://hl7.org/fhir/ValueSet/participation-role-type',
  'AuditEvent.source.type': 'http://hl7.org/fhir/ValueSet/audit-source-type',
  'AuditEvent.entity.type': 'http://hl7.org/fhir/ValueSet/audit-entity-type',
  'AuditEvent.entity.role': 'http://hl7.org/fhir/ValueSet/object-role',
  'Provenance.activity': 'http://hl7.org/fhir/ValueSet/provenance-activity-type',
  'Provenance.agent.type': 'http://hl7.org/fhir/ValueSet/provenance-agent-type',
};

/** BALP's X-Request-Id entity type: BALP's own code, allowed by the extensible binding. */
const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';

function codingsAt(value: unknown, path: string[]): Coding[] {
  if (value === undefined || value === null) {
    return [];
  }
  if (Array.isArray(value)) {
    return value.flatMap((v) => codingsAt(v, path));
  }
  if (path.length === 0) {
    const object = value as { coding?: Coding[]; system?: string; code?: string };
    return object.coding ?? (object.code ? [object as Coding] : []);
  }
  return codingsAt((value as Record<string, unknown>)[path[0] as string], path.slice(1));
}

/** "AuditEvent.agent.type: sys|code" for every coding not in its ValueSet. */
export function codesOutsideValueSets(resource: Resource): string[] {
  const { terminology } = loadDefinitions();
  const out: string[] = [];
  for (const [path, valueSet] of Object.entries(BINDINGS)) {
    const [type, ...rest] = path.split('.');
    if (type !== resource.resourceType) {
      continue;
    }
    for (const coding of codingsAt(resource, rest)) {
      if (coding.system === BALP_ENTITY_TYPE) {
        continue;
      }
      if (terminology.contains(valueSet, coding.system, coding.code ?? '') !== 'yes') {
        out.push(`${path}: ${coding.system}|${coding.code}`);
      }
    }
  }
  return out;
}
