// GET /transitions?patient=…&status=…&agency=…&_count=…: the transitions the caller may see, a
// page at a time, newest first, with the store's keyset cursor (stable while data arrives).
import type { CarePlan, Organization, Resource, Task } from '@medplum/fhirtypes';
import { TRANSITION_CATEGORY } from '../../mapping/careplan.ts';
import { readPlanItem } from '../../mapping/identifiers.ts';
import { SYSTEMS } from '../../model/terminology.ts';
import type { PlanStatus } from '../../model/transition-plan.ts';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import { badRequestError } from '../fhir/request.ts';
import type { AgencyRef } from './state.ts';
import { readReferences, searchAll } from './collect.ts';

export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;
const PARAMETERS = new Set(['patient', 'status', 'agency', '_count', '_cursor']);
/**
 * The statuses a transition's CarePlan takes (the plan's status; /openapi.json's pattern for
 * `status` names the same): any other value matches nothing, so it is a mistake, not a filter.
 * A record, so a status added to PlanStatus and forgotten here does not compile.
 */
const CAREPLAN_STATUSES = Object.keys({ draft: true, active: true, 'on-hold': true, revoked: true, completed: true, 'entered-in-error': true } satisfies Record<PlanStatus, true>);

export interface TransitionSummary {
  id: string;
  carePlan: string;
  patient?: string;
  title?: string;
  status: string;
  created?: string;
  lastUpdated?: string;
  referrals: { task: string; agency: AgencyRef; status: string }[];
}

export interface TransitionList {
  items: TransitionSummary[];
  links: { self: string; next?: string; previous?: string };
  /** What was read, for the request's AuditEvent. */
  disclosed: Resource[];
}

/** "system|value" → an identifier search; "Type/id" or a bare id → a reference search. */
function referenceOrIdentifier(name: string, type: string, value: string): [string, string] {
  if (value.includes('|')) {
    return [`${name}:${type}.identifier`, value];
  }
  const id = value.startsWith(`${type}/`) ? value.slice(type.length + 1) : value;
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) {
    throw badRequestError(`${name === 'subject' ? 'patient' : 'agency'} must be ${type}/id, an id or an identifier system|value`);
  }
  return [name, `${type}/${id}`];
}

function criteria(query: [string, string][]): { search: [string, string][]; count: number; cursor?: string } {
  const search: [string, string][] = [['category', `${SYSTEMS.carePlanCategory}|${TRANSITION_CATEGORY}`], ['_sort', '-_lastUpdated']];
  let count = DEFAULT_PAGE;
  let cursor: string | undefined;
  for (const [name, value] of query) {
    if (!PARAMETERS.has(name)) {
      throw badRequestError(`Unknown parameter "${name.slice(0, 40)}": /transitions takes patient, status, agency, _count and _cursor`, name.slice(0, 40));
    }
    if (value === '') {
      throw badRequestError(`${name} needs a value`, name);
    }
    switch (name) {
      case 'patient':
        search.push(referenceOrIdentifier('subject', 'Patient', value));
        break;
      case 'status': {
        const unknown = value.split(',').find((s) => !CAREPLAN_STATUSES.includes(s));
        if (unknown !== undefined) {
          throw badRequestError(`status ${JSON.stringify(unknown.slice(0, 40))} is not a CarePlan status: use ${CAREPLAN_STATUSES.join(', ')}, or several separated by commas`, 'status');
        }
        search.push(['status', value]);
        break;
      }
      case 'agency': {
        // Referred to the agency: the plan's activities include a ServiceRequest it performs.
        const [param, target] = referenceOrIdentifier('performer', 'Organization', value);
        search.push([`activity-reference:ServiceRequest.${param}`, target]);
        break;
      }
      case '_count':
        count = Number(value);
        if (!Number.isInteger(count) || count < 1 || count > MAX_PAGE) {
          throw badRequestError(`_count must be an integer from 1 to ${MAX_PAGE}`, '_count');
        }
        break;
      default:
        cursor = value;
    }
  }
  search.push(['_count', String(count)]);
  return { search, count, cursor };
}

export async function listTransitions(store: StoreTransaction, query: [string, string][], selfUrl: string): Promise<TransitionList> {
  const { search, cursor } = criteria(query);
  const page = await searchAll(store, 'CarePlan', search, cursor);
  const carePlans = page.resources as CarePlan[];
  const tasks = carePlans.length > 0 ? ((await searchAll(store, 'Task', [['based-on', carePlans.map((c) => `CarePlan/${c.id}`).join(',')], ['_count', '1000']])).resources as Task[]) : [];
  const referralTasks = tasks.filter((t) => readPlanItem(t.identifier)?.kind === 'referral-task');
  const owners = (await readReferences(store, new Set(referralTasks.map((t) => t.owner?.reference).filter((r): r is string => r !== undefined)))) as Organization[];
  const agency = (reference: string | undefined, display: string | undefined): AgencyRef => {
    const org = owners.find((o) => `Organization/${o.id}` === reference);
    const identifier = org?.identifier?.[0];
    return { ...(identifier ? { identifier: { system: identifier.system, value: identifier.value } } : {}), display: org?.name ?? display };
  };
  const items = carePlans.map((c): TransitionSummary => ({
    id: c.id as string,
    carePlan: `CarePlan/${c.id}`,
    patient: c.subject?.reference,
    title: c.title,
    status: c.status,
    created: c.created,
    lastUpdated: c.meta?.lastUpdated,
    referrals: referralTasks
      .filter((t) => t.basedOn?.some((b) => b.reference === `CarePlan/${c.id}`))
      .map((t) => ({ task: `Task/${t.id}`, agency: agency(t.owner?.reference, t.owner?.display), status: t.status })),
  }));
  const kept = new URLSearchParams(query.filter(([k]) => k !== '_cursor'));
  const pageUrl = (c: string | undefined): string | undefined => (c === undefined ? undefined : `${selfUrl}?${new URLSearchParams([...kept, ['_cursor', c]]).toString()}`);
  const self = cursor === undefined ? `${selfUrl}${kept.size > 0 ? `?${kept.toString()}` : ''}` : (pageUrl(cursor) as string);
  return {
    items,
    links: { self, ...(page.next ? { next: pageUrl(page.next) } : {}), ...(page.previous ? { previous: pageUrl(page.previous) } : {}) },
    disclosed: [...carePlans, ...referralTasks],
  };
}
