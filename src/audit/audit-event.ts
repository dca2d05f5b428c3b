// The AuditEvent of one API request, built as IHE BALP describes it (Read, Query, Create, Update,
// Delete; https://profiles.ihe.net/ITI/BALP/): type "rest" with the FHIR interaction as subtype,
// the client as the Source Role agent, the Organization it acts for as the delegator, carebridge
// as the Destination Role agent and observer, the resources touched and their patients as
// entities. Pure: the clock, the address and the ids come in through the input.
import { isResourceType } from '@medplum/core';
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from '@medplum/fhirtypes';
import { STATUS_CODES } from 'node:http';
import { isIP } from 'node:net';
import type { Principal } from '../auth/principal.ts';
import { AUDIT_SYSTEMS, CLIENT_ID_SYSTEM, CODES } from './codes.ts';

export type AuditInteraction =
  | 'read' | 'vread'
  | 'search-type' | 'search-system'
  | 'history-instance' | 'history-type' | 'history-system'
  | 'create' | 'update' | 'patch' | 'delete'
  | 'transaction' | 'batch' | 'operation';

/** R4 AuditEvent.action: Create, Read, Update, Delete, Execute. BALP: a search is E. */
const ACTIONS: Record<AuditInteraction, NonNullable<AuditEvent['action']>> = {
  'read': 'R', 'vread': 'R',
  'search-type': 'E', 'search-system': 'E',
  'history-instance': 'R', 'history-type': 'R', 'history-system': 'R',
  'create': 'C', 'update': 'U', 'patch': 'U', 'delete': 'D',
  'transaction': 'E', 'batch': 'E', 'operation': 'E',
};

/** Where the events are recorded: carebridge itself, at a configurable site. */
export interface AuditObserver {
  /** AuditEvent.source.site, e.g. the deployment's host name or "carebridge-prod-eu". */
  site: string;
  /** The observer's display name (default "carebridge"). */
  name?: string;
  /** carebridge's base URL, as the Destination Role agent's network address. */
  baseUrl?: string;
}

export interface AuditEventInput {
  interaction: AuditInteraction;
  /** The authenticated caller; undefined for a refused or unauthenticated attempt. */
  principal: Principal | undefined;
  /** The client id an unauthenticated attempt claimed (token request, bad token), if any. */
  claimedClientId?: string;
  /** The type in the request path, if any (ignored when it is not a FHIR resource type). */
  resourceType?: string;
  /** Resources touched: "Type/id" or "Type/id/_history/n" (a read's resource, a search's results, a transaction's entries). */
  references?: readonly string[];
  /** Patients concerned: "Patient/id". */
  patients?: readonly string[];
  /** The raw query string (without "?") of a search or history request. */
  query?: string;
  /** The operation name of an "operation" interaction, e.g. "$validate". */
  operation?: string;
  /** The HTTP status of the response. */
  status: number;
  /** The OperationOutcome issue code of a failure ("not-found", "forbidden", ...): a code, never a message. */
  issueCode?: string;
  /** The caller's network address (req.ip). */
  address?: string;
  /** The request id (X-Request-Id). */
  requestId?: string;
  recorded: Date;
  observer: AuditObserver;
}

/** R4 audit-event-outcome: 0 success, 4 minor failure (the request was refused), 8 serious failure (the server failed), 12 major failure (the service is unavailable). */
export function auditOutcome(status: number): NonNullable<AuditEvent['outcome']> {
  if (status < 400) {
    return '0';
  }
  if (status < 500) {
    return '4';
  }
  return status === 503 ? '12' : '8';
}

/** The status and, for a failure, its issue code: nothing a client sent, so nothing about a patient. */
export function outcomeDescription(status: number, issueCode?: string): string {
  const text = `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
  return issueCode && /^[a-z-]{1,40}$/.test(issueCode) ? `${text} (${issueCode})` : text;
}

/** Control parameters whose values say how to search, not what for: kept when a query is described. */
const CONTROL_PARAMETERS = new Set(['_count', '_sort', '_summary', '_total', '_elements', '_include', '_revinclude', '_format', '_pretty', '_since', '_at', '_lastUpdated', '_page', '_cursor']);
export const REDACTED_VALUE = '***';

/**
 * A query string with every value that could name or identify a patient replaced by "***":
 * parameter names (with modifiers and chains) and control parameters stay. This is the form
 * logs and AuditEvent.entity.description may carry; the raw query is only in entity.query.
 */
export function redactQuery(query: string): string {
  const raw = query.startsWith('?') ? query.slice(1) : query;
  if (raw === '') {
    return '';
  }
  return raw
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      let name: string;
      try {
        name = decodeURIComponent(key.replace(/\+/g, ' '));
      } catch {
        name = key;
      }
      if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(name)) {
        return REDACTED_VALUE;
      }
      if (eq < 0) {
        return name;
      }
      return CONTROL_PARAMETERS.has(name) ? `${name}=${part.slice(eq + 1)}` : `${name}=${REDACTED_VALUE}`;
    })
    .join('&');
}

function networkOf(address: string): AuditEventAgent['network'] {
  // "::ffff:10.0.0.1" is how Node reports an IPv4 peer on a dual-stack socket.
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  return { address: plain, type: isIP(plain) ? '2' : '1' };
}

function clientAgent(input: AuditEventInput): AuditEventAgent {
  const { principal } = input;
  const clientId = principal?.clientId ?? input.claimedClientId;
  const agent: AuditEventAgent = {
    type: { coding: [CODES.sourceRole] },
    who: clientId ? { identifier: { system: CLIENT_ID_SYSTEM, value: clientId }, display: principal?.clientName ?? 'unauthenticated client' } : { display: 'unidentified client' },
    requestor: true,
  };
  if (clientId) {
    // altId and name are what AuditEvent's search parameters index (altid, agent-name).
    agent.altId = clientId;
  }
  if (principal) {
    agent.name = principal.clientName;
    agent.role = [{ text: principal.role }];
    if (principal.tokenId) {
      agent.policy = [principal.tokenId];
    }
  }
  if (input.address) {
    agent.network = networkOf(input.address);
  }
  return agent;
}

function organizationAgent(principal: Principal): AuditEventAgent {
  const { organization } = principal;
  return {
    type: { coding: [CODES.delegator] },
    who: { type: 'Organization', identifier: { system: organization.system, value: organization.value }, ...(organization.display ? { display: organization.display } : {}) },
    ...(organization.display ? { name: organization.display } : {}),
    requestor: false,
  };
}

function serverAgent(observer: AuditObserver): AuditEventAgent {
  return {
    type: { coding: [CODES.destinationRole] },
    who: { display: observer.name ?? 'carebridge' },
    requestor: false,
    ...(observer.baseUrl ? { network: { address: observer.baseUrl, type: '5' as const } } : {}),
  };
}

function entities(input: AuditEventInput): AuditEventEntity[] {
  const out: AuditEventEntity[] = [];
  if (input.requestId) {
    out.push({ type: CODES.xRequestId, what: { identifier: { value: input.requestId } } });
  }
  for (const reference of unique(input.references)) {
    out.push({ type: CODES.systemObject, role: CODES.domainResource, what: { reference } });
  }
  for (const reference of unique(input.patients)) {
    out.push({ type: CODES.person, role: CODES.patientRole, what: { reference } });
  }
  const type = input.resourceType && isResourceType(input.resourceType) ? input.resourceType : undefined;
  const searchOrHistory = input.interaction.startsWith('search') || input.interaction.startsWith('history');
  if (input.query !== undefined || searchOrHistory) {
    const query = input.query ?? '';
    const target = type ?? '';
    // BALP: the raw request, base64, in .query (the protected trail keeps exactly what was asked);
    // .description holds it with every value that could identify a patient masked.
    out.push({
      type: CODES.systemObject,
      role: CODES.queryRole,
      description: `${target}?${redactQuery(query)}`,
      query: Buffer.from(`${target}?${query}`, 'utf8').toString('base64'),
    });
  } else if (type && !(input.references ?? []).length) {
    // A create, or a failed request, with no id yet: at least the type it was about.
    out.push({ type: { system: 'http://hl7.org/fhir/resource-types', code: type, display: type }, role: CODES.domainResource });
  }
  if (input.operation) {
    out.push({ type: CODES.systemObject, role: CODES.job, name: input.operation });
  }
  return out;
}

function unique(values: readonly string[] | undefined): string[] {
  return [...new Set(values ?? [])];
}

export function auditEventFor(input: AuditEventInput): AuditEvent {
  const subtype: Coding = { system: AUDIT_SYSTEMS.restfulInteraction, code: input.interaction, display: input.interaction };
  const agent: AuditEventAgent[] = [clientAgent(input)];
  if (input.principal) {
    agent.push(organizationAgent(input.principal));
  }
  agent.push(serverAgent(input.observer));
  const entity = entities(input);
  return {
    resourceType: 'AuditEvent',
    type: CODES.rest,
    subtype: [subtype],
    action: ACTIONS[input.interaction],
    recorded: input.recorded.toISOString(),
    outcome: auditOutcome(input.status),
    outcomeDesc: outcomeDescription(input.status, input.issueCode),
    agent,
    source: { site: input.observer.site, observer: { display: input.observer.name ?? 'carebridge' }, type: [CODES.applicationServer] },
    ...(entity.length > 0 ? { entity } : {}),
  };
}

/**
 * What a log line may say about an audited request: no query values, no resource content, no
 * names; references are carebridge's own opaque ids. For the request logger, next to the
 * stored AuditEvent.
 */
export function auditLogFields(event: AuditEvent): Record<string, unknown> {
  const client = event.agent.find((a) => a.type?.coding?.[0]?.code === CODES.sourceRole.code);
  const organization = event.agent.find((a) => a.type?.coding?.[0]?.code === CODES.delegator.code);
  const query = event.entity?.find((e) => e.role?.code === CODES.queryRole.code);
  return {
    interaction: event.subtype?.[0]?.code,
    action: event.action,
    outcome: event.outcome,
    outcomeDesc: event.outcomeDesc,
    clientId: client?.altId,
    organization: organization?.who?.identifier ? `${organization.who.identifier.system}|${organization.who.identifier.value}` : undefined,
    // Not "address": the logger redacts that key as patient data.
    clientAddress: client?.network?.address,
    requestId: event.entity?.find((e) => e.type?.code === CODES.xRequestId.code)?.what?.identifier?.value,
    references: event.entity?.filter((e) => e.what?.reference).map((e) => e.what?.reference),
    query: query?.description,
  };
}
