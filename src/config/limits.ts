// The HTTP limits a server runs with (body size, handler time, rate, CORS), read from the
// environment once at start and validated there: a bad value stops the server with a message
// that names the variable, the value and what is allowed, never a silent default.

export interface Limits {
  /** Largest request body read, in bytes (413 above it). */
  maxBodyBytes: number;
  /** A handler still running after this answers 504 `timeout`; its late result is dropped. */
  requestTimeoutMs: number;
  /** Requests per minute per client (principal, else IP); 0 turns rate limiting off. */
  rateLimitPerMinute: number;
  /** Browser origins allowed by CORS, exact match; empty = CORS off. */
  corsOrigins: readonly string[];
}

/** 5 MB: a large transition plan is ~50 kB; a Bundle of a whole stay stays far below. */
export const DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024;
/** 30 s: a whole-transition Bundle commits in well under a second; this is a stuck request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** 1,200/min = 20/s sustained per client: a busy EHR poller or agency sync, not a runaway loop. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 1_200;

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
  rateLimitPerMinute: DEFAULT_RATE_LIMIT_PER_MINUTE,
  corsOrigins: Object.freeze([]) as readonly string[],
});

/** The variables, their bounds and what they mean (for errors and help text). */
export const LIMIT_VARIABLES = {
  CAREBRIDGE_MAX_BODY_BYTES: { key: 'maxBodyBytes', min: 1024, max: 50 * 1024 * 1024, unit: 'bytes' },
  CAREBRIDGE_REQUEST_TIMEOUT_MS: { key: 'requestTimeoutMs', min: 100, max: 600_000, unit: 'milliseconds' },
  CAREBRIDGE_RATE_LIMIT: { key: 'rateLimitPerMinute', min: 0, max: 1_000_000, unit: 'requests per minute (0 = off)' },
} as const;

type NumericLimit = keyof typeof LIMIT_VARIABLES;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

function show(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

function parseNumber(name: NumericLimit, raw: string, problems: string[]): number | undefined {
  const { min, max, unit } = LIMIT_VARIABLES[name];
  // Digits only: "5MB", "1e6", "0x10" and " 5" are refused rather than guessed at.
  const n = /^[0-9]{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    problems.push(`${name} must be a whole number of ${unit} from ${min} to ${max}, not ${show(raw)}`);
    return undefined;
  }
  return n;
}

/** An origin as a browser sends it: scheme://host[:port], nothing more. */
function parseOrigins(raw: string, problems: string[]): string[] {
  const origins: string[] = [];
  for (const part of raw.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    let origin: string | undefined;
    try {
      const url = new URL(part);
      origin = (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === part ? url.origin : undefined;
    } catch {
      origin = undefined;
    }
    if (origin === undefined) {
      // "*" is refused on purpose: PHI is never readable by any web page that asks.
      problems.push(`CAREBRIDGE_CORS_ORIGINS must list exact origins like https://app.example.org (scheme, host, optional port; no path, no "*"), not ${show(part)}`);
    } else {
      origins.push(origin);
    }
  }
  return origins;
}

/** Reads and checks the limit variables; throws ConfigError listing every bad value at once. */
export function limitsFromEnv(env: NodeJS.ProcessEnv): Limits {
  const problems: string[] = [];
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(LIMIT_VARIABLES) as NumericLimit[]) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      continue;
    }
    const value = parseNumber(name, raw, problems);
    if (value !== undefined) {
      limits[LIMIT_VARIABLES[name].key] = value;
    }
  }
  const cors = env.CAREBRIDGE_CORS_ORIGINS;
  if (cors !== undefined && cors.trim() !== '') {
    limits.corsOrigins = Object.freeze(parseOrigins(cors, problems));
  }
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return limits;
}

/** Defaults for whatever is not given (createApp callers and tests pass only what they change). */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...partial };
}

/** 5242880 → "5 MB", 2048 → "2 KB", 1500 → "1500 bytes": for messages that name a limit. */
export function describeBytes(bytes: number): string {
  const MB = 1024 * 1024;
  if (bytes % MB === 0) {
    return `${bytes / MB} MB`;
  }
  return bytes % 1024 === 0 ? `${bytes / 1024} KB` : `${bytes} bytes`;
}
