// Development mode: a built-in admin client that gets a token without a key pair, for a local
// server (`npm start`, `carebridge serve --dev`, CAREBRIDGE_DEV_MODE=true). Never implied: a
// server without a config file and without dev mode refuses to start.
import type { ClientConfig } from '../config/config.ts';

export const DEV_CLIENT_ID = 'carebridge-dev';

export const DEV_CLIENT: ClientConfig = {
  clientId: DEV_CLIENT_ID,
  name: 'carebridge development client (no key; development mode only)',
  organization: { system: 'urn:carebridge:dev', value: 'dev', display: 'Development' },
  role: 'admin',
  scopes: ['system/*.cruds'],
};

export const DEV_MODE_WARNING = [
  '*******************************************************************************',
  '*** DEVELOPMENT MODE: anyone who can reach this server gets an admin token   ***',
  `*** without a key: POST /auth/token grant_type=client_credentials&client_id=${DEV_CLIENT_ID}`,
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
