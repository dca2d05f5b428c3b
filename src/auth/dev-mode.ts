// Development mode: a built-in admin client that gets a token without a key pair, for a local
// server (`npm start`, `carebridge serve --dev`, CAREBRIDGE_DEV_MODE=true). Never implied: a
// server without a config file and without dev mode refuses to start.
import type { ClientConfig } from '../config/config.ts';
import { SYSTEMS } from '../model/terminology.ts';

export const DEV_CLIENT_ID = 'carebridge-dev';

export const DEV_CLIENT: ClientConfig = {
  clientId: DEV_CLIENT_ID,
  name: 'carebridge development client (no key; development mode only)',
  organization: { system: 'urn:carebridge:dev', value: 'dev', display: 'Development' },
  role: 'admin',
  scopes: ['system/*.cruds'],
};

const NPI = SYSTEMS.npi;

/**
 * Demo clients, one per party of the broadcast example (fixtures/plans/broadcast-three-agencies.json):
 * its discharging hospital and the three agencies it refers to, bound to their NPIs so that tenancy
 * applies to them as to real clients. Keyless like carebridge-dev, and like it development mode only.
 */
export const DEV_DEMO_CLIENTS: readonly ClientConfig[] = [
  { clientId: 'carebridge-dev-hospital', name: 'Harbor Point Medical Center (demo client; development mode only)', organization: { system: NPI, value: '1599024316', display: 'Harbor Point Medical Center' }, role: 'hospital', scopes: ['system/*.cruds'] },
  { clientId: 'carebridge-dev-agency-1', name: 'Charm City Home Health (demo client; development mode only)', organization: { system: NPI, value: '1266190432', display: 'Charm City Home Health' }, role: 'agency', scopes: ['system/*.cruds'] },
  { clientId: 'carebridge-dev-agency-2', name: 'Inner Harbor Visiting Nurses (demo client; development mode only)', organization: { system: NPI, value: '1877352900', display: 'Inner Harbor Visiting Nurses' }, role: 'agency', scopes: ['system/*.cruds'] },
  { clientId: 'carebridge-dev-agency-3', name: 'Chesapeake Home Care & Rehabilitation (demo client; development mode only)', organization: { system: NPI, value: '1455266175', display: 'Chesapeake Home Care & Rehabilitation' }, role: 'agency', scopes: ['system/*.cruds'] },
];

/** Every client development mode adds: the admin client and the demo clients. */
export const DEV_CLIENTS: readonly ClientConfig[] = [DEV_CLIENT, ...DEV_DEMO_CLIENTS];

export function isDevClientId(clientId: string | undefined): clientId is string {
  return DEV_CLIENTS.some((c) => c.clientId === clientId);
}

export const DEV_MODE_WARNING = [
  '*******************************************************************************',
  '*** DEVELOPMENT MODE: anyone who can reach this server gets an admin token   ***',
  `*** without a key: POST /auth/token grant_type=client_credentials&client_id=${DEV_CLIENT_ID}`,
  '*** Demo clients (same, no key): carebridge-dev-hospital, carebridge-dev-agency-1..3',
  '*** Never run it like this with real patient data.                          ***',
  '*******************************************************************************',
].join('\n');

/** CAREBRIDGE_DEV_MODE: "true"/"1" on, unset/""/"false"/"0" off, anything else a mistake. */
export function devModeFromEnv(env: NodeJS.ProcessEnv): boolean | undefined {
  const value = (env.CAREBRIDGE_DEV_MODE ?? '').trim().toLowerCase();
  if (value === 'true' || value === '1') {
    return true;
  }
  if (value === '' || value === 'false' || value === '0') {
    return false;
  }
  return undefined;
}
