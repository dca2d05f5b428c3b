// One peer resource into our store, inside the page's transaction: validated as the API's write
// path validates, its id kept as an origin identifier (our copy is found by it: never a
// duplicate), its references to the peer rewritten to our copies (fetched from the peer and
// stored first when we have none), then created or updated as the EHR's organization.
import { OperationOutcomeError, Operator } from '@medplum/core';
import type { Identifier, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { checkBody } from '../../api/fhir/handlers.ts';
import { forEachReference } from '../../api/fhir/references.ts';
import { isSupportedType } from '../../api/fhir/supported.ts';
import type { StoreTransaction, WriteOutcome } from '../../store/fhir-store.ts';
import type { PeerClient } from '../connectors/peer-client.ts';
import { PeerError } from '../connectors/peer-client.ts';
import { normalizeBaseUrl, originSystem, parsePeerReference } from '../origin-identifier.ts';
import { PeerProtocolError, quoted } from './search-page.ts';

/** Why a resource was not stored. Codes and FHIRPath locations only: never a value it held. */
export interface SkipRecord {
  resourceType: string;
  peerId: string;
  reason: 'invalid' | 'no-id' | 'refused';
  issues: { code: string; expression?: string }[];
}

/** A resource that cannot be stored as it is; nothing of it was written. */
export class SkipResource extends Error {
  readonly record: SkipRecord;

  constructor(record: SkipRecord) {
    super(`${record.resourceType} skipped (${record.reason})`);
    this.record = record;
  }
}

/**
 * The store refused a write (a rule of the write path, 4xx). The transaction may hold part of
 * what led to it, so it is rolled back and the page imported again without `entryKey`.
 */
export class RefusedWrite extends Error {
  readonly entryKey: string;
  readonly record: SkipRecord;

  constructor(entryKey: string, record: SkipRecord) {
    super(`${record.resourceType} refused by the store`);
    this.entryKey = entryKey;
    this.record = record;
  }
}

export interface ImportLimits {
  /** References followed from a page's resource: its patient (1), the patient's organization (2), … */
  maxReferenceDepth: number;
  /** Resources fetched from the peer to resolve the references of one page. */
  maxReferenceFetches: number;
}

/** What an import did: `unresolved` references were kept as absolute URLs on the peer. */
export interface ImportCounts {
  created: number;
  updated: number;
  unchanged: number;
  fetched: number;
  unresolved: number;
  /** Matches of the page not stored. */
  skipped: SkipRecord[];
  /** Referenced resources not stored (the reference to one stays on the peer). */
  skippedTargets: SkipRecord[];
}

export function emptyCounts(): ImportCounts {
  return { created: 0, updated: 0, unchanged: 0, fetched: 0, unresolved: 0, skipped: [], skippedTargets: [] };
}

/** What outlives a rolled-back attempt of the page: the peer's answers (asking again would only cost). */
export interface PageMemory {
  /** "Type/id" → the resource the peer gave for it, or why it gave none. */
  fetched: Map<string, Resource | 'missing'>;
  fetchesLeft: number;
}

const key = (resourceType: string, id: string): string => `${resourceType}/${id}`;

function issuesOf(err: OperationOutcomeError): SkipRecord['issues'] {
  return (err.outcome.issue ?? [])
    .filter((i: OperationOutcomeIssue) => i.severity === 'error' || i.severity === 'fatal')
    .slice(0, 10)
    .map((i: OperationOutcomeIssue) => ({ code: i.code, ...(i.expression?.[0] ? { expression: i.expression[0].slice(0, 200) } : {}) }));
}

/** The peer's id as carebridge logs it: an id is [A-Za-z0-9-.], anything else is not quoted. */
function safeId(id: unknown): string {
  return typeof id === 'string' && /^[A-Za-z0-9\-.]{1,64}$/.test(id) ? id : '(not an id)';
}

export class ResourceImporter {
  private readonly tx: StoreTransaction;
  private readonly client: PeerClient;
  private readonly base: string;
  private readonly limits: ImportLimits;
  private readonly memory: PageMemory;
  /** Resources of the page itself (matches and includes), by "Type/id": no fetch needed. */
  private readonly inPage: Map<string, Resource>;
  /** Our id of each peer resource stored or found in this attempt. */
  private readonly ourIds = new Map<string, string>();
  /** Resources being imported further up: a reference back to one is a cycle, left absolute. */
  private readonly inProgress = new Set<string>();
  /** Peer resources found invalid in this page, not tried twice. */
  private readonly invalid = new Set<string>();
  /** The page entry being imported, to blame a refused write on. */
  private entryKey = '';
  readonly counts: ImportCounts = emptyCounts();

  constructor(options: { tx: StoreTransaction; client: PeerClient; fhirBaseUrl: string; limits: ImportLimits; memory: PageMemory; inPage: Map<string, Resource> }) {
    this.tx = options.tx;
    this.client = options.client;
    this.base = normalizeBaseUrl(options.fhirBaseUrl);
    this.limits = options.limits;
    this.memory = options.memory;
    this.inPage = options.inPage;
  }

  /** Imports one of the page's matches; a resource that cannot be stored is counted as skipped. */
  async importEntry(resource: Resource): Promise<WriteOutcome | undefined> {
    this.entryKey = key(resource.resourceType, safeId(resource.id));
    try {
      return (await this.importResource(resource, 0)).outcome;
    } catch (err) {
      if (err instanceof SkipResource) {
        this.counts.skipped.push(err.record);
        return undefined;
      }
      throw err;
    }
  }

  private async importResource(resource: Resource, depth: number): Promise<{ id: string; outcome: WriteOutcome }> {
    const type = resource.resourceType;
    const peerId = resource.id;
    if (typeof peerId !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(peerId)) {
      throw new SkipResource({ resourceType: type, peerId: safeId(peerId), reason: 'no-id', issues: [] });
    }
    const id = key(type, peerId);
    if (this.invalid.has(id)) {
      throw new SkipResource({ resourceType: type, peerId, reason: 'invalid', issues: [] });
    }
    if (!isSupportedType(type)) {
      throw new SkipResource({ resourceType: type, peerId, reason: 'invalid', issues: [{ code: 'not-supported', expression: 'resourceType' }] });
    }
    try {
      // The API's own check of a create or update body: R4, our profiles, our extra rules.
      checkBody(type, resource);
    } catch (err) {
      if (err instanceof OperationOutcomeError) {
        this.invalid.add(id);
        throw new SkipResource({ resourceType: type, peerId, reason: 'invalid', issues: issuesOf(err) });
      }
      throw err;
    }
    this.inProgress.add(id);
    try {
      const copy = await this.toOurCopy(resource, peerId, depth);
      const outcome = await this.write(copy, type, peerId);
      this.ourIds.set(id, outcome.id);
      this.counts[outcome.outcome === 'created' ? 'created' : outcome.outcome === 'updated' ? 'updated' : 'unchanged'] += 1;
      return outcome;
    } finally {
      this.inProgress.delete(id);
    }
  }

  /** Our copy: no peer id or version, the peer's id as an identifier, references to our copies. */
  private async toOurCopy(resource: Resource, peerId: string, depth: number): Promise<Resource> {
    const { id: _id, meta, ...rest } = structuredClone(resource) as Resource & { identifier?: Identifier[] };
    const system = originSystem(this.base, resource.resourceType);
    const copy = rest as Resource & { identifier?: Identifier[] };
    // A peer cannot name another of its resources as this one's origin: its identifier is ours to set.
    copy.identifier = [...(copy.identifier ?? []).filter((i) => i.system !== system), { system, value: peerId }];
    const { versionId: _v, lastUpdated: _l, ...keptMeta } = meta ?? {};
    if (Object.keys(keptMeta).length > 0) {
      copy.meta = keptMeta;
    }
    const holders: { reference: string; holder: Record<string, unknown> }[] = [];
    forEachReference(copy, (reference, holder) => holders.push({ reference, holder }));
    for (const { reference, holder } of holders) {
      const target = parsePeerReference(reference, this.base);
      if (target.kind !== 'peer') {
        continue; // contained, on another server, or not a literal reference
      }
      const ours = await this.resolve(target.resourceType, target.id, depth + 1);
      if (ours) {
        holder.reference = `${target.resourceType}/${ours}`;
      } else {
        // Kept meaning what it meant: the peer's resource, on the peer.
        holder.reference = `${this.base}/${target.resourceType}/${target.id}`;
        this.counts.unresolved += 1;
      }
    }
    return copy;
  }

  /** Our id of the peer's resource, storing it first when we have none; undefined when it cannot be had. */
  private async resolve(resourceType: string, peerId: string, depth: number): Promise<string | undefined> {
    const id = key(resourceType, peerId);
    const known = this.ourIds.get(id);
    if (known) {
      return known;
    }
    if (!isSupportedType(resourceType) || this.inProgress.has(id) || this.invalid.has(id)) {
      return undefined;
    }
    const found = await this.findOurs(resourceType, peerId);
    if (found) {
      this.ourIds.set(id, found);
      return found;
    }
    if (depth > this.limits.maxReferenceDepth) {
      return undefined;
    }
    const source = this.inPage.get(id) ?? (await this.fetch(resourceType, peerId));
    if (!source) {
      return undefined;
    }
    try {
      return (await this.importResource(source, depth)).id;
    } catch (err) {
      // An invalid target is not stored; the resource that points at it still is, pointing at the peer.
      if (err instanceof SkipResource) {
        this.counts.skippedTargets.push(err.record);
        return undefined;
      }
      throw err;
    }
  }

  private async findOurs(resourceType: string, peerId: string): Promise<string | undefined> {
    const system = originSystem(this.base, resourceType);
    const found = await this.tx.search({ resourceType: resourceType as Resource['resourceType'], filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${system}|${peerId}` }], count: 1 });
    return found.resources[0]?.id;
  }

  /** GET Type/id from the peer, within the page's budget. A 404 or 410 means there is none. */
  private async fetch(resourceType: string, peerId: string): Promise<Resource | undefined> {
    const id = key(resourceType, peerId);
    const remembered = this.memory.fetched.get(id);
    if (remembered) {
      return remembered === 'missing' ? undefined : remembered;
    }
    if (this.memory.fetchesLeft <= 0) {
      return undefined;
    }
    this.memory.fetchesLeft -= 1;
    let body: unknown;
    try {
      body = (await this.client.request('GET', { path: `${resourceType}/${peerId}` })).body;
    } catch (err) {
      if (err instanceof PeerError && (err.status === 404 || err.status === 410)) {
        this.memory.fetched.set(id, 'missing');
        return undefined;
      }
      throw err;
    }
    const resource = body as Partial<Resource> | undefined;
    if (!resource || typeof resource !== 'object' || resource.resourceType !== resourceType || resource.id !== peerId) {
      throw new PeerProtocolError(`the peer answered a read of ${resourceType}/${peerId} with ${resource && typeof resource === 'object' ? `a ${quoted(resource.resourceType)}` : 'something'} that is not it`);
    }
    this.counts.fetched += 1;
    this.memory.fetched.set(id, resource as Resource);
    return resource as Resource;
  }

  /** Updates our copy when we have one (a new version only if the content changed), else creates it under its origin identifier. */
  private async write(copy: Resource, resourceType: string, peerId: string): Promise<{ id: string; outcome: WriteOutcome }> {
    const system = originSystem(this.base, resourceType);
    try {
      const existing = await this.findOurs(resourceType, peerId);
      if (existing) {
        const { outcome } = await this.tx.update({ ...copy, id: existing } as Resource);
        return { id: existing, outcome };
      }
      // Conditional create: its key is the lock, so two polls storing the same resource at once
      // (two instances, or a late run overlapping) agree on one copy.
      const created = await this.tx.create(copy, { ifNoneExist: `identifier=${encodeURIComponent(`${system}|${peerId}`)}` });
      if (created.outcome !== 'existing') {
        return { id: created.version.id, outcome: created.outcome };
      }
      const { outcome } = await this.tx.update({ ...copy, id: created.version.id } as Resource);
      return { id: created.version.id, outcome };
    } catch (err) {
      if (err instanceof OperationOutcomeError) {
        throw new RefusedWrite(this.entryKey, { resourceType, peerId, reason: 'refused', issues: issuesOf(err) });
      }
      throw err;
    }
  }
}
