import { describe, expect, it } from '@jest/globals';
import { newResourceId } from '../../src/store/resource-id.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newResourceId', () => {
  it('gives UUID version 7 ids, all different, in the order they were made (also within one millisecond)', () => {
    // More ids than the random pool holds, most of them within the same millisecond.
    const ids = Array.from({ length: 5000 }, () => newResourceId());
    expect(ids.every((id) => UUID_V7.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('carries the current time in its first 48 bits', () => {
    const before = Date.now();
    const id = newResourceId();
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now() + 1);
  });
});
