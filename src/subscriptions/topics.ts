// The subscription topics carebridge offers (Subscriptions R5 Backport IG, R4 form): R4 has no
// SubscriptionTopic resource, so each topic is a canonical URL, announced in the
// CapabilityStatement and described by a Basic resource carrying the R5 SubscriptionTopic
// cross-version extensions, as the IG's R4 examples do. Pure data and functions: no I/O.
import type { Basic, Extension, Resource } from '@medplum/fhirtypes';
import type { Task } from '@medplum/fhirtypes';
import { CAREBRIDGE_BASE, SYSTEMS } from '../model/terminology.ts';

export interface SubscriptionTopicDefinition {
  /** The canonical URL a Subscription names in `criteria`. */
  url: string;
  /** The id of the Basic resource that describes it (GET /fhir/Basic/{id}). */
  id: string;
  title: string;
  description: string;
  /** The one resource type whose writes trigger it. */
  resourceType: 'Task' | 'CarePlan' | 'Appointment';
  /** Which writes trigger it (deletions trigger none of carebridge's topics). */
  interactions: readonly ('create' | 'update')[];
  /** The search parameters a Subscription may filter on (backport-filter-criteria). */
  filters: readonly { name: string; description: string }[];
  /** Only resources that pass this are events of the topic (referral Tasks, not care to-dos). */
  matches: (resource: Resource) => boolean;
}

const PATIENT_FILTER = { name: 'patient', description: 'The patient the resource is about: Patient/{id}.' };

/** A referral Task: intent order (the Gravity referral pattern; carebridge's care to-dos have intent plan). */
function isReferral(resource: Resource): boolean {
  return resource.resourceType === 'Task' && resource.intent === 'order';
}

/** A TCM deadline Task (workflow/tcm-clock.ts): its code from the tcm-deadline CodeSystem and a due time. */
function isDeadline(resource: Resource): boolean {
  const task = resource as Task;
  return resource.resourceType === 'Task' && task.restriction?.period?.end !== undefined && (task.code?.coding ?? []).some((c) => c.system === SYSTEMS.tcmDeadline);
}

export const SUBSCRIPTION_TOPICS: readonly SubscriptionTopicDefinition[] = [
  {
    url: `${CAREBRIDGE_BASE}/SubscriptionTopic/referral-task`,
    id: 'topic-referral-task',
    title: 'Referral Task created or changed',
    description: 'A referral Task (intent order) of a care transition was created or updated: placed with an agency, accepted, declined, cancelled, in progress, completed.',
    resourceType: 'Task',
    interactions: ['create', 'update'],
    filters: [
      { name: 'owner', description: 'The organization the referral is placed with: Organization/{id}.' },
      { name: 'requester', description: 'The organization that asks: Organization/{id}.' },
      { name: 'status', description: 'The Task status (comma-separated: any of them).' },
      PATIENT_FILTER,
    ],
    matches: isReferral,
  },
  {
    url: `${CAREBRIDGE_BASE}/SubscriptionTopic/transition-careplan`,
    id: 'topic-transition-careplan',
    title: 'Transition CarePlan created or changed',
    description: 'The discharge care plan of a transition was created or updated.',
    resourceType: 'CarePlan',
    interactions: ['create', 'update'],
    filters: [PATIENT_FILTER],
    matches: () => true,
  },
  {
    url: `${CAREBRIDGE_BASE}/SubscriptionTopic/transition-appointment`,
    id: 'topic-transition-appointment',
    title: 'Transition Appointment created or changed',
    description: 'A follow-up Appointment of a transition was booked, moved or cancelled.',
    resourceType: 'Appointment',
    interactions: ['create', 'update'],
    filters: [PATIENT_FILTER],
    matches: () => true,
  },
  {
    url: `${CAREBRIDGE_BASE}/SubscriptionTopic/tcm-deadline`,
    id: 'topic-tcm-deadline',
    title: 'TCM deadline created, met or overdue',
    description: 'A transitional-care deadline Task of a transition was created, met (completed with its evidence), marked overdue, or its 30-day period ended.',
    resourceType: 'Task',
    interactions: ['create', 'update'],
    filters: [
      { name: 'owner', description: 'The care coordinator who owns the deadline: Practitioner/{id}.' },
      { name: 'status', description: 'The Task status (comma-separated: any of them).' },
      { name: 'business-status', description: 'overdue or period-ended (the tcm-deadline code).' },
      PATIENT_FILTER,
    ],
    matches: isDeadline,
  },
];

const BY_URL = new Map(SUBSCRIPTION_TOPICS.map((topic) => [topic.url, topic]));

export function topicByUrl(url: string): SubscriptionTopicDefinition | undefined {
  return BY_URL.get(url);
}

/** Types whose writes may be events of some topic: every other write costs the router nothing. */
export const TOPIC_RESOURCE_TYPES: ReadonlySet<string> = new Set(SUBSCRIPTION_TOPICS.map((topic) => topic.resourceType));

const R5 = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic';
const R4B = 'http://hl7.org/fhir/4.3/StructureDefinition/extension-SubscriptionTopic';

/** The topic as the IG's R4 Basic form (cross-version extensions of SubscriptionTopic). */
export function topicAsBasic(topic: SubscriptionTopicDefinition): Basic {
  const trigger: Extension = {
    url: `${R4B}.resourceTrigger`,
    extension: [
      { url: 'description', valueMarkdown: topic.description },
      { url: 'resource', valueUri: `http://hl7.org/fhir/StructureDefinition/${topic.resourceType}` },
      ...topic.interactions.map((code) => ({ url: 'supportedInteraction', valueCode: code })),
    ],
  };
  const filters: Extension[] = topic.filters.map((filter) => ({
    url: `${R4B}.canFilterBy`,
    extension: [
      { url: 'description', valueMarkdown: filter.description },
      { url: 'resource', valueUri: topic.resourceType },
      { url: 'filterParameter', valueString: filter.name },
    ],
  }));
  return {
    resourceType: 'Basic',
    id: topic.id,
    extension: [
      { url: `${R5}.url`, valueUri: topic.url },
      { url: `${R5}.title`, valueString: topic.title },
      { url: `${R5}.description`, valueMarkdown: topic.description },
      trigger,
      ...filters,
      { url: `${R4B}.notificationShape`, extension: [{ url: 'resource', valueUri: topic.resourceType }] },
    ],
    modifierExtension: [{ url: `${R5}.status`, valueCode: 'active' }],
    code: { coding: [{ system: 'http://hl7.org/fhir/fhir-types', code: 'SubscriptionTopic' }] },
  };
}
