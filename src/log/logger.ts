// Structured JSON logs (winston). Messages are constant strings; details go in fields. Whatever a
// caller passes, fields that can carry patient data or credentials are redacted before anything
// is written; child loggers (one per request) go through the same format.
import winston from 'winston';

/** Field names that may hold patient data (FHIR element names and common synonyms). */
const PHI_KEYS = new Set([
  'name', 'given', 'family', 'birthdate', 'birthDate', 'address', 'line', 'city', 'postalcode', 'postalCode',
  'telecom', 'phone', 'email', 'identifier', 'value', 'mrn', 'memberid', 'memberId', 'subscriberId', 'ssn',
  'text', 'note', 'description', 'body', 'resource', 'content', 'patient',
]);

const REDACTED = '[redacted]';

/**
 * Field names that hold credentials (lower case; keys are compared lower-cased too): HTTP
 * headers, OAuth 2.0 / SMART Backend Services parameters, configuration secrets.
 */
const SECRET_KEYS = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'apikey', 'api_key',
  'token', 'access_token', 'accesstoken', 'refresh_token', 'refreshtoken', 'id_token', 'idtoken', 'bearer', 'jwt',
  'client_assertion', 'clientassertion', 'assertion', 'client_secret', 'clientsecret',
  'secret', 'password', 'passphrase', 'privatekey', 'private_key', 'signingkey', 'signing_key',
]);
/** A JWK's public members; anything else in an object with `kty` (d, p, q, dp, dq, qi, k, oth) is private. */
const JWK_PUBLIC = new Set(['kty', 'kid', 'alg', 'use', 'key_ops', 'crv', 'x', 'y', 'n', 'e', 'x5t', 'x5t#S256']);
/** A bearer credential or a JWT inside a string (a header value or URL someone logged whole). */
const CREDENTIAL_IN_TEXT = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{16,}|\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

function isSensitiveKey(key: string): boolean {
  if (PHI_KEYS.has(key)) {
    return true;
  }
  const lower = key.toLowerCase();
  return PHI_KEYS.has(lower) || SECRET_KEYS.has(lower);
}

function scrubText(text: string): string {
  // Cheap test first: most strings hold neither word.
  return text.includes('eyJ') || /Bearer|Basic/.test(text) ? text.replace(CREDENTIAL_IN_TEXT, REDACTED) : text;
}

/** Logged objects are cut at this depth: logs are not a dump. */
const MAX_DEPTH = 6;

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return scrubText(value);
  }
  if (value === null || typeof value !== 'object') {
    return value;
  }
  if (depth >= MAX_DEPTH) {
    return '[truncated]';
  }
  if (Array.isArray(value)) {
    return value.map((v) => redact(v, depth + 1));
  }
  if (value instanceof Error) {
    // An error's message may quote the input that caused it (a value a database refused):
    // keep what says where and what kind, never the message.
    const code = (value as { code?: unknown }).code;
    const frames = (value.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).slice(0, 8).map((line) => line.trim());
    return { name: value.name, ...(typeof code === 'string' ? { code } : {}), frames };
  }
  const jwk = 'kty' in value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = isSensitiveKey(key) || (jwk && !JWK_PUBLIC.has(key)) ? REDACTED : redact(v, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message' || key === 'timestamp') {
      continue;
    }
    info[key] = isSensitiveKey(key) ? REDACTED : redact(info[key]);
  }
  // Messages are constant strings, but one that quotes a credential must not write it.
  if (typeof info.message === 'string') {
    info.message = scrubText(info.message);
  }
  return info;
});

export type Logger = winston.Logger;

export function createLogger(options: { level?: string; stream?: NodeJS.WritableStream } = {}): Logger {
  return winston.createLogger({
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    format: winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.json()),
    transports: [options.stream ? new winston.transports.Stream({ stream: options.stream }) : new winston.transports.Console()],
  });
}
