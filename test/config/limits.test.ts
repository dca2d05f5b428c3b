import { describe, expect, it } from '@jest/globals';
import { runServe } from '../../src/cli/serve-command.ts';
import type { Io } from '../../src/cli/output.ts';
import { ConfigError, DEFAULT_LIMITS, describeBytes, limitsFromEnv } from '../../src/config/limits.ts';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    limitsFromEnv(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('limits from the environment', () => {
  it('defaults to 5 MB bodies, 30 s per request, 1200 requests a minute and CORS off', () => {
    expect(limitsFromEnv({})).toEqual({ maxBodyBytes: 5 * 1024 * 1024, requestTimeoutMs: 30_000, rateLimitPerMinute: 1200, corsOrigins: [] });
    expect(limitsFromEnv({ CAREBRIDGE_MAX_BODY_BYTES: '', CAREBRIDGE_CORS_ORIGINS: ' ' })).toEqual(DEFAULT_LIMITS);
  });

  it('reads every variable', () => {
    expect(
      limitsFromEnv({
        CAREBRIDGE_MAX_BODY_BYTES: '1048576',
        CAREBRIDGE_REQUEST_TIMEOUT_MS: '5000',
        CAREBRIDGE_RATE_LIMIT: '0',
        CAREBRIDGE_CORS_ORIGINS: 'https://app.example.org, http://localhost:5173',
      }),
    ).toEqual({ maxBodyBytes: 1_048_576, requestTimeoutMs: 5000, rateLimitPerMinute: 0, corsOrigins: ['https://app.example.org', 'http://localhost:5173'] });
  });

  it.each([
    ['CAREBRIDGE_MAX_BODY_BYTES', '5MB', 'CAREBRIDGE_MAX_BODY_BYTES must be a whole number of bytes from 1024 to 52428800, not "5MB"'],
    ['CAREBRIDGE_MAX_BODY_BYTES', '100', 'from 1024 to 52428800, not "100"'],
    ['CAREBRIDGE_MAX_BODY_BYTES', '104857600', 'not "104857600"'],
    ['CAREBRIDGE_REQUEST_TIMEOUT_MS', '1e4', 'CAREBRIDGE_REQUEST_TIMEOUT_MS must be a whole number of milliseconds from 100 to 600000, not "1e4"'],
    ['CAREBRIDGE_RATE_LIMIT', '-1', 'CAREBRIDGE_RATE_LIMIT must be a whole number of requests per minute (0 = off) from 0 to 1000000, not "-1"'],
    ['CAREBRIDGE_RATE_LIMIT', ' 10', 'not " 10"'],
    ['CAREBRIDGE_CORS_ORIGINS', '*', 'CAREBRIDGE_CORS_ORIGINS must list exact origins like https://app.example.org (scheme, host, optional port; no path, no "*"), not "*"'],
    ['CAREBRIDGE_CORS_ORIGINS', 'https://app.example.org/', 'not "https://app.example.org/"'],
    ['CAREBRIDGE_CORS_ORIGINS', 'app.example.org', 'not "app.example.org"'],
    ['CAREBRIDGE_CORS_ORIGINS', 'ftp://files.example.org', 'not "ftp://files.example.org"'],
  ])('refuses %s=%j, naming the variable, the range and the value', (name, value, message) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
  });

  it('lists every bad value at once', () => {
    expect(problemsOf({ CAREBRIDGE_MAX_BODY_BYTES: 'x', CAREBRIDGE_REQUEST_TIMEOUT_MS: '0', CAREBRIDGE_RATE_LIMIT: '1.5' })).toHaveLength(3);
  });

  it('names sizes in their largest whole unit', () => {
    expect([describeBytes(5 * 1024 * 1024), describeBytes(2048), describeBytes(1500)]).toEqual(['5 MB', '2 KB', '1500 bytes']);
  });
});

describe('carebridge serve with a bad limit', () => {
  it('refuses to start, exits 1 and says which variable is wrong', async () => {
    const err: string[] = [];
    const io: Io = { out: () => undefined, err: (t) => err.push(t) };
    const code = await runServe(io, { CAREBRIDGE_WORKERS: '1', CAREBRIDGE_MAX_BODY_BYTES: 'lots', CAREBRIDGE_CORS_ORIGINS: '*', CAREBRIDGE_DATABASE: 'sqlite:/nonexistent/never-opened.db' });
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/^Invalid configuration:\n {2}CAREBRIDGE_MAX_BODY_BYTES must be .* not "lots"\n {2}CAREBRIDGE_CORS_ORIGINS must list exact origins/);
  });
});
