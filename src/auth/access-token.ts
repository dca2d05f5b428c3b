// carebridge's access tokens: short JWTs (at most five minutes) signed with the shared signing key,
// so any worker or instance verifies them without a lookup. They carry the client and the scopes
// granted; the client's role and organization come from the current config when verified.
import { SignJWT, errors, jwtVerify } from 'jose';
import { randomUUID } from 'node:crypto';
import type { ClientConfig } from '../config/config.ts';
import type { Principal } from './principal.ts';
import type { Scope } from './scopes.ts';
import { parseScopes } from './scopes.ts';
import type { SigningKey } from './signing-key.ts';

/** RFC 9068's media type for JWT access tokens: an access token is never mistaken for another JWT. */
const ACCESS_TOKEN_TYP = 'at+jwt';
/** Clocks of instances and clients drift a little; a few seconds of grace, no more. */
export const CLOCK_TOLERANCE_SECONDS = 10;

/** Why a bearer token was refused: `expired` tells a client to get a new token. */
export class InvalidTokenError extends Error {
  readonly reason: 'missing' | 'malformed' | 'expired' | 'invalid';

  constructor(reason: InvalidTokenError['reason'], description: string) {
    super(description);
    this.name = 'InvalidTokenError';
    this.reason = reason;
  }
}

export interface IssuedToken {
  token: string;
  jti: string;
  expiresIn: number;
}

export interface TokenAudience {
  /** The server's base URL: the tokens' issuer. */
  issuer: string;
  /** What the tokens are for: the FHIR base URL. */
  audience: string;
}

/** `claims`: more claims of the token (a board session's auth_time, which its renewals keep). */
export async function issueAccessToken(key: SigningKey, where: TokenAudience, clientId: string, scopes: readonly Scope[], seconds: number, claims: Record<string, string | number> = {}): Promise<IssuedToken> {
  const jti = randomUUID();
  const token = await new SignJWT({ ...claims, client_id: clientId, scope: scopes.map((s) => s.text).join(' ') })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYP })
    .setIssuer(where.issuer)
    .setAudience(where.audience)
    .setSubject(clientId)
    .setJti(jti)
    .setIssuedAt()
    .setExpirationTime(`${seconds}s`)
    .sign(key.privateKey);
  return { token, jti, expiresIn: seconds };
}

/**
 * The Principal a carebridge access token stands for. Throws InvalidTokenError when the token is
 * malformed, expired, not signed by `key`, for another issuer or audience, or names a client the
 * config no longer has.
 */
export async function verifyAccessToken(key: SigningKey, where: TokenAudience, token: string, clientById: (id: string) => ClientConfig | undefined): Promise<Principal> {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    throw new InvalidTokenError('malformed', 'The access token is not a JWT');
  }
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key.publicKey, {
      algorithms: [key.alg],
      typ: ACCESS_TOKEN_TYP,
      issuer: where.issuer,
      audience: where.audience,
      requiredClaims: ['exp', 'jti', 'sub'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) {
      throw new InvalidTokenError('expired', 'The access token has expired');
    }
    if (err instanceof errors.JWTClaimValidationFailed) {
      throw new InvalidTokenError('invalid', `The access token is not valid here (${err.claim})`);
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) {
      throw new InvalidTokenError('invalid', 'The access token signature is not valid');
    }
    throw new InvalidTokenError('invalid', 'The access token is not valid');
  }
  const clientId = payload.sub as string;
  const client = clientById(clientId);
  if (!client) {
    throw new InvalidTokenError('invalid', 'The access token names a client that is not registered');
  }
  const scope = typeof payload.scope === 'string' ? payload.scope : '';
  return {
    clientId,
    clientName: client.name,
    role: client.role,
    organization: client.organization,
    scopes: parseScopes(scope).scopes,
    tokenId: payload.jti as string,
  };
}
