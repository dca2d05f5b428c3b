// POST /auth/token, transport-free: SMART App Launch 2.x Backend Services. A client proves who it
// is with a JWT assertion signed by one of its registered keys (private_key_jwt, RFC 7523) and
// gets a short access token for the scopes it asked for and may have.
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import type { AuthStore } from '../store/auth-store.ts';
import type { IssuedToken } from './access-token.ts';
import { CLOCK_TOLERANCE_SECONDS } from './access-token.ts';
import { JwksUnavailableError } from './client-keys.ts';
import type { ClientRegistry, RegisteredClient } from './clients.ts';
import { isDevClientId } from './dev-mode.ts';
import type { Scope } from './scopes.ts';
import { grantScopes, parseScopes } from './scopes.ts';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'] as const;
/** SMART: an assertion's exp is at most five minutes after its issue. */
export const MAX_ASSERTION_SECONDS = 300;
const MAX_JTI_LENGTH = 255;

export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_scope';

/** An RFC 6749 §5.2 error answer. invalid_client is 401, the rest 400. */
export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  readonly status: 400 | 401;

  constructor(error: OAuthErrorCode, description: string) {
    super(description);
    this.name = 'OAuthError';
    this.error = error;
    this.status = error === 'invalid_client' ? 401 : 400;
  }
}

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  scope: string;
}

/** A granted token request: the answer, and who got which token (for logs and audit). */
export interface TokenGrant {
  response: TokenResponse;
  clientId: string;
  tokenId: string;
}

export interface TokenRequestContext {
  clients: ClientRegistry;
  store: AuthStore;
  /** The token endpoint's own URL: the `aud` assertions must name. */
  tokenUrl: string;
  issue: (client: RegisteredClient, scopes: Scope[]) => Promise<IssuedToken>;
  now?: () => number;
}

/** The single value of a form parameter; a repeated one is refused (RFC 6749 §3.2). */
function single(form: URLSearchParams, name: string): string | undefined {
  const values = form.getAll(name);
  if (values.length > 1) {
    throw new OAuthError('invalid_request', `${name} is repeated`);
  }
  return values[0] === '' ? undefined : values[0];
}

function invalidClient(description: string): OAuthError {
  return new OAuthError('invalid_client', description);
}

/** Checks the assertion's header and claims before any key is looked at; returns the client. */
function clientOfAssertion(assertion: string, ctx: TokenRequestContext, clientIdParam: string | undefined): RegisteredClient {
  let header;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    claims = decodeJwt(assertion);
  } catch {
    throw invalidClient('client_assertion is not a signed JWT');
  }
  if (!(ASSERTION_ALGORITHMS as readonly unknown[]).includes(header.alg)) {
    throw invalidClient(`client_assertion must be signed with ${ASSERTION_ALGORITHMS.join(' or ')}`);
  }
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw invalidClient('client_assertion header needs the kid of the signing key');
  }
  if (typeof claims.iss !== 'string' || claims.iss !== claims.sub) {
    throw invalidClient('client_assertion iss and sub must both be the client_id');
  }
  if (clientIdParam !== undefined && clientIdParam !== claims.iss) {
    throw invalidClient('client_id does not match the client_assertion');
  }
  const client = ctx.clients.get(claims.iss);
  if (!client?.getKey) {
    throw invalidClient('Unknown client');
  }
  return client;
}

/** Verifies the signature and the claims; records the jti so the assertion cannot be replayed. */
async function authenticateClient(assertion: string, client: RegisteredClient, ctx: TokenRequestContext): Promise<void> {
  const clientId = client.config.clientId;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, client.getKey as NonNullable<RegisteredClient['getKey']>, {
      algorithms: [...ASSERTION_ALGORITHMS],
      issuer: clientId,
      subject: clientId,
      audience: ctx.tokenUrl,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      currentDate: ctx.now ? new Date(ctx.now()) : undefined,
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) {
      throw invalidClient('client_assertion has expired');
    }
    if (err instanceof errors.JWTClaimValidationFailed) {
      throw invalidClient(err.claim === 'aud' ? `client_assertion aud must be the token endpoint ${ctx.tokenUrl}` : `client_assertion claim ${err.claim} is not valid`);
    }
    if (err instanceof errors.JWKSNoMatchingKey) {
      throw invalidClient('No registered key of the client matches the client_assertion kid and alg');
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) {
      throw invalidClient('client_assertion signature does not verify with the client\'s key');
    }
    if (err instanceof JwksUnavailableError) {
      throw invalidClient('The client\'s JWKS could not be retrieved');
    }
    throw invalidClient('client_assertion is not valid');
  }
  const nowSeconds = Math.floor((ctx.now?.() ?? Date.now()) / 1000);
  const exp = payload.exp as number;
  if (exp - nowSeconds > MAX_ASSERTION_SECONDS + CLOCK_TOLERANCE_SECONDS) {
    throw invalidClient(`client_assertion exp must be at most ${MAX_ASSERTION_SECONDS} seconds ahead`);
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw invalidClient(`client_assertion jti must be a string of 1 to ${MAX_JTI_LENGTH} characters`);
  }
  // Kept until the assertion could no longer pass the exp check, tolerance included.
  if (!(await ctx.store.claimAssertion(clientId, jti, (exp + CLOCK_TOLERANCE_SECONDS) * 1000))) {
    throw invalidClient('client_assertion jti has already been used');
  }
}

function grant(client: RegisteredClient, requested: string | undefined): Scope[] {
  const asked = requested === undefined ? client.allowed : parseScopes(requested).scopes;
  const granted = grantScopes(asked, client.allowed);
  if (granted.length === 0) {
    throw new OAuthError('invalid_scope', 'None of the requested scopes is allowed for this client');
  }
  return granted;
}

/** Answers a token request (the form's parameters) or throws OAuthError. */
export async function handleTokenRequest(form: URLSearchParams, ctx: TokenRequestContext): Promise<TokenGrant> {
  const grantType = single(form, 'grant_type');
  if (grantType === undefined) {
    throw new OAuthError('invalid_request', 'grant_type is required');
  }
  if (grantType !== 'client_credentials') {
    throw new OAuthError('unsupported_grant_type', 'grant_type must be client_credentials');
  }
  const assertionType = single(form, 'client_assertion_type');
  const assertion = single(form, 'client_assertion');
  const clientIdParam = single(form, 'client_id');
  const scope = single(form, 'scope');

  let client: RegisteredClient;
  if (assertionType === undefined && assertion === undefined && isDevClientId(clientIdParam) && ctx.clients.devMode && ctx.clients.get(clientIdParam)?.getKey === undefined) {
    // Development mode only: the built-in clients need no key (dev-mode.ts).
    client = ctx.clients.get(clientIdParam) as RegisteredClient;
  } else {
    if (assertionType !== JWT_BEARER_ASSERTION) {
      throw new OAuthError('invalid_request', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
    }
    if (assertion === undefined) {
      throw new OAuthError('invalid_request', 'client_assertion is required');
    }
    if (scope === undefined) {
      throw new OAuthError('invalid_request', 'scope is required');
    }
    client = clientOfAssertion(assertion, ctx, clientIdParam);
    await authenticateClient(assertion, client, ctx);
  }
  const scopes = grant(client, scope);
  const issued = await ctx.issue(client, scopes);
  return {
    response: { access_token: issued.token, token_type: 'bearer', expires_in: issued.expiresIn, scope: scopes.map((s) => s.text).join(' ') },
    clientId: client.config.clientId,
    tokenId: issued.jti,
  };
}
