// The resources of one transition as the caller sees them: its CarePlan, everything the CarePlan
// references (followed transitively: CareTeam and members, Goals, activities, Patient, Encounter,
// Conditions, Organizations, Locations), the Tasks based on it (the referrals) and the Coverage
// the plan brought. Every read goes through the caller's view of the store, so what the caller
// may not see (another agency's referral of a broadcast) is simply not there.
import type { CarePlan, Coverage, Resource } from '@medplum/fhirtypes';
import { isTransitionCarePlan } from '../../mapping/careplan.ts';
import { planKey, readPlanItem } from '../../mapping/identifiers.ts';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import { forEachReference } from '../fhir/references.ts';
import { screenSearch } from '../fhir/search-params.ts';
import { isSupportedType } from '../fhir/supported.ts';

/** CarePlan → CareTeam → PractitionerRole → Organization is three hops; one more for safety, no more (no wandering). */
const MAX_DEPTH = 4;
/** Ids per `_id` search; well under the store's page ceiling. */
const IDS_PER_SEARCH = 200;
/** A transition's Tasks based on its CarePlan: referrals plus caregiver tasks, far below this. */
const MAX_BASED_ON = 1000;

export interface TransitionResources {
  carePlan: CarePlan;
  /** The CarePlan first, then every other resource once, by type and id. */
  resources: Resource[];
}

/** A search the code composes itself: parameters carebridge does not know are a bug here, not a client's mistake. */
export async function searchAll(store: StoreTransaction, type: string, query: [string, string][], cursor?: string): Promise<{ resources: Resource[]; next?: string; previous?: string }> {
  const { request, ignored } = screenSearch(type, query);
  if (ignored.length > 0) {
    throw new Error(`internal search on ${type} uses unknown parameters ${ignored.join(', ')}`);
  }
  const result = await store.search(request, cursor === undefined ? undefined : { cursor });
  return { resources: result.resources, next: result.next, previous: result.previous };
}

/** Reads "Type/id" references as the caller, a few searches per type; hidden or missing ones are left out. */
export async function readReferences(store: StoreTransaction, references: Iterable<string>): Promise<Resource[]> {
  const byType = new Map<string, string[]>();
  for (const reference of references) {
    const match = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
    if (match && isSupportedType(match[1] as string)) {
      byType.set(match[1] as string, [...(byType.get(match[1] as string) ?? []), match[2] as string]);
    }
  }
  const out: Resource[] = [];
  for (const [type, ids] of byType) {
    for (let i = 0; i < ids.length; i += IDS_PER_SEARCH) {
      const chunk = ids.slice(i, i + IDS_PER_SEARCH);
      out.push(...(await searchAll(store, type, [['_id', chunk.join(',')], ['_count', String(chunk.length)]])).resources);
    }
  }
  return out;
}

const key = (r: Resource): string => `${r.resourceType}/${r.id}`;

/** The transition whose CarePlan has this id, or undefined when there is none the caller may see. */
export async function collectTransition(store: StoreTransaction, id: string): Promise<TransitionResources | undefined> {
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) {
    return undefined;
  }
  const [carePlan] = (await readReferences(store, [`CarePlan/${id}`])) as CarePlan[];
  if (!carePlan || !isTransitionCarePlan(carePlan)) {
    return undefined;
  }
  const found = new Map<string, Resource>([[key(carePlan), carePlan]]);
  const ownKey = planKeyOf(carePlan);
  const basedOn = await searchAll(store, 'Task', [['based-on', `CarePlan/${id}`], ['_count', String(MAX_BASED_ON)]]);
  const patient = carePlan.subject?.reference;
  const coverage = patient?.startsWith('Patient/') ? await searchAll(store, 'Coverage', [['beneficiary', patient], ['_count', String(MAX_BASED_ON)]]) : { resources: [] };
  // Coverage is not referenced by the CarePlan: the plan's own carry its plan key.
  const planCoverage = (coverage.resources as Coverage[]).filter((c) => ownKey !== undefined && readPlanItem(c.identifier)?.key === ownKey);
  let frontier: Resource[] = [carePlan, ...basedOn.resources, ...planCoverage];
  frontier.forEach((r) => found.set(key(r), r));
  for (let depth = 0; depth < MAX_DEPTH && frontier.length > 0; depth++) {
    const wanted = new Set<string>();
    for (const resource of frontier) {
      forEachReference(resource, (reference) => {
        if (!found.has(reference)) {
          wanted.add(reference);
        }
      });
    }
    frontier = (await readReferences(store, wanted)).filter((r) => !found.has(key(r)));
    frontier.forEach((r) => found.set(key(r), r));
  }
  const rest = [...found.values()].filter((r) => r !== carePlan).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return { carePlan, resources: [carePlan, ...rest] };
}

/** The plan key of a transition CarePlan: from its official identifier, the plan's own (mapping/identifiers.ts). */
export function planKeyOf(carePlan: CarePlan): string | undefined {
  const official = carePlan.identifier?.find((i) => i.use === 'official') ?? carePlan.identifier?.[0];
  return official?.system && official.value ? planKey({ system: official.system, value: official.value }) : undefined;
}
