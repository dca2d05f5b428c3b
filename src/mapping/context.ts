// What a mapper needs from outside, passed in so that mappers stay pure and deterministic.
import { randomUUID } from 'node:crypto';

export interface MappingContext {
  /** A fresh UUID for each urn:uuid fullUrl of a transaction Bundle. */
  newUuid: () => string;
}

export function defaultMappingContext(): MappingContext {
  return { newUuid: randomUUID };
}

/** Deterministic UUIDs (…-000000000001, …-000000000002, …) for golden files and tests. */
export function sequentialUuids(): MappingContext {
  let n = 0;
  return {
    newUuid: () => {
      n++;
      return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
    },
  };
}
