import { describe, expect, it } from '@jest/globals';
import type { Scope } from '../../src/auth/scopes.ts';
import { allows, grantScopes, parseScope, parseScopes } from '../../src/auth/scopes.ts';

const letters = (scope: Scope | undefined): string => [...(scope?.permissions ?? [])].join('');
const texts = (scopes: Scope[]): string[] => scopes.map((s) => s.text).sort();
const parsed = (text: string): Scope[] => parseScopes(text).scopes;

describe('parseScope', () => {
  it('reads SMART v2 system scopes, letters in cruds order', () => {
    expect(parseScope('system/CarePlan.rs')).toMatchObject({ resourceType: 'CarePlan', text: 'system/CarePlan.rs' });
    expect(letters(parseScope('system/CarePlan.rs'))).toBe('rs');
    expect(letters(parseScope('system/*.cruds'))).toBe('cruds');
    expect(letters(parseScope('system/Task.u'))).toBe('u');
  });

  it('maps the v1 words onto v2 permissions', () => {
    expect(letters(parseScope('system/Patient.read'))).toBe('rs');
    expect(letters(parseScope('system/Patient.write'))).toBe('cud');
    expect(letters(parseScope('system/*.*'))).toBe('cruds');
  });

  it.each([
    'patient/CarePlan.rs', // not a system scope
    'user/*.read',
    'system/CarePlan.sr', // out of order
    'system/CarePlan.rr', // repeated
    'system/CarePlan.x',
    'system/CarePlan.',
    'system/carePlan.rs', // not a resource type
    'system/CarePlan.rs?category=x', // query restrictions are not supported
    'openid',
    'system/CarePlan.constructor',
    'system/CarePlan.toString',
    '',
  ])('refuses %j', (text) => {
    expect(parseScope(text)).toBeUndefined();
  });
});

describe('parseScopes', () => {
  it('splits on any whitespace and keeps what it did not understand apart', () => {
    const { scopes, unknown } = parseScopes('  system/CarePlan.rs\tlaunch  system/Task.read\nopenid ');
    expect(texts(scopes)).toEqual(['system/CarePlan.rs', 'system/Task.read']);
    expect(unknown).toEqual(['launch', 'openid']);
  });
});

describe('allows', () => {
  it('grants a permission on a type through its own scope or a wildcard', () => {
    const scopes = parsed('system/CarePlan.rs system/*.r');
    expect(allows(scopes, 'CarePlan', 's')).toBe(true);
    expect(allows(scopes, 'Task', 'r')).toBe(true);
    expect(allows(scopes, 'Task', 's')).toBe(false);
    expect(allows(scopes, 'CarePlan', 'c')).toBe(false);
    expect(allows([], 'CarePlan', 'r')).toBe(false);
  });
});

describe('grantScopes', () => {
  it('keeps what is both requested and allowed, per type and permission', () => {
    expect(texts(grantScopes(parsed('system/CarePlan.cruds'), parsed('system/CarePlan.rs')))).toEqual(['system/CarePlan.rs']);
    expect(texts(grantScopes(parsed('system/CarePlan.rs system/Task.rs'), parsed('system/CarePlan.rs')))).toEqual(['system/CarePlan.rs']);
  });

  it('narrows a requested wildcard to the types allowed', () => {
    expect(texts(grantScopes(parsed('system/*.rs'), parsed('system/CarePlan.rs system/Task.cruds')))).toEqual(['system/CarePlan.rs', 'system/Task.rs']);
  });

  it('grants a requested type under an allowed wildcard', () => {
    expect(texts(grantScopes(parsed('system/Task.cu'), parsed('system/*.cruds')))).toEqual(['system/Task.cu']);
    expect(texts(grantScopes(parsed('system/*.read'), parsed('system/*.cruds')))).toEqual(['system/*.rs']);
  });

  it('merges several grants for one type into one scope', () => {
    expect(texts(grantScopes(parsed('system/Task.r system/Task.s system/Task.c'), parsed('system/Task.rs')))).toEqual(['system/Task.rs']);
  });

  it('grants nothing when nothing overlaps', () => {
    expect(grantScopes(parsed('system/Coverage.rs'), parsed('system/CarePlan.rs'))).toEqual([]);
    expect(grantScopes(parsed('system/CarePlan.c'), parsed('system/CarePlan.rs'))).toEqual([]);
    expect(grantScopes([], parsed('system/*.cruds'))).toEqual([]);
  });
});
