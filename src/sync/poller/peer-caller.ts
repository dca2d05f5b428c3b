// Who the poller writes as: the EHR's own organization, with a hospital's role. So its data is
// authored by that organization (its tenancy rows open the patients to it, as if it had pushed
// them), the write path's rules apply as to any hospital, every write records the EHR as its
// source (Provenance, in the same transaction), and carebridge can tell the EHR's own data from
// what others wrote when it writes back (it never echoes an EHR's data to it).
import type { Principal } from '../../auth/principal.ts';
import { callerFor } from '../../auth/access/policy.ts';
import { parseScope } from '../../auth/scopes.ts';
import type { Scope } from '../../auth/scopes.ts';
import { provenanceFor } from '../../audit/provenance.ts';
import type { PeerConfig } from '../../config/peers.ts';
import type { StoreCaller } from '../../store/access.ts';
import type { StoredVersion } from '../../store/fhir-store.ts';
import type { WorkflowSettings } from '../../workflow/write-rules.ts';
import { normalizeBaseUrl } from '../origin-identifier.ts';

/** The poller writes what a hospital may write; its role narrows this as it narrows a client's token. */
const POLLER_SCOPES: Scope[] = [parseScope('system/*.cruds') as Scope];

export function peerPrincipal(peer: PeerConfig): Principal {
  return { clientId: `peer:${peer.name}`, clientName: `${peer.name} (polled)`, role: 'hospital', organization: peer.organization, scopes: POLLER_SCOPES };
}

function activityOf(version: StoredVersion): 'CREATE' | 'UPDATE' | 'DELETE' {
  return version.deleted ? 'DELETE' : version.versionId === '1' ? 'CREATE' : 'UPDATE';
}

/** The store caller of one poll run (`runId` ties a run's Provenance together in meta.source). */
export function peerCaller(peer: PeerConfig, runId: string, now: () => Date, workflow?: WorkflowSettings): StoreCaller {
  const principal = peerPrincipal(peer);
  const sourceSystem = normalizeBaseUrl(peer.fhirBaseUrl as string);
  return {
    // The workflow's rules ride on the EHR's writes as on a client's: an admission polled from the
    // EHR is checked for a readmission, a polled transition gets its deadlines (afterWrites).
    ...callerFor(principal, workflow),
    recordWrites: async (written, system) => {
      const recorded = now();
      for (const activity of ['CREATE', 'UPDATE', 'DELETE'] as const) {
        const targets = written.filter((v) => activityOf(v) === activity).map((v) => `${v.resourceType}/${v.id}/_history/${v.versionId}`);
        if (targets.length > 0) {
          await system.create(provenanceFor({ principal, targets, activity, recorded, sourceSystem, requestId: runId }), { deferIndex: true });
        }
      }
    },
  };
}
