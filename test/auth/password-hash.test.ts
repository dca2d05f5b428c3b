// Board users' password hashes: scrypt with its parameters and salt in the string, checked in
// constant time, every hash different for the same password.
import { describe, expect, it } from '@jest/globals';
import { DEFAULT_SCRYPT, hashPassword, parsePasswordHash, verifyPassword } from '../../src/auth/password-hash.ts';
import type { PasswordHash } from '../../src/auth/password-hash.ts';

describe('password hashes', () => {
  it('verify the password they were made from and nothing else', async () => {
    const text = await hashPassword('correct horse battery staple');
    expect(text).toMatch(new RegExp(`^scrypt\\$${DEFAULT_SCRYPT.N}\\$8\\$1\\$[A-Za-z0-9_-]{22}\\$[A-Za-z0-9_-]{43}$`));
    const hash = parsePasswordHash(text) as PasswordHash;
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', hash)).toBe(false);
    expect(await verifyPassword('', hash)).toBe(false);
    // A fresh salt each time: equal passwords do not give equal hashes.
    expect(await hashPassword('correct horse battery staple')).not.toBe(text);
  });

  it('read the same password typed in another Unicode form', async () => {
    const hash = parsePasswordHash(await hashPassword('Crème brûlée', { N: 2 ** 14, r: 8, p: 1 })) as PasswordHash;
    expect(await verifyPassword('Cre\u0300me bru\u0302le\u0301e', hash)).toBe(true);
  });

  it('are refused when they are not scrypt hashes carebridge will check', () => {
    for (const text of ['', 'hunter2', '$2b$12$abcdefghijklmnopqrstuv', 'scrypt$16384$8$1$short$short']) {
      expect(typeof parsePasswordHash(text)).toBe('string');
    }
  });
});
