import { describe, expect, it } from '@jest/globals';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { sequentialUuids } from '../../src/mapping/context.ts';
import { toFhir } from '../../src/mapping/to-fhir.ts';
import { PROFILES } from '../../src/model/profiles.ts';
import { validateFhirBundle, validateFhirResource, validateMappedBundle } from '../../src/validation/fhir-validator.ts';
import { readPlan, validPlanNames } from '../support/fixtures.ts';

function errorPaths(issues: { severity?: string; expression?: string[] }[]): string[] {
  return issues.filter((i) => i.severity === 'error').flatMap((i) => i.expression ?? []);
}

function mapped(): Bundle {
  return toFhir(readPlan('heart-failure-home-health.json'), sequentialUuids());
}

function entryOf(bundle: Bundle, match: (r: Resource) => boolean): { index: number; resource: Record<string, unknown> } {
  const index = bundle.entry?.findIndex((e) => e.resource && match(e.resource)) ?? -1;
  return { index, resource: bundle.entry?.[index]?.resource as unknown as Record<string, unknown> };
}

const isReferralTask = (r: Resource): boolean => r.meta?.profile?.includes(PROFILES.referralTask) === true;

describe('the mapped tier (carebridge checks without the Medplum walk)', () => {
  it.each(validPlanNames())('accepts the Bundle %s maps to', (name) => {
    expect(validateMappedBundle(toFhir(readPlan(name), sequentialUuids()))).toEqual([]);
  });

  // Each mistake the mapper could make is refused by both tiers, at the same place.
  const mutations: [string, (b: Bundle) => string][] = [
    ['a CarePlan without subject', (b) => { const e = entryOf(b, (r) => r.resourceType === 'CarePlan'); delete e.resource.subject; return `Bundle.entry[${e.index}].resource.subject`; }],
    ['a referral Task whose intent is not the fixed "order"', (b) => { const e = entryOf(b, isReferralTask); e.resource.intent = 'plan'; return `Bundle.entry[${e.index}].resource.intent`; }],
    ['a referral Task whose code is not "fulfill"', (b) => { const e = entryOf(b, isReferralTask); e.resource.code = { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'approve' }] }; return `Bundle.entry[${e.index}].resource.code`; }],
    ['a Coverage without payor', (b) => { const e = entryOf(b, (r) => r.resourceType === 'Coverage'); delete e.resource.payor; return `Bundle.entry[${e.index}].resource.payor`; }],
    ['a booked Appointment without end', (b) => { const e = entryOf(b, (r) => r.resourceType === 'Appointment'); delete e.resource.end; return `Bundle.entry[${e.index}].resource.end`; }],
    ['a status outside its required value set', (b) => { const e = entryOf(b, (r) => r.resourceType === 'Goal'); e.resource.lifecycleStatus = 'bogus'; return `Bundle.entry[${e.index}].resource.lifecycleStatus`; }],
    ['a referral Task owned by a Patient', (b) => { const e = entryOf(b, isReferralTask); e.resource.owner = { reference: (e.resource.for as { reference: string }).reference }; return `Bundle.entry[${e.index}].resource.owner.reference`; }],
    ['a blank description', (b) => { const e = entryOf(b, (r) => r.resourceType === 'Goal'); e.resource.description = { text: ' ' }; return `Bundle.entry[${e.index}].resource.description.text`; }],
    ['a Coverage period without its start (a profile constraint on a data type child)', (b) => { const e = entryOf(b, (r) => r.resourceType === 'Coverage'); e.resource.period = { end: '2027-01-01' }; return `Bundle.entry[${e.index}].resource.period.start`; }],
    ['a reference that is not a string', (b) => { const e = entryOf(b, (r) => r.resourceType === 'CarePlan'); e.resource.subject = { reference: 5 }; return `Bundle.entry[${e.index}].resource.subject.reference`; }],
    ['a bare value where a Reference belongs', (b) => { const e = entryOf(b, (r) => r.resourceType === 'CarePlan'); e.resource.subject = 'Patient/x'; return `Bundle.entry[${e.index}].resource.subject`; }],
    ['two values of one choice element', (b) => { const e = entryOf(b, (r) => r.resourceType === 'Goal'); e.resource.startDate = '2026-01-01'; e.resource.startCodeableConcept = { text: 'discharge' }; return `Bundle.entry[${e.index}].resource.startCodeableConcept`; }],
    ['a single value given as an array', (b) => { const e = entryOf(b, (r) => r.resourceType === 'CarePlan'); e.resource.subject = [e.resource.subject]; return `Bundle.entry[${e.index}].resource.subject`; }],
  ];

  it.each(mutations)('refuses %s, as full validation does', (_name, mutate) => {
    const bundle = mapped();
    const path = mutate(bundle);
    expect(errorPaths(validateMappedBundle(bundle))).toContain(path);
    expect(errorPaths(validateFhirBundle(bundle)).some((p) => p === path || p.startsWith(`${path}.`) || path.startsWith(p))).toBe(true);
  });
});

describe('full validation of a resource that claims a carebridge profile', () => {
  it('still reports what base R4 refuses (the profile snapshot holds the base)', () => {
    const bundle = mapped();
    const carePlan = entryOf(bundle, (r) => r.resourceType === 'CarePlan').resource;
    const broken = { ...carePlan, created: '2026-13-45', frobnicate: true } as unknown as Resource;
    const texts = validateFhirResource(broken).filter((i) => i.severity === 'error').map((i) => i.details?.text);
    expect(texts).toEqual(expect.arrayContaining([expect.stringMatching(/^CarePlan.created: /), expect.stringMatching(/frobnicate/)]));
  });
});
