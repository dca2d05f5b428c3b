// Who a change concerns, for every router (peers and subscriptions alike): a tenant that may see the
// resource now, and the organization a Task is assigned to — it hears of its own referral also when
// the change (a cancellation) ended its sight of it.
import type { Resource, Task } from '@medplum/fhirtypes';
import type { StoreCaller } from '../../store/access.ts';
import type { StoredVersion } from '../../store/fhir-store.ts';
import type { RoutingContext } from '../../store/outbox.ts';

/** A caller's Organization ids, looked up once per routed transaction. */
const organizationIds = new WeakMap<RoutingContext, Map<StoreCaller, Promise<readonly string[]>>>();

function organizationIdsOf(context: RoutingContext, caller: StoreCaller): Promise<readonly string[]> {
  let byCaller = organizationIds.get(context);
  if (!byCaller) {
    byCaller = new Map();
    organizationIds.set(context, byCaller);
  }
  let ids = byCaller.get(caller);
  if (!ids) {
    ids = context.organizationIdsOf(caller);
    byCaller.set(caller, ids);
  }
  return ids;
}

function assignedTo(resource: Resource | undefined, ids: readonly string[]): boolean {
  const owner = (resource as Task | undefined)?.owner?.reference;
  return resource?.resourceType === 'Task' && owner !== undefined && ids.some((id) => owner === `Organization/${id}`);
}

export async function concerns(context: RoutingContext, caller: StoreCaller, version: StoredVersion): Promise<boolean> {
  if (await context.visibleTo(caller, version.resourceType, version.id)) {
    return true;
  }
  return version.resourceType === 'Task' && assignedTo(version.resource, await organizationIdsOf(context, caller));
}
