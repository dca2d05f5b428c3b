// What `carebridge serve` needs to know about authentication before it starts, from its
// environment and flags; every mistake is one clear sentence, and nothing secret is quoted.
import type { CarebridgeConfig } from '../config/config.ts';
import { ConfigError, emptyConfig, loadConfig } from '../config/config.ts';
import { devModeFromEnv } from './dev-mode.ts';
import { SigningKeyError, signingJwkFromEnv } from './signing-key.ts';

export interface AuthSettings {
  config: CarebridgeConfig;
  devMode: boolean;
  /** The config file read, if any. */
  configPath?: string;
}

export class StartupError extends Error {}

export const NO_CONFIG_MESSAGE =
  'carebridge serve needs CAREBRIDGE_CONFIG=<file.json> naming the clients that may call it (see README, "Authentication"), ' +
  'or development mode for a local server with a built-in admin client: carebridge serve --dev (or CAREBRIDGE_DEV_MODE=true, or npm start).';

export function authSettingsFromEnv(env: NodeJS.ProcessEnv, devFlag = false): AuthSettings {
  const devEnv = devModeFromEnv(env);
  if (devEnv === undefined) {
    throw new StartupError(`CAREBRIDGE_DEV_MODE must be true or false, not "${String(env.CAREBRIDGE_DEV_MODE).slice(0, 20)}"`);
  }
  const devMode = devFlag || devEnv;
  const configPath = env.CAREBRIDGE_CONFIG || undefined;
  if (!configPath && !devMode) {
    throw new StartupError(NO_CONFIG_MESSAGE);
  }
  try {
    signingJwkFromEnv(env);
    return { config: configPath ? loadConfig(configPath) : emptyConfig(), devMode, ...(configPath ? { configPath } : {}) };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof SigningKeyError) {
      throw new StartupError(err.message);
    }
    throw err;
  }
}
