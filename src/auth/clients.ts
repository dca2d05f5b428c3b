// The registered clients as the token endpoint and the bearer check need them: config, the scopes
// they may be granted (parsed once), and where their keys come from.
import type { JWTVerifyGetKey } from 'jose';
import type { ClientConfig } from '../config/config.ts';
import { clientKeyResolver } from './client-keys.ts';
import { DEV_CLIENTS } from './dev-mode.ts';
import type { Scope } from './scopes.ts';
import { parseScopes } from './scopes.ts';

export interface RegisteredClient {
  config: ClientConfig;
  allowed: Scope[];
  /** Resolves the key of an assertion; undefined for the development client (it has none). */
  getKey?: JWTVerifyGetKey;
}

export class ClientRegistry {
  private readonly byId = new Map<string, RegisteredClient>();
  readonly devMode: boolean;

  /** `people`: board users' sessions (board-users.ts), keyless: they sign in with a password, never at the token endpoint. */
  constructor(clients: readonly ClientConfig[], devMode: boolean, people: readonly ClientConfig[] = []) {
    this.devMode = devMode;
    for (const config of clients) {
      this.byId.set(config.clientId, { config, allowed: parseScopes(config.scopes.join(' ')).scopes, getKey: clientKeyResolver(config) });
    }
    for (const config of people) {
      this.byId.set(config.clientId, { config, allowed: parseScopes(config.scopes.join(' ')).scopes });
    }
    // A configured client of the same id keeps its keys: a development client never shadows it.
    for (const dev of devMode ? DEV_CLIENTS : []) {
      if (!this.byId.has(dev.clientId)) {
        this.byId.set(dev.clientId, { config: dev, allowed: parseScopes(dev.scopes.join(' ')).scopes });
      }
    }
  }

  get(clientId: string): RegisteredClient | undefined {
    return this.byId.get(clientId);
  }

  /** Every scope some client may be granted (for the SMART configuration). */
  scopesSupported(): string[] {
    return [...new Set([...this.byId.values()].flatMap((c) => c.config.scopes))].sort();
  }
}
