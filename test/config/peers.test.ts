import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseConfig } from '../../src/config/config.ts';
import { DEFAULT_RETRY, scheduleProblems } from '../../src/config/peers.ts';

const AGENCY_ORG = { system: 'http://hl7.org/fhir/sid/us-npi', value: '1588667638', display: 'Sunrise Home Health' };

const peer = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'sunrise',
  kind: 'agency',
  organization: AGENCY_ORG,
  fhirBaseUrl: 'https://fhir.sunrise.example/r4',
  push: { resourceTypes: ['CarePlan', 'Task'] },
  ...extra,
});

function problemsOf(value: unknown): string[] {
  try {
    parseConfig(value, 'peers.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('the config was accepted');
}

describe('peers in the config file', () => {
  it('applies defaults: no auth, conditional updates, a 72-hour retry window', () => {
    const [sunrise] = parseConfig({ clients: [], peers: [peer()] }).peers;
    expect(sunrise).toMatchObject({ name: 'sunrise', auth: { type: 'none' }, push: { resourceTypes: ['CarePlan', 'Task'], mode: 'conditional-update' } });
    expect(sunrise?.limits.retry).toEqual(DEFAULT_RETRY);
    expect(sunrise?.limits.retry.windowHours).toBeGreaterThanOrEqual(72);
    expect(parseConfig({ clients: [] }).peers).toEqual([]);
  });

  it('keeps a SMART Backend Services auth that names where the private key is, never the key itself', () => {
    const auth = { type: 'smart-backend-services', tokenUrl: 'https://fhir.sunrise.example/token', clientId: 'carebridge', scope: 'system/CarePlan.cu', privateKeyEnv: 'SUNRISE_KEY' };
    expect(parseConfig({ clients: [], peers: [peer({ auth })] }).peers[0]?.auth).toEqual(auth);
    expect(problemsOf({ clients: [], peers: [peer({ auth: { ...auth, privateKeyEnv: undefined, d: 'secret' } })] })).toEqual(expect.arrayContaining([expect.stringContaining('/peers/0/auth')]));
    expect(problemsOf({ clients: [], peers: [peer({ auth: { ...auth, privateKeyFile: '/etc/key.json' } })] })).toContain('/peers/0/auth: needs type "none", or type "smart-backend-services" with tokenUrl, clientId, scope and exactly one of privateKeyEnv and privateKeyFile');
  });

  it('needs exactly one of fhirBaseUrl and webhookUrl, on https (http only on localhost)', () => {
    expect(problemsOf({ clients: [], peers: [peer({ webhookUrl: 'https://hooks.sunrise.example/in' })] })).toEqual(['/peers/0: needs exactly one of fhirBaseUrl and webhookUrl']);
    expect(problemsOf({ clients: [], peers: [peer({ fhirBaseUrl: 'http://fhir.sunrise.example/r4' })] })).toEqual(['/peers/0/fhirBaseUrl: must be an https:// URL (http:// only on localhost)']);
    expect(parseConfig({ clients: [], peers: [peer({ fhirBaseUrl: 'http://127.0.0.1:9000/fhir' })] }).peers).toHaveLength(1);
  });

  it('refuses a name used twice, an unknown kind or push type, and polling without a FHIR server', () => {
    const problems = problemsOf({ clients: [], peers: [peer(), peer({ kind: 'pharmacy' }), peer({ name: 'other', push: { resourceTypes: ['AuditEvent'] } })] });
    expect(problems).toEqual(expect.arrayContaining(['/peers/1/kind: must be one of: ehr, agency, payer', expect.stringMatching(/^\/peers\/2\/push\/resourceTypes\/0: must be one of/)]));
    expect(problemsOf({ clients: [], peers: [peer(), peer()] })).toEqual(['/peers/1/name: "sunrise" is also the name of /peers/0']);
    const webhookPoller = { name: 'hook', kind: 'ehr', organization: AGENCY_ORG, webhookUrl: 'https://h.example/in', pull: { queries: ['Encounter'], schedule: '0 8 * * *' } };
    expect(problemsOf({ clients: [], peers: [webhookPoller] })).toEqual(['/peers/0/pull: polling needs a fhirBaseUrl']);
  });

  it('holds poll schedules to Gravity: at most every 15 minutes unless agreed, at least once each business day', () => {
    const ehr = (pull: Record<string, unknown>) => ({ clients: [], peers: [{ name: 'riverside', kind: 'ehr', organization: AGENCY_ORG, fhirBaseUrl: 'https://ehr.example/fhir', pull: { queries: ['Encounter?status=finished'], ...pull } }] });
    expect(parseConfig(ehr({ schedule: '*/15 * * * *' })).peers[0]?.pull).toEqual({ queries: ['Encounter?status=finished'], schedule: '*/15 * * * *', minIntervalMinutes: 15, pageSize: 100 });
    expect(problemsOf(ehr({ schedule: '*/5 * * * *' }))).toEqual([expect.stringMatching(/^\/peers\/0\/pull\/schedule: "\*\/5 \* \* \* \*" runs every 5 minutes/)]);
    expect(parseConfig(ehr({ schedule: '*/5 * * * *', minIntervalMinutes: 5 })).peers).toHaveLength(1);
    expect(problemsOf(ehr({ schedule: '0 9 * * 1-4' }))).toEqual([expect.stringContaining('does not run on every business day')]);
    expect(problemsOf(ehr({ schedule: 'every monday' }))).toEqual(['/peers/0/pull/schedule: "every monday" is not a cron expression']);
  });

  it('checks schedules with seconds fields and weekend-only runs', () => {
    expect(scheduleProblems('0 0 7 * * 1-5', 15)).toEqual([]);
    expect(scheduleProblems('0 12 * * 0,6', 15)).toEqual([expect.stringContaining('does not run on every business day')]);
  });
});
