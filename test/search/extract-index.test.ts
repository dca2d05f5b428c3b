import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Appointment, Bundle, CarePlan, Coverage, Goal, Observation, Patient, Resource, Task } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { auditEventFor } from '../../src/audit/audit-event.ts';
import type { Principal } from '../../src/auth/principal.ts';
import { sequentialUuids } from '../../src/mapping/context.ts';
import { toFhir } from '../../src/mapping/to-fhir.ts';
import { PROFILES } from '../../src/model/profiles.ts';
import { MAX_DATE_MS, MIN_DATE_MS } from '../../src/search/date-range.ts';
import { extractIndexRows, indexRowsOf, prepareIndexRows, rootElements, skippedParameterCount } from '../../src/search/extract-index.ts';
import type { IndexRows } from '../../src/search/index-rows.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { FIXTURES_DIR, readJson, readPlan, validPlanNames } from '../support/fixtures.ts';
import { planArbitrary } from '../support/plan-arbitrary.ts';

beforeAll(() => {
  loadDefinitions();
});

/** The rows of one search parameter, without the code column. */
function rowsOf<K extends keyof IndexRows>(rows: IndexRows, kind: K, code: string): Omit<IndexRows[K][number], 'code'>[] {
  return (rows[kind] as IndexRows[K][number][]).filter((r) => r.code === code).map(({ code: _code, ...rest }) => rest);
}

const local = (targetType: string, targetId: string) => ({ targetType, targetId, url: null });
const utc = Date.UTC;

describe('extractIndexRows: CarePlan', () => {
  const carePlan: CarePlan = {
    resourceType: 'CarePlan',
    id: 'cp1',
    meta: {
      profile: ['https://carebridge.example/fhir/StructureDefinition/carebridge-transition-careplan'],
      tag: [{ system: 'https://carebridge.example/fhir/CodeSystem/source', code: 'hospital', display: 'From the hospital' }],
    },
    status: 'active',
    intent: 'plan',
    category: [{ coding: [{ system: 'http://snomed.info/sct', code: '736372004', display: 'Discharge care plan' }], text: 'Transition of care plan' }],
    subject: { reference: 'Patient/p1' },
    encounter: { reference: 'Encounter/e1' },
    careTeam: [{ reference: 'CareTeam/ct1' }, { reference: 'CareTeam/ct1' }],
    period: { start: '2026-11-09T11:30:00-05:00' },
    instantiatesCanonical: ['https://carebridge.example/fhir/PlanDefinition/hf-transition'],
    instantiatesUri: ['https://carebridge.example/protocols/hf'],
    activity: [{ reference: { reference: 'Appointment/a1/_history/2' } }, { reference: { reference: 'https://other.example/fhir/Task/t9' } }],
  };
  const rows = extractIndexRows(carePlan);

  it('indexes subject and patient as a local reference', () => {
    expect(rowsOf(rows, 'reference', 'subject')).toEqual([local('Patient', 'p1')]);
    expect(rowsOf(rows, 'reference', 'patient')).toEqual([local('Patient', 'p1')]);
  });

  it('indexes status as a token without system', () => {
    expect(rowsOf(rows, 'token', 'status')).toEqual([{ system: null, value: 'active', text: null }]);
  });

  it('indexes each category coding with its system, the concept text and the display for :text', () => {
    expect(rowsOf(rows, 'token', 'category')).toEqual([
      { system: 'http://snomed.info/sct', value: '736372004', text: 'transition of care plan' },
      { system: 'http://snomed.info/sct', value: '736372004', text: 'discharge care plan' },
    ]);
  });

  it('indexes a period without end as open-ended', () => {
    expect(rowsOf(rows, 'date', 'date')).toEqual([{ startMs: utc(2026, 10, 9, 16, 30), endMs: MAX_DATE_MS }]);
  });

  it('indexes care-team once although it is listed twice, and encounter', () => {
    expect(rowsOf(rows, 'reference', 'care-team')).toEqual([local('CareTeam', 'ct1')]);
    expect(rowsOf(rows, 'reference', 'encounter')).toEqual([local('Encounter', 'e1')]);
  });

  it('drops the version of a versioned reference and keeps an absolute URL as url only', () => {
    expect(rowsOf(rows, 'reference', 'activity-reference')).toEqual([
      local('Appointment', 'a1'),
      { targetType: null, targetId: null, url: 'https://other.example/fhir/Task/t9' },
    ]);
  });

  it('indexes a canonical as a reference url and a uri as a uri', () => {
    expect(rowsOf(rows, 'reference', 'instantiates-canonical')).toEqual([{ targetType: null, targetId: null, url: 'https://carebridge.example/fhir/PlanDefinition/hf-transition' }]);
    expect(rowsOf(rows, 'uri', 'instantiates-uri')).toEqual([{ value: 'https://carebridge.example/protocols/hf' }]);
  });

  it('indexes _profile and _tag from meta', () => {
    expect(rowsOf(rows, 'uri', '_profile')).toEqual([{ value: 'https://carebridge.example/fhir/StructureDefinition/carebridge-transition-careplan' }]);
    expect(rowsOf(rows, 'token', '_tag')).toEqual([{ system: 'https://carebridge.example/fhir/CodeSystem/source', value: 'hospital', text: 'from the hospital' }]);
  });

  it('leaves out the other _ parameters, which the store keeps as columns', () => {
    const codes = Object.values(rows).flatMap((list: { code: string }[]) => list.map((r) => r.code));
    expect(codes.filter((c) => c.startsWith('_')).sort()).toEqual(['_profile', '_tag']);
  });
});

describe('extractIndexRows: Task', () => {
  const task: Task = {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] },
    focus: { reference: 'ServiceRequest/sr1' },
    for: { identifier: { system: 'https://riverside-regional.example/fhir/sid/mrn', value: 'RRM1' } },
    requester: { reference: 'Practitioner/pr1' },
    owner: { reference: 'Organization/o1', display: 'Buckeye Home Health' },
    authoredOn: '2026-11-09T10:05:00-05:00',
    executionPeriod: { start: '2026-11-10', end: '2026-11-20' },
  };
  const rows = extractIndexRows(task);

  it('indexes owner, requester and focus', () => {
    expect(rowsOf(rows, 'reference', 'owner')).toEqual([local('Organization', 'o1')]);
    expect(rowsOf(rows, 'reference', 'requester')).toEqual([local('Practitioner', 'pr1')]);
    expect(rowsOf(rows, 'reference', 'focus')).toEqual([local('ServiceRequest', 'sr1')]);
  });

  it('gives no subject row for a reference with only an identifier', () => {
    expect(rowsOf(rows, 'reference', 'subject')).toEqual([]);
    expect(rowsOf(rows, 'reference', 'patient')).toEqual([]);
  });

  it('indexes status and code tokens', () => {
    expect(rowsOf(rows, 'token', 'status')).toEqual([{ system: null, value: 'requested', text: null }]);
    expect(rowsOf(rows, 'token', 'code')).toEqual([{ system: 'http://hl7.org/fhir/CodeSystem/task-code', value: 'fulfill', text: null }]);
  });

  it('indexes authored-on to the second, in UTC', () => {
    const start = utc(2026, 10, 9, 15, 5);
    expect(rowsOf(rows, 'date', 'authored-on')).toEqual([{ startMs: start, endMs: start + 999 }]);
  });

  it('indexes period from the first day to the end of the last', () => {
    expect(rowsOf(rows, 'date', 'period')).toEqual([{ startMs: utc(2026, 10, 10), endMs: utc(2026, 10, 21) - 1 }]);
  });
});

describe('extractIndexRows: Patient', () => {
  const patient: Patient = {
    resourceType: 'Patient',
    identifier: [{ system: 'https://riverside-regional.example/fhir/sid/mrn', value: 'RRM00482913', type: { text: 'Medical Record Number' } }],
    name: [{ family: 'Ñúñez', given: ['Zoë', 'Ana'], prefix: ['Sra.'] }],
    gender: 'female',
    birthDate: '1948-03-14',
    telecom: [{ system: 'phone', value: '+1-614-555-0142', use: 'home' }, { system: 'email', value: 'zoe@mail.example' }],
    address: [{ line: ['12 Rue de l’Église'], city: 'Montréal', state: 'QC', postalCode: 'H2X 1Y4', country: 'CA' }],
  };
  const rows = extractIndexRows(patient);

  it('indexes name parts normalized (lower case, accents removed) and as written', () => {
    expect(rowsOf(rows, 'string', 'family')).toEqual([{ normalized: 'nunez', exact: 'Ñúñez' }]);
    expect(rowsOf(rows, 'string', 'given')).toEqual([{ normalized: 'zoe', exact: 'Zoë' }, { normalized: 'ana', exact: 'Ana' }]);
    expect(rowsOf(rows, 'string', 'name')).toEqual([
      { normalized: 'nunez', exact: 'Ñúñez' },
      { normalized: 'zoe', exact: 'Zoë' },
      { normalized: 'ana', exact: 'Ana' },
      { normalized: 'sra.', exact: 'Sra.' },
    ]);
  });

  it('indexes identifier with its system and the type text for :text', () => {
    expect(rowsOf(rows, 'token', 'identifier')).toEqual([{ system: 'https://riverside-regional.example/fhir/sid/mrn', value: 'RRM00482913', text: 'medical record number' }]);
  });

  it('indexes birthdate as the whole day', () => {
    expect(rowsOf(rows, 'date', 'birthdate')).toEqual([{ startMs: utc(1948, 2, 14), endMs: utc(1948, 2, 15) - 1 }]);
  });

  it('indexes gender as a token', () => {
    expect(rowsOf(rows, 'token', 'gender')).toEqual([{ system: null, value: 'female', text: null }]);
  });

  it('indexes address-city and every address part', () => {
    expect(rowsOf(rows, 'string', 'address-city')).toEqual([{ normalized: 'montreal', exact: 'Montréal' }]);
    expect(rowsOf(rows, 'string', 'address').map((r) => r.exact)).toEqual(['12 Rue de l’Église', 'Montréal', 'QC', 'H2X 1Y4', 'CA']);
  });

  it('indexes telecom by value, without the ContactPoint system', () => {
    expect(rowsOf(rows, 'token', 'phone')).toEqual([{ system: null, value: '+1-614-555-0142', text: null }]);
    expect(rowsOf(rows, 'token', 'email')).toEqual([{ system: null, value: 'zoe@mail.example', text: null }]);
    expect(rowsOf(rows, 'token', 'telecom').map((r) => r.value)).toEqual(['+1-614-555-0142', 'zoe@mail.example']);
  });
});

describe('extractIndexRows: Appointment, Coverage, Observation, Goal', () => {
  it('indexes Appointment date from start and every actor', () => {
    const appointment: Appointment = {
      resourceType: 'Appointment',
      status: 'booked',
      start: '2026-11-12T14:00:00Z',
      end: '2026-11-12T14:30:00Z',
      participant: [
        { actor: { reference: 'Patient/p1' }, status: 'accepted' },
        { actor: { reference: 'Practitioner/pr1' }, status: 'accepted' },
      ],
    };
    const rows = extractIndexRows(appointment);
    const start = utc(2026, 10, 12, 14);
    expect(rowsOf(rows, 'date', 'date')).toEqual([{ startMs: start, endMs: start + 999 }]);
    expect(rowsOf(rows, 'reference', 'actor')).toEqual([local('Patient', 'p1'), local('Practitioner', 'pr1')]);
  });

  it('indexes Coverage beneficiary, payor, status and type', () => {
    const coverage: Coverage = {
      resourceType: 'Coverage',
      status: 'active',
      type: { coding: [{ system: 'urn:oid:2.16.840.1.113883.3.221.5', code: '121', display: 'Medicare FFS' }] },
      beneficiary: { reference: 'Patient/p1' },
      payor: [{ reference: 'Organization/cms' }],
    };
    const rows = extractIndexRows(coverage);
    expect(rowsOf(rows, 'reference', 'beneficiary')).toEqual([local('Patient', 'p1')]);
    expect(rowsOf(rows, 'reference', 'payor')).toEqual([local('Organization', 'cms')]);
    expect(rowsOf(rows, 'token', 'status')).toEqual([{ system: null, value: 'active', text: null }]);
    expect(rowsOf(rows, 'token', 'type')).toEqual([{ system: 'urn:oid:2.16.840.1.113883.3.221.5', value: '121', text: 'medicare ffs' }]);
  });

  it('indexes value-quantity with system and code, and the human unit where it differs', () => {
    const observation: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
      valueQuantity: { value: 82.5, unit: 'kilograms', system: 'http://unitsofmeasure.org', code: 'kg' },
    };
    const rows = extractIndexRows(observation);
    expect(rowsOf(rows, 'number', 'value-quantity')).toEqual([
      { value: 82.5, system: 'http://unitsofmeasure.org', unit: 'kg' },
      { value: 82.5, system: null, unit: 'kilograms' },
    ]);
    expect(rowsOf(rows, 'token', 'code')).toEqual([{ system: 'http://loinc.org', value: '29463-7', text: null }]);
  });

  it('indexes Goal lifecycle-status, subject, start-date and target-date', () => {
    const goal: Goal = {
      resourceType: 'Goal',
      lifecycleStatus: 'active',
      description: { text: 'Dry weight under 80 kg' },
      subject: { reference: 'Patient/p1' },
      startDate: '2026-11-09',
      target: [{ dueDate: '2026-12' }],
    };
    const rows = extractIndexRows(goal);
    expect(rowsOf(rows, 'token', 'lifecycle-status')).toEqual([{ system: null, value: 'active', text: null }]);
    expect(rowsOf(rows, 'reference', 'subject')).toEqual([local('Patient', 'p1')]);
    expect(rowsOf(rows, 'date', 'start-date')).toEqual([{ startMs: utc(2026, 10, 9), endMs: utc(2026, 10, 10) - 1 }]);
    expect(rowsOf(rows, 'date', 'target-date')).toEqual([{ startMs: utc(2026, 11, 1), endMs: utc(2027, 0, 1) - 1 }]);
  });
});

describe('extractIndexRows: date precision', () => {
  const birth = (birthDate: string) => rowsOf(extractIndexRows({ resourceType: 'Patient', birthDate }), 'date', 'birthdate');
  const authored = (authoredOn: string) => rowsOf(extractIndexRows({ resourceType: 'Task', status: 'requested', intent: 'order', authoredOn }), 'date', 'authored-on');
  const period = (executionPeriod: Task['executionPeriod']) =>
    rowsOf(extractIndexRows({ resourceType: 'Task', status: 'requested', intent: 'order', executionPeriod }), 'date', 'period');

  it('takes a year as the whole year', () => {
    expect(birth('2026')).toEqual([{ startMs: utc(2026, 0, 1), endMs: utc(2027, 0, 1) - 1 }]);
  });

  it('takes a month as the whole month, February of a leap year included', () => {
    expect(birth('2026-11')).toEqual([{ startMs: utc(2026, 10, 1), endMs: utc(2026, 11, 1) - 1 }]);
    expect(birth('2024-02')).toEqual([{ startMs: utc(2024, 1, 1), endMs: utc(2024, 2, 1) - 1 }]);
  });

  it('takes a date without zone as the whole UTC day', () => {
    expect(birth('2026-11-20')).toEqual([{ startMs: utc(2026, 10, 20), endMs: utc(2026, 10, 21) - 1 }]);
  });

  it('takes a dateTime with seconds as that second, and with a fraction as that millisecond', () => {
    expect(authored('2026-11-20T10:00:00+02:00')).toEqual([{ startMs: utc(2026, 10, 20, 8), endMs: utc(2026, 10, 20, 8) + 999 }]);
    expect(authored('2026-11-20T10:00:00.250Z')).toEqual([{ startMs: utc(2026, 10, 20, 10, 0, 0, 250), endMs: utc(2026, 10, 20, 10, 0, 0, 250) }]);
  });

  it('stores open period ends as the smallest and largest safe integers', () => {
    expect(period({ start: '2026-11-20' })).toEqual([{ startMs: utc(2026, 10, 20), endMs: MAX_DATE_MS }]);
    expect(period({ end: '2026-11-20' })).toEqual([{ startMs: MIN_DATE_MS, endMs: utc(2026, 10, 21) - 1 }]);
  });

  it('skips dates that do not exist', () => {
    expect(birth('2026-02-30')).toEqual([]);
    expect(birth('2026-13')).toEqual([]);
  });
});

describe('extractIndexRows: odd input', () => {
  it('does not throw on garbage values and still indexes the sound ones', () => {
    const garbage = {
      resourceType: 'CarePlan',
      status: 'active',
      intent: 42,
      category: ['not-a-concept', { coding: 'x' }, { coding: [null, { code: 7 }] }],
      subject: { reference: 42 },
      careTeam: [null, {}, { reference: '' }],
      period: { start: 'yesterday', end: { nested: true } },
      identifier: [{ system: 5, value: null }, 'string'],
      meta: { profile: 'not-an-array', tag: [{}] },
      activity: [{ reference: 'Task/1' }, { detail: { scheduledTiming: { event: ['nope', '2026-11-20'] } } }],
    } as unknown as Resource;
    const rows = extractIndexRows(garbage);
    expect(rowsOf(rows, 'token', 'status')).toEqual([{ system: null, value: 'active', text: null }]);
    expect(rowsOf(rows, 'date', 'activity-date')).toEqual([{ startMs: utc(2026, 10, 20), endMs: utc(2026, 10, 21) - 1 }]);
  });

  it('does not split a single string where a list was expected into characters', () => {
    const patient = { resourceType: 'Patient', name: [{ family: 'Doe', given: 'Jane' }] } as unknown as Resource;
    expect(rowsOf(extractIndexRows(patient), 'string', 'given')).toEqual([{ normalized: 'jane', exact: 'Jane' }]);
  });

  it('gives no rows for a resource type R4 does not define', () => {
    expect(extractIndexRows({ resourceType: 'NotAType' } as unknown as Resource)).toEqual({ token: [], string: [], reference: [], date: [], number: [], uri: [] });
  });

  it('keeps urn:uuid and contained references as url', () => {
    const rows = extractIndexRows({ resourceType: 'Goal', lifecycleStatus: 'active', description: { text: 'x' }, subject: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' } });
    expect(rowsOf(rows, 'reference', 'subject')).toEqual([{ targetType: null, targetId: null, url: 'urn:uuid:00000000-0000-4000-8000-000000000001' }]);
    const contained = extractIndexRows({ resourceType: 'Goal', lifecycleStatus: 'active', description: { text: 'x' }, subject: { reference: '#p' } });
    expect(rowsOf(contained, 'reference', 'subject')).toEqual([{ targetType: null, targetId: null, url: '#p' }]);
  });
});

describe('extractIndexRows: the mapped fixture Bundles', () => {
  it.each(validPlanNames())('indexes every resource %s maps to without skipping a parameter', (name) => {
    const bundle = toFhir(readPlan(name), sequentialUuids());
    const before = skippedParameterCount();
    for (const entry of bundle.entry ?? []) {
      const rows = extractIndexRows(entry.resource as Resource);
      expect(Object.values(rows).flat().length).toBeGreaterThan(0);
    }
    expect(skippedParameterCount()).toBe(before);
  });

  it('gives the referral Task owner and focus rows pointing at its agency and ServiceRequest', () => {
    const bundle = toFhir(readPlan('heart-failure-home-health.json'), sequentialUuids());
    const task = bundle.entry?.find((e) => e.resource?.meta?.profile?.includes(PROFILES.referralTask))?.resource as Task;
    const rows = extractIndexRows(task);
    const fullUrlOf = (reference: string | undefined) => bundle.entry?.find((e) => e.fullUrl === reference);
    const [owner] = rowsOf(rows, 'reference', 'owner');
    const [focus] = rowsOf(rows, 'reference', 'focus');
    expect(fullUrlOf(owner?.url ?? undefined)?.resource?.resourceType).toBe('Organization');
    expect(fullUrlOf(focus?.url ?? undefined)?.resource?.resourceType).toBe('ServiceRequest');
    expect(rowsOf(rows, 'token', 'code')).toEqual([{ system: 'http://hl7.org/fhir/CodeSystem/task-code', value: 'fulfill', text: 'fulfill the focal request' }]);
    expect(rowsOf(rows, 'uri', '_profile')).toEqual([{ value: PROFILES.referralTask }]);
  });

  it('gives the mapped CarePlan its category tokens and an open-ended date', () => {
    const bundle = toFhir(readPlan('heart-failure-home-health.json'), sequentialUuids());
    const carePlan = bundle.entry?.find((e) => e.resource?.resourceType === 'CarePlan')?.resource as CarePlan;
    const rows = extractIndexRows(carePlan);
    expect(rowsOf(rows, 'token', 'category').map((r) => `${r.system}|${r.value}`)).toContain('http://snomed.info/sct|736372004');
    expect(rowsOf(rows, 'date', 'date')).toEqual([{ startMs: Date.parse(carePlan.period?.start ?? ''), endMs: MAX_DATE_MS }]);
  });
});

describe('rootElements: parameters not evaluated on a resource without their elements', () => {
  it('names the first element of each branch of the resource type when the expression is only paths and filters', () => {
    expect(rootElements('Task', 'Task.owner')).toEqual(['owner']);
    expect(rootElements('CarePlan', 'AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | CareTeam.subject.where(resolve() is Patient)')).toEqual(['subject']);
    expect(rootElements('AuditEvent', 'AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)')).toEqual(['agent', 'entity']);
    expect(rootElements('Observation', '(Observation.value as Quantity) | (Observation.value as SampledData)')).toEqual(['value']);
    expect(rootElements('Patient', '(Patient.deceased.ofType(dateTime))')).toEqual(['deceased']);
    expect(rootElements('Patient', "Patient.telecom.where(system='email') | Person.telecom.where(system='email')")).toEqual(['telecom']);
  });

  it('gives up on anything that can yield a value without the element', () => {
    // false for a patient without deceased[x]: a row "deceased=false" the skip would lose.
    expect(rootElements('Patient', 'Patient.deceased.exists() and Patient.deceased != false')).toBeUndefined();
    expect(rootElements('Task', "Task.where(code.coding.where(system = 'x').exists()).restriction.period.end")).toBeUndefined();
    expect(rootElements('Task', 'Task.input.count()')).toBeUndefined();
    expect(rootElements('Patient', 'Resource.meta.tag')).toBeUndefined();
  });
});

describe('extractIndexRows skips no row by not evaluating parameters whose elements are missing', () => {
  const hl7Dir = new URL('../../../shared/fixtures/hl7/', import.meta.url);
  const golden = readdirSync(new URL('golden/', FIXTURES_DIR)).filter((f) => f.endsWith('.json')).flatMap((f) => ((readJson(`golden/${f}`) as Bundle).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])));
  const hl7 = existsSync(hl7Dir) ? readdirSync(hl7Dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(new URL(f, hl7Dir), 'utf8')) as Resource) : [];
  const principal = { clientId: 'c', clientName: 'Agency', role: 'agency', organization: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }, scopes: [] } as unknown as Principal;
  const audit = auditEventFor({ interaction: 'search-type', principal, resourceType: 'Task', query: 'owner=Organization/o1', patients: ['Patient/p1', 'Patient/p2'], status: 200, address: '10.0.0.1', requestId: 'r1', recorded: new Date('2026-11-24T10:00:00Z'), observer: { site: 'carebridge' } });
  const generated = fc.sample(planArbitrary, { seed: 77, numRuns: 20 }).flatMap((plan) => (toFhir(plan, sequentialUuids()).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])));
  const corpus: Resource[] = [...golden, ...hl7, audit as Resource, ...generated, { resourceType: 'Patient', id: 'bare' }];

  it(`gives the same rows as evaluating every parameter, for ${corpus.length} resources`, () => {
    expect(golden.length).toBeGreaterThan(100);
    for (const resource of corpus) {
      expect({ id: `${resource.resourceType}/${resource.id}`, rows: extractIndexRows(resource) }).toEqual({ id: `${resource.resourceType}/${resource.id}`, rows: extractIndexRows(resource, { evaluateAll: true }) });
    }
  });
});

describe('index rows prepared before the write', () => {
  const prepared = prepareIndexRows({ resourceType: 'Patient', name: [{ family: 'Mensah' }] } as Patient);

  it('are used for the same content with the id and version metadata the store sets', () => {
    const stored = { resourceType: 'Patient', name: [{ family: 'Mensah' }], id: 'p1', meta: { versionId: '1', lastUpdated: '2026-11-24T20:00:00.000Z' } } as Patient;
    expect(indexRowsOf(stored, prepared)).toBe(prepared.rows);
  });

  it('are not used once the content differs (a rule changed it, a reference points elsewhere)', () => {
    const changed = { resourceType: 'Patient', name: [{ family: 'Owusu' }], id: 'p1' } as Patient;
    expect(rowsOf(indexRowsOf(changed, prepared), 'string', 'family')).toEqual([{ normalized: 'owusu', exact: 'Owusu' }]);
    const tagged = { resourceType: 'Patient', name: [{ family: 'Mensah' }], meta: { tag: [{ system: 'urn:t', code: 'x' }] } } as Patient;
    expect(indexRowsOf(tagged, prepared)).not.toBe(prepared.rows);
  });
});
