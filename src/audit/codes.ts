// The code systems and codes of carebridge's audit trail, in one place. AuditEvents follow IHE
// Basic Audit Log Patterns (BALP, https://profiles.ihe.net/ITI/BALP/); every code is in the R4
// ValueSet its element is bound to, except BALP's own X-Request-Id entity type (an extensible
// binding, so still conformant R4).
import type { Coding } from '@medplum/fhirtypes';
import { CAREBRIDGE_BASE } from '../model/terminology.ts';

export const AUDIT_SYSTEMS = {
  auditEventType: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  restfulInteraction: 'http://hl7.org/fhir/restful-interaction',
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
  auditEntityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
  securitySourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  v3RoleCode: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
  balpEntityType: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType',
  provenanceParticipantType: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  provenanceEntityRole: 'http://hl7.org/fhir/provenance-entity-role',
  v3DataOperation: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation',
} as const;

/** Identifier system of carebridge's registered clients (a Principal's clientId). */
export const CLIENT_ID_SYSTEM = `${CAREBRIDGE_BASE}/sid/client-id`;

/** Identifier system of the systems data comes from (Provenance.entity[source]). */
export const SOURCE_SYSTEM_ID_SYSTEM = 'urn:ietf:rfc:3986';

export const CODES = {
  rest: { system: AUDIT_SYSTEMS.auditEventType, code: 'rest', display: 'RESTful Operation' },
  /** BALP: the client is the Source Role ID and the server the Destination Role ID (the query flows to the server). */
  sourceRole: { system: AUDIT_SYSTEMS.dicom, code: '110153', display: 'Source Role ID' },
  destinationRole: { system: AUDIT_SYSTEMS.dicom, code: '110152', display: 'Destination Role ID' },
  /** The Organization a client acts for: it delegates its authority to the client. */
  delegator: { system: AUDIT_SYSTEMS.v3RoleCode, code: 'DELEGATOR', display: 'delegator' },
  applicationServer: { system: AUDIT_SYSTEMS.securitySourceType, code: '4', display: 'Application Server' },
  person: { system: AUDIT_SYSTEMS.auditEntityType, code: '1', display: 'Person' },
  systemObject: { system: AUDIT_SYSTEMS.auditEntityType, code: '2', display: 'System Object' },
  patientRole: { system: AUDIT_SYSTEMS.objectRole, code: '1', display: 'Patient' },
  domainResource: { system: AUDIT_SYSTEMS.objectRole, code: '4', display: 'Domain Resource' },
  job: { system: AUDIT_SYSTEMS.objectRole, code: '20', display: 'Job' },
  queryRole: { system: AUDIT_SYSTEMS.objectRole, code: '24', display: 'Query' },
  xRequestId: { system: AUDIT_SYSTEMS.balpEntityType, code: 'XrequestId', display: 'transport specific unique identifier where http X-Request-Id is used' },
  author: { system: AUDIT_SYSTEMS.provenanceParticipantType, code: 'author', display: 'Author' },
  performer: { system: AUDIT_SYSTEMS.provenanceParticipantType, code: 'performer', display: 'Performer' },
} as const satisfies Record<string, Coding>;
