// fhir-router's MemoryRepository with the two behaviours a real FHIR server has and it lacks:
// a failed transaction leaves nothing behind, and an update that changes nothing is no new version.
import { deepEquals, stringify } from '@medplum/core';
import type { WithId } from '@medplum/core';
import type { UpdateResourceOptions } from '@medplum/fhir-router';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';

type Store<T> = Map<string, Map<string, T>>;

/** The resource without the fields the server writes, as JSON would carry it. */
function content(resource: Resource): unknown {
  const { versionId: _v, lastUpdated: _l, ...meta } = resource.meta ?? {};
  return JSON.parse(stringify({ ...resource, meta }));
}

export class PeerRepository extends MemoryRepository {
  private transactionDepth = 0;

  /**
   * MemoryRepository runs a transaction's callback with no undo (fhir-router 5.2.13, repo.ts
   * `withTransaction`: "does not support transactions"): a Bundle whose 5th entry fails kept
   * entries 1–4. Here the outermost transaction restores what was stored before it. It reads
   * MemoryRepository's private maps (`resources`, `history`); the peer runs one request at a
   * time (fhir-peer.ts), so no other request's writes are undone with it.
   */
  override async withTransaction<T>(callback: (repo: this) => Promise<T>): Promise<T> {
    if (this.transactionDepth > 0) {
      return callback(this);
    }
    const resources = this['resources'] as Store<Resource>;
    const history = this['history'] as Store<Resource[]>;
    // Stored objects are replaced on write, never changed in place: copying the maps is enough.
    const savedResources = new Map([...resources].map(([type, byId]) => [type, new Map(byId)]));
    const savedHistory = new Map([...history].map(([type, byId]) => [type, new Map([...byId].map(([id, versions]) => [id, [...versions]]))]));
    this.transactionDepth++;
    try {
      return await callback(this);
    } catch (err) {
      resources.clear();
      savedResources.forEach((byId, type) => resources.set(type, byId));
      history.clear();
      savedHistory.forEach((byId, type) => history.set(type, byId));
      throw err;
    } finally {
      this.transactionDepth--;
    }
  }

  /**
   * Servers like HAPI and Medplum's keep the current version when an update changes nothing, so a
   * plan pushed twice is one version, not two; MemoryRepository writes a new one every time.
   */
  override async updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    const existing = resource.id ? await this.readResource<T>(resource.resourceType, resource.id).catch(() => undefined) : undefined;
    const preconditionHolds = !options?.ifMatch || options.ifMatch === existing?.meta?.versionId;
    if (existing && preconditionHolds && deepEquals(content(existing), content(resource))) {
      return existing as WithId<T>;
    }
    return super.updateResource(resource, options);
  }
}
