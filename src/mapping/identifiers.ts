// Identity of the resources a plan makes. Resources that belong to one plan (its tasks, follow-ups,
// referrals, ...) carry a carebridge plan-item identifier: "<plan key>/<kind>/<local id>", where the
// plan key is a short hash of the plan's own identifier. Pushing the same plan again therefore
// finds the same resources, and two hospitals' plans never collide.
import { createHash } from 'node:crypto';
import type { Identifier } from '@medplum/fhirtypes';
import type { PlanIdentifier } from '../model/transition-plan.ts';
import { ENCOUNTER_TRANSITION_SYSTEM, PLAN_ITEM_SYSTEM } from '../model/terminology.ts';

export type PlanItemKind =
  | 'careplan'
  | 'care-team'
  | 'member'
  | 'encounter'
  | 'diagnosis'
  | 'goal'
  | 'caregiver-task'
  | 'medication'
  | 'follow-up'
  | 'location'
  | 'referral'
  | 'referral-task'
  | 'coverage'
  | 'deadline';

/** 16 hex digits = 64 bits: a collision needs ~4 billion plans. */
export function planKey(plan: PlanIdentifier): string {
  return createHash('sha256').update(`${plan.system}|${plan.value}`).digest('hex').slice(0, 16);
}

export function planItemIdentifier(key: string, kind: PlanItemKind, localId: string): Identifier {
  return { system: PLAN_ITEM_SYSTEM, value: `${key}/${kind}/${localId}` };
}

/** The local id and kind of a plan-item identifier, or undefined if the resource has none. */
export function readPlanItem(identifiers: Identifier[] | undefined): { key: string; kind: string; localId: string } | undefined {
  const id = identifiers?.find((i) => i.system === PLAN_ITEM_SYSTEM);
  const match = id?.value ? /^([0-9a-f]{16})\/([a-z-]+)\/(.+)$/.exec(id.value) : null;
  return match ? { key: match[1] as string, kind: match[2] as string, localId: match[3] as string } : undefined;
}

/**
 * The secondary identifier of the transition CarePlan of a hospital stay, from the hospital's
 * encounter identifier: one stay, one transition, whether a plan push or a discharge
 * notification opened it first (see api/fhir/process-message.ts).
 */
export function transitionIdentifier(encounter: PlanIdentifier): Identifier {
  return { use: 'secondary', system: ENCOUNTER_TRANSITION_SYSTEM, value: planKey(encounter) };
}

/** FHIR token search value for an identifier: system|value, with | , $ and \ escaped. */
export function identifierToken(identifier: Identifier): string {
  const escape = (s: string): string => s.replace(/([\\|,$])/g, '\\$1');
  return identifier.system ? `${escape(identifier.system)}|${escape(identifier.value ?? '')}` : escape(identifier.value ?? '');
}

/** A conditional query on identifiers: a resource that has any of them matches (FHIR's comma is OR). */
export function identifierQuery(resourceType: string, identifier: Identifier, ...alternatives: Identifier[]): string {
  return `${resourceType}?identifier=${encodeURIComponent([identifier, ...alternatives].map(identifierToken).join(','))}`;
}
