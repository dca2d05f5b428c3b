import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, CarePlan, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { readFileSync, readdirSync } from 'node:fs';
import { sequentialUuids } from '../../src/mapping/context.ts';
import { toFhir } from '../../src/mapping/to-fhir.ts';
import { PROFILES } from '../../src/model/profiles.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { validateFhir, validateFhirBundle, validateFhirResource } from '../../src/validation/fhir-validator.ts';
import { readPlan, validPlanNames } from '../support/fixtures.ts';

const HL7_DIR = new URL('../../../shared/fixtures/hl7/', import.meta.url);
const hl7Files = readdirSync(HL7_DIR).filter((f) => f.endsWith('.json')).sort();

function errors(issues: OperationOutcomeIssue[]): string[] {
  return issues.filter((i) => i.severity === 'error').map((i) => i.details?.text ?? '');
}

const carePlan = (): CarePlan => ({
  resourceType: 'CarePlan',
  id: 'cp-1',
  status: 'active',
  intent: 'plan',
  subject: { reference: 'Patient/p-1' },
});

beforeAll(() => {
  loadDefinitions();
});

describe('base R4 validation of the official HL7 examples', () => {
  // Known quirk: coverageeligibilityresponse-example refers to its request by a URL that does not
  // end in Type/id ("…/coverageeligibilityrequest/225476332402"); accepted with a warning.
  const quirks: Record<string, RegExp> = {
    'coverageeligibilityresponse-example.json': /does not end in Type\/id/,
  };

  it.each(hl7Files)('accepts %s', (file) => {
    const resource = JSON.parse(readFileSync(new URL(file, HL7_DIR), 'utf8')) as Resource;
    const issues = validateFhir(resource);
    expect(errors(issues)).toEqual([]);
    const warnings = issues.filter((i) => i.severity === 'warning').map((i) => i.details?.text);
    if (quirks[file]) {
      expect(warnings).toEqual([expect.stringMatching(quirks[file] as RegExp)]);
    } else {
      expect(warnings).toEqual([]);
    }
  });
});

describe('what validateResource alone lets through', () => {
  it('accepts a plain valid CarePlan', () => {
    expect(validateFhirResource(carePlan())).toEqual([]);
  });

  it('refuses a code outside a required binding, listing allowed codes', () => {
    const issues = validateFhirResource({ ...carePlan(), status: 'bogus' as CarePlan['status'] });
    expect(issues).toEqual([
      expect.objectContaining({ severity: 'error', code: 'code-invalid', expression: ['CarePlan.status'], details: { text: expect.stringMatching(/"bogus" is not in the required value set http:\/\/hl7.org\/fhir\/ValueSet\/request-status \(allowed: draft, active/) } }),
    ]);
  });

  it('refuses a required CodeableConcept binding none of whose codings is in the value set', () => {
    const issues = validateFhirResource({ resourceType: 'Condition', subject: { reference: 'Patient/p' }, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'sleeping' }] } } as Resource);
    expect(errors(issues)).toEqual([expect.stringMatching(/^Condition.clinicalStatus: none of the codes/)]);
  });

  it('does not refuse codes of a value set it cannot expand (SNOMED CT, LOINC)', () => {
    const issues = validateFhirResource({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] } } as Resource);
    expect(errors(issues)).toEqual([]);
  });

  it('refuses a reference to the wrong resource type', () => {
    const issues = validateFhirResource({ ...carePlan(), subject: { reference: 'Practitioner/pr-1' } });
    expect(issues).toEqual([expect.objectContaining({ severity: 'error', expression: ['CarePlan.subject.reference'], details: { text: 'CarePlan.subject.reference: a reference to a Practitioner is not allowed here; allowed: Patient, Group' } })]);
  });

  it('checks reference targets deep inside backbone elements and choice types', () => {
    const plan = { ...carePlan(), activity: [{ detail: { status: 'scheduled', productReference: { reference: 'Patient/x' } } }] } as CarePlan;
    expect(errors(validateFhirResource(plan))).toEqual(['CarePlan.activity[0].detail.productReference.reference: a reference to a Patient is not allowed here; allowed: Medication, Substance']);
  });

  it('refuses a Reference.type that contradicts the reference', () => {
    const issues = validateFhirResource({ ...carePlan(), subject: { reference: 'Patient/p-1', type: 'Group' } });
    expect(errors(issues)).toEqual([expect.stringMatching(/Reference.type "Group" does not match the referenced Patient/)]);
  });

  it.each(['bad id!', 'a'.repeat(65), 'über', ''])('refuses the malformed id %j', (id) => {
    const issues = validateFhirResource({ ...carePlan(), id });
    expect(errors(issues).join('\n')).toMatch(/CarePlan.id/);
  });

  it('refuses a malformed id inside a reference', () => {
    expect(errors(validateFhirResource({ ...carePlan(), subject: { reference: 'Patient/has space' } }))).toEqual([expect.stringMatching(/not a valid reference|invalid id/)]);
  });

  it.each([
    ['an empty string', ''],
    ['a blank string', '   '],
  ])('refuses %s, once', (_label, title) => {
    const issues = validateFhirResource({ ...carePlan(), title });
    expect(errors(issues)).toHaveLength(1);
    expect(issues[0]?.expression).toEqual(['CarePlan.title']);
  });

  it('refuses an empty string in a code and in a nested element', () => {
    const issues = validateFhirResource({ ...carePlan(), note: [{ text: ' ' }], identifier: [{ system: 'urn:x', value: '' }] });
    expect(issues.flatMap((i) => i.expression)).toEqual(expect.arrayContaining(['CarePlan.note[0].text', 'CarePlan.identifier[0].value']));
  });

  it('refuses something that is not a resource', () => {
    expect(errors(validateFhir({ resourceType: 'Bogus' }))).toEqual(['Bogus.resourceType: "Bogus" is not a FHIR R4 resource type']);
    expect(errors(validateFhir([]))).toEqual(['a FHIR resource must be a JSON object']);
  });
});

describe('profiles', () => {
  it('warns, but does not refuse, a resource claiming a profile carebridge does not hold', () => {
    const issues = validateFhirResource({ ...carePlan(), meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-careplan'] } });
    expect(issues).toEqual([expect.objectContaining({ severity: 'warning', details: { text: expect.stringMatching(/does not hold the profile .*us-core-careplan; validated against base R4 only/) } })]);
  });

  it('validates against the carebridge profile named in meta.profile', () => {
    const issues = validateFhirResource({ ...carePlan(), meta: { profile: [PROFILES.transitionCarePlan] } });
    const texts = errors(issues);
    expect(texts).toEqual(expect.arrayContaining([expect.stringMatching(/^CarePlan.encounter: /), expect.stringMatching(/^CarePlan.careTeam: /), expect.stringMatching(/transition-of-care/)]));
  });

  it('refuses a profile of another resource type', () => {
    const issues = validateFhirResource({ ...carePlan(), meta: { profile: [PROFILES.transitionCoverage] } });
    expect(errors(issues)).toEqual([expect.stringMatching(/is a profile of Coverage, not CarePlan/)]);
  });
});

describe('Bundles', () => {
  it.each(validPlanNames())('accepts the Bundle %s maps to, without a warning', (name) => {
    expect(validateFhirBundle(toFhir(readPlan(name), sequentialUuids()))).toEqual([]);
  });

  function mapped(): Bundle {
    return toFhir(readPlan('heart-failure-home-health.json'), sequentialUuids());
  }

  it('refuses a reference that resolves to no entry, naming where it is', () => {
    const bundle = mapped();
    const carePlanEntry = bundle.entry?.findIndex((e) => e.resource?.resourceType === 'CarePlan') as number;
    (bundle.entry?.[carePlanEntry]?.resource as CarePlan).subject = { reference: 'urn:uuid:11111111-2222-4333-8444-555555555555' };
    expect(errors(validateFhirBundle(bundle))).toEqual([`Bundle.entry[${carePlanEntry}].resource.subject.reference: "urn:uuid:11111111-2222-4333-8444-555555555555" does not resolve to an entry of the Bundle`]);
  });

  it('checks the type of urn:uuid references against the entry they resolve to', () => {
    const bundle = mapped();
    const carePlanEntry = bundle.entry?.findIndex((e) => e.resource?.resourceType === 'CarePlan') as number;
    const practitioner = bundle.entry?.find((e) => e.resource?.resourceType === 'Practitioner')?.fullUrl as string;
    (bundle.entry?.[carePlanEntry]?.resource as CarePlan).subject = { reference: practitioner };
    expect(errors(validateFhirBundle(bundle))).toEqual([`Bundle.entry[${carePlanEntry}].resource.subject.reference: a reference to a Practitioner is not allowed here; allowed: Patient`]);
  });

  it('accepts conditional and absolute references, which the server or another server resolves', () => {
    const bundle = mapped();
    const cp = bundle.entry?.find((e) => e.resource?.resourceType === 'CarePlan')?.resource as CarePlan;
    cp.subject = { reference: 'Patient?identifier=urn:oid:1.2.3|123' };
    cp.author = { reference: 'https://ehr.example/fhir/Practitioner/abc' };
    expect(errors(validateFhirBundle(bundle))).toEqual([]);
  });

  it('refuses duplicate fullUrls and transaction entries without a request', () => {
    const bundle = mapped();
    const [first, second] = bundle.entry ?? [];
    (second as { fullUrl?: string }).fullUrl = first?.fullUrl;
    delete (first as { request?: unknown }).request;
    const texts = errors(validateFhirBundle(bundle));
    expect(texts).toEqual(expect.arrayContaining([expect.stringMatching(/^Bundle.entry\[0\].request: every entry of a transaction needs a request/), expect.stringMatching(/^Bundle.entry\[1\].fullUrl: .* is used by another entry/)]));
  });

  it('judges the invariants about entry resources on the entries, not on the Bundle without them (bdl-5, bdl-12)', () => {
    const entries = (mapped().entry ?? []).map(({ fullUrl, resource }) => ({ fullUrl, resource }));
    expect(errors(validateFhirBundle({ resourceType: 'Bundle', type: 'collection', entry: entries }))).toEqual([]);
    const header = { fullUrl: 'urn:uuid:11111111-2222-4333-8444-555555555555', resource: { resourceType: 'MessageHeader', eventCoding: { system: 'urn:x', code: 'y' }, source: { endpoint: 'https://ehr.example' } } as Resource };
    const message: Bundle = { resourceType: 'Bundle', id: 'm1', type: 'message', timestamp: '2026-11-30T12:00:00Z', entry: [header, ...entries] };
    expect(errors(validateFhirBundle(message))).toEqual([]);
    // A message whose first resource is not its MessageHeader still breaks bdl-12.
    expect(errors(validateFhirBundle({ ...message, entry: [...entries, header] }))).toEqual([expect.stringMatching(/bdl-12/)]);
  });

  it.each([5, true, [], {}, null])('refuses a fullUrl %j, in both tiers', (fullUrl) => {
    const bundle = mapped();
    (bundle.entry?.[1] as { fullUrl: unknown }).fullUrl = fullUrl;
    for (const tier of ['full', 'mapped'] as const) {
      expect(validateFhirBundle(bundle, tier)).toContainEqual(expect.objectContaining({ severity: 'error', expression: ['Bundle.entry[1].fullUrl'] }));
    }
  });

  it('names the entry of a resource error', () => {
    const bundle = mapped();
    const i = bundle.entry?.findIndex((e) => e.resource?.resourceType === 'Coverage') as number;
    (bundle.entry?.[i]?.resource as { status: string }).status = 'bogus';
    expect(errors(validateFhirBundle(bundle))).toEqual([expect.stringMatching(new RegExp(`^Bundle.entry\\[${i}\\].resource.status: "bogus" is not in the required value set`))]);
  });
});
