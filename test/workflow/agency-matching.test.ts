// Agency matching on a fixed clock: each criterion (service, ZIP, payer, capacity) decides on its own,
// and the ranking puts the agencies that can take the patient first.
import { describe, expect, it } from '@jest/globals';
import type { HealthcareService, Organization } from '@medplum/fhirtypes';
import { SYSTEMS } from '../../src/model/terminology.ts';
import type { HomeHealthService } from '../../src/model/transition-plan.ts';
import { ACCEPTED_PAYER_URL, capacityClosed, matchAgencies, zip5 } from '../../src/workflow/agency-matching.ts';

const NOW = new Date('2026-12-01T15:00:00Z');
const NPI = 'http://hl7.org/fhir/sid/us-npi';
const PAYER_ID = 'http://example.org/payer-id';
const MEDICARE = { system: PAYER_ID, value: 'MEDICARE-A', display: 'Medicare Part A' };

const org = (id: string, name: string): Organization => ({ resourceType: 'Organization', id, name, identifier: [{ system: NPI, value: `npi-${id}` }] });

function line(id: string, agency: string, services: HomeHealthService[], options: { zips?: string[]; payers?: string[]; notAvailable?: HealthcareService['notAvailable']; active?: boolean } = {}): HealthcareService {
  const zips = options.zips ?? ['21201'];
  return {
    resourceType: 'HealthcareService',
    id,
    active: options.active ?? true,
    providedBy: { reference: `Organization/${agency}` },
    contained: zips.map((zip, i) => ({ resourceType: 'Location', id: `z${i}`, physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'area' }] }, address: { postalCode: zip } })),
    coverageArea: zips.map((_, i) => ({ reference: `#z${i}` })),
    type: services.map((code) => ({ coding: [{ system: SYSTEMS.homeHealthService, code }] })),
    extension: (options.payers ?? ['MEDICARE-A']).map((value) => ({ url: ACCEPTED_PAYER_URL, valueIdentifier: { system: PAYER_ID, value } })),
    ...(options.notAvailable ? { notAvailable: options.notAvailable } : {}),
  };
}

const base = { services: ['skilled-nursing', 'physical-therapy'] as HomeHealthService[], zip: '21201', payers: [MEDICARE], now: NOW };

describe('agency matching', () => {
  it('an agency offering every service in the ZIP, for the payer, with capacity is eligible, with every reason', () => {
    const [option] = matchAgencies({ ...base, agencies: [{ organization: org('a', 'Alpha'), services: [line('a1', 'a', ['skilled-nursing', 'physical-therapy'])] }] });
    expect(option).toMatchObject({ rank: 1, organization: 'Organization/a', identifier: { system: NPI, value: 'npi-a' }, eligible: true, missing: [] });
    expect(option?.matched.map((r) => [r.criterion, r.service])).toEqual([
      ['service', 'skilled-nursing'], ['service-area', 'skilled-nursing'], ['payer', 'skilled-nursing'], ['capacity', 'skilled-nursing'],
      ['service', 'physical-therapy'], ['service-area', 'physical-therapy'], ['payer', 'physical-therapy'], ['capacity', 'physical-therapy'],
    ]);
    expect(option?.matched[2]?.text).toBe('Skilled nursing: accepts Medicare Part A');
  });

  it('each criterion alone makes an agency not eligible and says what is missing', () => {
    const agencies = [
      { organization: org('svc', 'No PT'), services: [line('s', 'svc', ['skilled-nursing'])] },
      { organization: org('zip', 'Other ZIP'), services: [line('z', 'zip', ['skilled-nursing', 'physical-therapy'], { zips: ['21230'] })] },
      { organization: org('pay', 'Medicaid only'), services: [line('p', 'pay', ['skilled-nursing', 'physical-therapy'], { payers: ['MEDICAID'] })] },
      { organization: org('cap', 'Full'), services: [line('c', 'cap', ['skilled-nursing', 'physical-therapy'], { notAvailable: [{ description: 'no nurse until January', during: { start: '2026-11-20', end: '2027-01-01' } }] })] },
    ];
    const options = matchAgencies({ ...base, agencies });
    const missing = Object.fromEntries(options.map((o) => [o.name, o.missing.map((m) => `${m.criterion}:${m.service ?? ''}:${m.text}`)]));
    expect(missing).toEqual({
      'No PT': ['service:physical-therapy:does not offer Physical therapy'],
      'Other ZIP': ['service-area:skilled-nursing:Skilled nursing: does not serve ZIP 21201', 'service-area:physical-therapy:Physical therapy: does not serve ZIP 21201'],
      'Medicaid only': ["payer:skilled-nursing:Skilled nursing: accepts none of the patient's payers", "payer:physical-therapy:Physical therapy: accepts none of the patient's payers"],
      Full: ['capacity:skilled-nursing:Skilled nursing: no nurse until January', 'capacity:physical-therapy:Physical therapy: no nurse until January'],
    });
    expect(options.every((o) => !o.eligible)).toBe(true);
  });

  it('ranks eligible agencies first, then by fewer missing criteria; agencies offering nothing requested are left out', () => {
    const agencies = [
      { organization: org('far', 'Far'), services: [line('f', 'far', ['skilled-nursing', 'physical-therapy'], { zips: ['99999'], payers: [] })] },
      { organization: org('near', 'Near'), services: [line('n', 'near', ['skilled-nursing', 'physical-therapy'], { zips: ['99999'] })] },
      { organization: org('ok', 'Zulu'), services: [line('o1', 'ok', ['skilled-nursing']), line('o2', 'ok', ['physical-therapy'])] },
      { organization: org('aide', 'Aides only'), services: [line('h', 'aide', ['home-health-aide'])] },
    ];
    expect(matchAgencies({ ...base, agencies }).map((o) => [o.rank, o.name, o.eligible])).toEqual([
      [1, 'Zulu', true],
      [2, 'Near', false],
      [3, 'Far', false],
    ]);
  });

  it('picks, per service, the service line that meets most criteria', () => {
    const agencies = [{ organization: org('two', 'Two lines'), services: [line('closed', 'two', ['skilled-nursing', 'physical-therapy'], { active: false }), line('open', 'two', ['skilled-nursing', 'physical-therapy'], { zips: ['21201-1234'] })] }];
    const [option] = matchAgencies({ ...base, agencies });
    expect(option?.eligible).toBe(true);
    expect(new Set(option?.matched.map((r) => r.healthcareService))).toEqual(new Set(['HealthcareService/open']));
  });

  it('knows the SNOMED CT codes of the services as well as carebridge codes', () => {
    const hs = line('sn', 'x', ['skilled-nursing']);
    hs.type?.push({ coding: [{ system: SYSTEMS.snomed, code: '91251008' }] });
    expect(matchAgencies({ ...base, agencies: [{ organization: org('x', 'X'), services: [hs] }] })[0]?.eligible).toBe(true);
  });

  it('without an active coverage or a ZIP code, says so', () => {
    const [option] = matchAgencies({ ...base, services: ['skilled-nursing'], zip: undefined, payers: [], agencies: [{ organization: org('a', 'A'), services: [line('a', 'a', ['skilled-nursing'])] }] });
    expect(option?.missing.map((m) => m.text)).toEqual(["Skilled nursing: the patient's ZIP code is unknown", 'Skilled nursing: the patient has no active coverage']);
  });

  it('capacity follows the clock: closed during the period, open after it, closed until further notice without one', () => {
    const hs = line('c', 'c', ['skilled-nursing'], { notAvailable: [{ description: 'full', during: { start: '2026-11-20T00:00:00Z', end: '2026-12-01T14:59:59Z' } }] });
    expect(capacityClosed(hs, NOW)).toBeUndefined();
    expect(capacityClosed(hs, new Date('2026-12-01T14:00:00Z'))).toBe('full');
    expect(capacityClosed(line('d', 'd', ['skilled-nursing'], { notAvailable: [{ description: 'not taking referrals' }] }), NOW)).toBe('not taking referrals');
  });

  it('compares ZIP+4 on its five digits', () => {
    expect([zip5('21201-1234'), zip5('212011234'), zip5('2120'), zip5(undefined)]).toEqual(['21201', '21201', undefined, undefined]);
  });
});
