// Authentication as one object the HTTP layer holds: the token endpoint, the SMART configuration
// and the bearer-token check. URLs derive from the server's base URL (PUBLIC_URL, or the request's
// own host when unset), so the token URL, the assertions' aud and the tokens' iss/aud agree.
import { decodeJwt } from 'jose';
import type { CarebridgeConfig } from '../config/config.ts';
import type { AuthStore } from '../store/auth-store.ts';
import { InvalidTokenError, issueAccessToken, verifyAccessToken } from './access-token.ts';
import { BoardUsers, boardUserClient } from './board-users.ts';
import { ClientRegistry } from './clients.ts';
import type { Principal } from './principal.ts';
import { grantScopes } from './scopes.ts';
import type { SigningKey } from './signing-key.ts';
import { loadSigningKey } from './signing-key.ts';
import type { TokenGrant } from './token-request.ts';
import { ASSERTION_ALGORITHMS, handleTokenRequest } from './token-request.ts';

export const TOKEN_PATH = '/auth/token';
/**
 * Verified tokens are remembered until they expire: an ES384 verification costs ~0.5 ms of CPU,
 * as much as a simple read. 2,000 entries of ~700 bytes cover every client's live tokens.
 */
const VERIFIED_CACHE_SIZE = 2_000;
export const FHIR_PATH = '/fhir';

export interface AuthServiceOptions {
  config: CarebridgeConfig;
  store: AuthStore;
  signingKey: SigningKey;
  devMode?: boolean;
}

/** The discovery document of SMART App Launch 2.x (§ "SMART configuration"). */
export interface SmartConfiguration {
  issuer: string;
  token_endpoint: string;
  token_endpoint_auth_methods_supported: string[];
  token_endpoint_auth_signing_alg_values_supported: string[];
  grant_types_supported: string[];
  scopes_supported: string[];
  capabilities: string[];
}

export class AuthService {
  readonly clients: ClientRegistry;
  /** People who sign in to the board with a password (their sessions: board-session.ts). */
  readonly boardUsers: BoardUsers;
  readonly devMode: boolean;
  private readonly config: CarebridgeConfig;
  private readonly store: AuthStore;
  private readonly signingKey: SigningKey;
  private readonly verified = new Map<string, { principal: Principal; expiresMs: number }>();

  constructor(options: AuthServiceOptions) {
    this.config = options.config;
    this.store = options.store;
    this.signingKey = options.signingKey;
    this.devMode = options.devMode === true;
    this.clients = new ClientRegistry(options.config.clients, this.devMode, options.config.boardUsers.map(boardUserClient));
    this.boardUsers = new BoardUsers(options.config.boardUsers);
  }

  /** The service with the signing key from the environment or the store (signing-key.ts). */
  static async init(options: Omit<AuthServiceOptions, 'signingKey'> & { env?: NodeJS.ProcessEnv }): Promise<AuthService> {
    const signingKey = await loadSigningKey(options.env ?? process.env, options.store);
    return new AuthService({ ...options, signingKey });
  }

  /** `base` is the server's base URL without a trailing slash (http://host:port). */
  tokenUrl(base: string): string {
    return `${base}${TOKEN_PATH}`;
  }

  smartConfiguration(base: string): SmartConfiguration {
    return {
      issuer: base,
      token_endpoint: this.tokenUrl(base),
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
      grant_types_supported: ['client_credentials'],
      scopes_supported: this.clients.scopesSupported(),
      capabilities: ['client-confidential-asymmetric', 'permission-v2'],
    };
  }

  /** Answers POST /auth/token's form; throws OAuthError. */
  token(form: URLSearchParams, base: string): Promise<TokenGrant> {
    return handleTokenRequest(form, {
      clients: this.clients,
      store: this.store,
      tokenUrl: this.tokenUrl(base),
      issue: (client, scopes) => issueAccessToken(this.signingKey, { issuer: base, audience: `${base}${FHIR_PATH}` }, client.config.clientId, scopes, this.config.auth.accessTokenSeconds),
    });
  }

  /**
   * A board session's access token for a keyless client (a board user, or in development mode a
   * demo client), issued and later verified exactly as the token endpoint's, with every scope the
   * client is allowed. `authTime`: when the person signed in (seconds), kept by renewals.
   */
  async sessionToken(clientId: string, base: string, authTime: number): Promise<TokenGrant> {
    const client = this.clients.get(clientId);
    if (!client || client.getKey) {
      throw new Error(`${clientId} is not a keyless client`);
    }
    const seconds = this.config.auth.accessTokenSeconds;
    const issued = await issueAccessToken(this.signingKey, { issuer: base, audience: `${base}${FHIR_PATH}` }, clientId, client.allowed, seconds, { auth_time: authTime });
    return { response: { access_token: issued.token, token_type: 'bearer', expires_in: seconds, scope: client.allowed.map((s) => s.text).join(' ') }, clientId, tokenId: issued.jti };
  }

  /**
   * The Principal an access token stands for, or InvalidTokenError. Scopes are the token's,
   * narrowed to what the client is allowed now (a config change takes effect at once).
   */
  async verifyToken(token: string, base: string): Promise<Principal> {
    const cacheKey = `${base} ${token}`;
    const hit = this.verified.get(cacheKey);
    if (hit && Date.now() < hit.expiresMs) {
      return hit.principal;
    }
    this.verified.delete(cacheKey);
    const verified = await verifyAccessToken(this.signingKey, { issuer: base, audience: `${base}${FHIR_PATH}` }, token, (id) => this.clients.get(id)?.config);
    const allowed = this.clients.get(verified.clientId)?.allowed ?? [];
    // Frozen: one cached Principal serves every request made with the token.
    const principal = Object.freeze({ ...verified, scopes: Object.freeze(grantScopes(verified.scopes, allowed)) as Principal['scopes'] });
    if (this.verified.size >= VERIFIED_CACHE_SIZE) {
      this.verified.delete(this.verified.keys().next().value as string);
    }
    this.verified.set(cacheKey, { principal, expiresMs: (decodeJwt(token).exp as number) * 1000 });
    return principal;
  }

  /** The Principal of an Authorization header ("Bearer <token>"), or InvalidTokenError. */
  authenticate(authorization: string | undefined, base: string): Promise<Principal> {
    if (authorization === undefined || authorization.trim() === '') {
      return Promise.reject(new InvalidTokenError('missing', 'An access token is required (Authorization: Bearer <token>)'));
    }
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match) {
      return Promise.reject(new InvalidTokenError('malformed', 'The Authorization header must be "Bearer <token>"'));
    }
    return this.verifyToken(match[1] as string, base);
  }
}
