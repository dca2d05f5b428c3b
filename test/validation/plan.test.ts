import { describe, expect, it } from '@jest/globals';
import type { TransitionPlan } from '../../src/model/transition-plan.ts';
import { parseUntrustedJson } from '../../src/validation/json-input.ts';
import { isValidNpi } from '../../src/validation/plan-rules.ts';
import { validatePlan } from '../../src/validation/plan.ts';
import { readJson, readPlan, validPlanNames } from '../support/fixtures.ts';

const expected = readJson('invalid/expected.json') as Record<string, { location: string; code: string; text: string }[]>;

function errorsOf(value: unknown): { location: string; code: string; text: string }[] {
  return validatePlan(value)
    .issues.filter((i) => i.severity === 'error')
    .map((i) => ({ location: i.location?.[0] ?? '', code: i.code, text: i.details?.text ?? '' }));
}

function heartFailure(): TransitionPlan {
  return structuredClone(readPlan('heart-failure-home-health.json'));
}

describe('validatePlan', () => {
  it.each(validPlanNames())('accepts %s without any issue', (name) => {
    const result = validatePlan(readPlan(name));
    expect(result.issues).toEqual([]);
    expect(result.plan).toBeDefined();
  });

  it.each(Object.keys(expected))('refuses invalid/%s with the error it must give', (name) => {
    const errors = errorsOf(readJson(`invalid/${name}`));
    const want = expected[name] ?? [];
    expect(errors).toHaveLength(want.length);
    want.forEach((w, i) => {
      expect(errors[i]?.location).toBe(w.location);
      expect(errors[i]?.code).toBe(w.code);
      expect(errors[i]?.text).toContain(w.text);
    });
    expect(validatePlan(readJson(`invalid/${name}`)).plan).toBeUndefined();
  });

  it('reports every schema error at once, each with its JSON pointer and FHIRPath-style path', () => {
    const plan = heartFailure() as unknown as Record<string, unknown>;
    plan.status = 'bogus';
    plan.careTeam = 'everyone';
    delete plan.created;
    const errors = validatePlan(plan).issues;
    expect(errors.map((e) => e.location?.[0]).sort()).toEqual(['/careTeam', '/created', '/status']);
    expect(errors.find((e) => e.location?.[0] === '/careTeam')?.expression).toEqual(['TransitionPlan.careTeam']);
  });

  it('names the path of a wrong type deep inside the plan', () => {
    const plan = heartFailure() as unknown as { caregiverTasks: { frequency: { count: unknown } }[] };
    plan.caregiverTasks[0]!.frequency.count = 'twice';
    expect(errorsOf(plan)).toEqual([{ location: '/caregiverTasks/0/frequency/count', code: 'value', text: '/caregiverTasks/0/frequency/count: must be an integer' }]);
  });

  it.each([
    ['2026-02-30', 'an impossible day'],
    ['2026-13-01', 'an impossible month'],
    ['20261120', 'no separators'],
    ['11/20/2026', 'a US-style date'],
  ])('refuses the birth date %s (%s)', (birthDate) => {
    const plan = heartFailure();
    plan.patient.birthDate = birthDate;
    expect(errorsOf(plan)).toEqual([{ location: '/patient/birthDate', code: 'value', text: '/patient/birthDate: is not a valid date' }]);
  });

  it('refuses a discharge date-time without a UTC offset', () => {
    const plan = heartFailure();
    plan.hospitalStay.dischargedAt = '2026-11-10T14:00:00';
    expect(errorsOf(plan).map((e) => e.location)).toEqual(['/hospitalStay/dischargedAt']);
  });

  it('refuses blank strings', () => {
    const plan = heartFailure();
    plan.patient.name.family = '   ';
    expect(errorsOf(plan)).toEqual([{ location: '/patient/name/family', code: 'value', text: '/patient/name/family: must not be blank' }]);
  });

  it('refuses text that is not well-formed Unicode (a lone surrogate), and takes a pair', () => {
    const plan = heartFailure();
    plan.patient.identifiers[0] = { system: 'https://hospital.example/mrn', value: 'MRN-\ud800' };
    expect(errorsOf(plan)).toEqual([{ location: '/patient/identifiers/0/value', code: 'value', text: '/patient/identifiers/0/value: is not well-formed Unicode (a lone surrogate)' }]);
    plan.patient.identifiers[0] = { system: 'https://hospital.example/mrn', value: 'MRN-\ud83d\ude00' };
    expect(errorsOf(plan)).toEqual([]);
  });

  it('refuses control characters (NUL, …) that no FHIR string may hold, at the plan\'s own field; takes tabs and line breaks', () => {
    const plan = heartFailure();
    plan.title = 'Heart failure\u0000 plan';
    expect(errorsOf(plan)).toEqual([{ location: '/title', code: 'value', text: '/title: holds a control character (such as NUL), which FHIR text may not' }]);
    plan.title = 'Heart failure\u001b[31m plan';
    expect(errorsOf(plan)).toHaveLength(1);
    plan.title = 'Heart failure\tplan\r\nsecond line';
    expect(errorsOf(plan)).toEqual([]);
  });

  it('refuses a root that is not an object', () => {
    for (const value of [null, [], 'plan', 42]) {
      expect(errorsOf(value)).toEqual([{ location: '/', code: 'value', text: '/: must be an object' }]);
    }
  });

  it('refuses a __proto__ key before the schema sees it', () => {
    const text = JSON.stringify(heartFailure()).replace('"identifier":', '"__proto__":{"admin":true},"identifier":');
    expect(() => parseUntrustedJson(text)).toThrow(/Forbidden property name "__proto__"/);
  });

  it('refuses references to care team members, goals and agencies that do not exist', () => {
    const plan = heartFailure();
    plan.author = 'nobody';
    plan.caregiverTasks![0]!.performer = 'ghost';
    plan.followUps![0]!.with = 'ghost';
    const locations = errorsOf(plan).map((e) => e.location);
    expect(locations).toEqual(expect.arrayContaining(['/author', '/caregiverTasks/0/performer', '/followUps/0/with']));
  });

  it('requires the author to be the discharge planner', () => {
    const plan = heartFailure();
    plan.author = plan.careTeam.find((m) => m.role === 'care-coordinator')!.id;
    expect(errorsOf(plan)[0]?.text).toMatch(/the author must be the discharge planner/);
  });

  it('requires a family caregiver to say how they are related to the patient', () => {
    const plan = heartFailure();
    const caregiver = plan.careTeam.find((m) => m.role === 'family-caregiver')!;
    delete caregiver.relationship;
    expect(errorsOf(plan)[0]).toMatchObject({ code: 'required', text: expect.stringMatching(/needs their relationship/) });
  });

  it('refuses duplicate item ids', () => {
    const plan = heartFailure();
    plan.goals!.push({ ...plan.goals![0]! });
    expect(errorsOf(plan)[0]?.text).toMatch(/id ".*" is already used by \/goals\/0/);
  });

  it('refuses a threshold in the wrong unit and one whose low is not below its high', () => {
    const plan = heartFailure();
    const task = plan.caregiverTasks!.find((t) => t.kind === 'vital-signs-monitoring')!;
    task.thresholds = [
      { vitalSign: 'heart-rate', low: 50, high: 120, unit: 'mm[Hg]' },
      { vitalSign: 'body-weight', low: 80, high: 70, unit: 'kg' },
    ];
    const texts = errorsOf(plan).map((e) => e.text);
    expect(texts).toEqual([expect.stringMatching(/heart-rate is measured in \/min/), expect.stringMatching(/low must be below high/)]);
  });

  it('refuses an organization described two different ways under one identifier, whatever the key order', () => {
    const plan = heartFailure();
    const hospital = plan.hospitalStay.dischargingOrganization;
    const member = plan.careTeam[0]!;
    member.organization = { name: hospital.name, identifier: { value: hospital.identifier.value, system: hospital.identifier.system }, ...(hospital.telecom ? { telecom: hospital.telecom } : {}) };
    expect(errorsOf(plan)).toEqual([]);
    member.organization = { ...member.organization, name: 'Another name' };
    expect(errorsOf(plan)[0]?.text).toMatch(/different name or telecom/);
  });

  it('checks NPI check digits', () => {
    expect(isValidNpi('1234567893')).toBe(true); // the example NPI CMS publishes
    expect(isValidNpi('1234567890')).toBe(false);
    expect(isValidNpi('123456789')).toBe(false);
    const plan = heartFailure();
    const clinician = plan.careTeam.find((m) => m.identifier?.system === 'http://hl7.org/fhir/sid/us-npi')!;
    clinician.identifier!.value = '1234567890';
    expect(errorsOf(plan)[0]?.text).toMatch(/not a valid NPI/);
  });

  it('treats an empty optional list as none', () => {
    const plan = heartFailure();
    const withEmpty = { ...plan, goals: [], caregiverTasks: (plan.caregiverTasks ?? []).map((t) => ({ ...t, goals: undefined })) };
    const result = validatePlan(JSON.parse(JSON.stringify(withEmpty)));
    expect(result.plan).toBeDefined();
    expect(result.plan).not.toHaveProperty('goals');
  });
});
