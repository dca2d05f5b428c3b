// Realistic data for bench/server.ts: transition plans from the fast-check generator, mapped to
// FHIR by the real mapping. Two shapes:
// - ingest: transaction Bundles of exactly 20 entries, a dependency-closed subset of a mapped plan
//   (every urn:uuid reference points inside the Bundle), each for a different patient;
// - seed: per patient a Patient, CareTeam, CarePlan and its Tasks with final ids, for writing
//   straight into a store.
import fc from 'fast-check';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { defaultMappingContext } from '../src/mapping/context.ts';
import { toFhir } from '../src/mapping/to-fhir.ts';
import type { TransitionPlan } from '../src/model/transition-plan.ts';
import { validatePlan } from '../src/validation/plan.ts';
import { npiFrom, planArbitrary } from '../test/support/plan-arbitrary.ts';

export const ENTRIES_PER_BUNDLE = 20;
const NPI_SYSTEM = 'http://hl7.org/fhir/sid/us-npi';

/** Small deterministic hash → 9 digits, for NPIs that differ between plans. */
function nineDigits(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 16777619) >>> 0;
    h2 = Math.imul(h2 ^ c, 2246822519) >>> 0;
  }
  return String(((h1 % 100_000) * 10_000 + (h2 % 10_000)) % 1_000_000_000).padStart(9, '0');
}

/**
 * Gives every identifier of a plan (patient, plan, staff, NPIs…) a value unique to `tag`, the same
 * old value always getting the same new one, so that conditional creates of different plans never
 * match each other (the generator reuses short values such as "staff-0").
 */
function uniquify(plan: TransitionPlan, tag: string): TransitionPlan {
  const renamed = new Map<string, string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    if (value === null || typeof value !== 'object') {
      return;
    }
    const object = value as Record<string, unknown>;
    if (typeof object.system === 'string' && typeof object.value === 'string') {
      const key = `${object.system}|${object.value}`;
      let next = renamed.get(key);
      if (next === undefined) {
        next = object.system === NPI_SYSTEM ? npiFrom(nineDigits(`${tag}/${key}`)) : `B${tag}-${renamed.size}`;
        renamed.set(key, next);
      }
      object.value = next;
    }
    Object.values(object).forEach(visit);
  };
  const copy = structuredClone(plan);
  // Contact points (telecom) also have system/value: keep those as generated.
  const telecoms: unknown[] = [];
  const hide = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(hide);
    } else if (value !== null && typeof value === 'object') {
      const object = value as Record<string, unknown>;
      if (object.telecom !== undefined) {
        telecoms.push([object, object.telecom]);
        delete object.telecom;
      }
      Object.values(object).forEach(hide);
    }
  };
  hide(copy);
  visit(copy);
  for (const [object, telecom] of telecoms as [Record<string, unknown>, unknown][]) {
    object.telecom = telecom;
  }
  return copy;
}

/** The urn:uuid references found anywhere in `value`. */
function referencesOf(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) {
    value.forEach((v) => referencesOf(v, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'reference' && typeof v === 'string' && v.startsWith('urn:uuid:')) {
        out.add(v);
      } else if (typeof v === 'object') {
        referencesOf(v, out);
      }
    }
  }
  return out;
}

/** Entries, in Bundle order, of a dependency-closed subset of exactly `size` entries; CarePlan and Tasks first. */
function closedSubset(bundle: Bundle, size: number): BundleEntry[] | undefined {
  const entries = bundle.entry ?? [];
  const byUrl = new Map(entries.map((e) => [e.fullUrl as string, e]));
  const closure = (start: BundleEntry): Set<string> => {
    const seen = new Set<string>([start.fullUrl as string]);
    const todo = [start];
    while (todo.length > 0) {
      const e = todo.pop() as BundleEntry;
      for (const ref of referencesOf(e.resource)) {
        const target = byUrl.get(ref);
        if (target && !seen.has(ref)) {
          seen.add(ref);
          todo.push(target);
        }
      }
    }
    return seen;
  };
  const order: Record<string, number> = { Patient: 0, CarePlan: 1, CareTeam: 2, Task: 3 };
  const priority = (e: BundleEntry): number => order[e.resource?.resourceType ?? ''] ?? 4;
  const chosen = new Set<string>();
  for (const e of [...entries].sort((a, b) => priority(a) - priority(b))) {
    const add = [...closure(e)].filter((u) => !chosen.has(u));
    if (chosen.size + add.length <= size) {
      add.forEach((u) => chosen.add(u));
    }
    if (chosen.size === size) {
      break;
    }
  }
  return chosen.size === size ? entries.filter((e) => chosen.has(e.fullUrl as string)) : undefined;
}

/** Plans from the generator (seeded), valid and with identifiers unique to `tag`-k. */
function* plans(seed: number, tag: string): Generator<{ k: number; plan: TransitionPlan }> {
  let k = 0;
  for (let round = 0; ; round++) {
    for (const raw of fc.sample(planArbitrary, { seed: seed + round, numRuns: 200 })) {
      const plan = uniquify(raw, `${tag}x${k}`);
      const checked = validatePlan(plan);
      if (checked.plan) {
        yield { k: k++, plan: checked.plan };
      }
    }
  }
}

export interface IngestSet {
  /** JSON bodies of transaction Bundles, ENTRIES_PER_BUNDLE entries each, one patient each. */
  bodies: string[];
  /** How many resources of each type the Bundles hold together. */
  types: Record<string, number>;
  /** Plans whose mapped Bundle had no closed subset of the right size (left out). */
  skipped: number;
}

export function ingestBundles(count: number, seed: number, tag: string): IngestSet {
  const ctx = defaultMappingContext();
  const bodies: string[] = [];
  const types: Record<string, number> = {};
  let skipped = 0;
  for (const { plan } of plans(seed, tag)) {
    if (bodies.length >= count) {
      break;
    }
    const subset = closedSubset(toFhir(plan, ctx), ENTRIES_PER_BUNDLE);
    if (!subset) {
      skipped++;
      continue;
    }
    subset.forEach((e) => (types[e.resource?.resourceType ?? '?'] = (types[e.resource?.resourceType ?? '?'] ?? 0) + 1));
    bodies.push(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: subset } satisfies Bundle));
  }
  return { bodies, types, skipped };
}

// ---------------------------------------------------------------------------------------------
// Seeding

/** One mapped plan reduced to what the search benchmark needs, as JSON with urn:uuid placeholders. */
export interface SeedTemplate {
  /** Resource JSON (without id) per entry kept: Patient, CareTeam, CarePlan, Tasks. */
  resources: { type: string; urn: string; json: string }[];
  /** urn:uuid → resource type, of every entry of the mapped Bundle (kept or not). */
  typeOf: Map<string, string>;
}

const SEED_TYPES = new Set(['Patient', 'CareTeam', 'CarePlan', 'Task']);

export function seedTemplates(count: number, seed: number): SeedTemplate[] {
  const ctx = defaultMappingContext();
  const out: SeedTemplate[] = [];
  for (const { plan } of plans(seed, 'seed')) {
    if (out.length >= count) {
      break;
    }
    const bundle = toFhir(plan, ctx);
    const typeOf = new Map<string, string>();
    const resources: SeedTemplate['resources'] = [];
    for (const e of bundle.entry ?? []) {
      const r = e.resource as Resource;
      typeOf.set(e.fullUrl as string, r.resourceType);
      if (SEED_TYPES.has(r.resourceType)) {
        resources.push({ type: r.resourceType, urn: e.fullUrl as string, json: JSON.stringify(r) });
      }
    }
    if (resources.some((r) => r.type === 'Task')) {
      out.push({ resources, typeOf });
    }
  }
  return out;
}

const URN = /urn:uuid:[0-9a-f-]{36}/g;

/**
 * The resources of patient `n` from a template, with final ids: `p<n>-<k>`; references to
 * Organizations go to one of `agencies` shared organizations (`org-<j>`), so that
 * Task?owner=Organization/… finds the tasks of several patients.
 */
export function seedPatient(template: SeedTemplate, n: number, agencies: number): { resource: Resource; id: string }[] {
  const ids = new Map<string, string>();
  let k = 0;
  let orgs = 0;
  const idFor = (urn: string): string => {
    let ref = ids.get(urn);
    if (ref === undefined) {
      const type = template.typeOf.get(urn) ?? 'Basic';
      ref = type === 'Organization' ? `Organization/org-${(n + orgs++ * 7919) % agencies}` : `${type}/p${n}-${k++}`;
      ids.set(urn, ref);
    }
    return ref;
  };
  return template.resources.map((r) => {
    const ref = idFor(r.urn);
    const resource = JSON.parse(r.json.replace(URN, (urn) => idFor(urn))) as Resource;
    return { resource, id: ref.slice(ref.indexOf('/') + 1) };
  });
}

/** An agency Organization for seeding. */
export function agency(j: number): Resource {
  return {
    resourceType: 'Organization',
    identifier: [{ system: NPI_SYSTEM, value: npiFrom(String(100_000_000 + j).slice(-9)) }],
    active: true,
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
    name: `Home Health Agency ${j}`,
    telecom: [{ system: 'phone', value: `+1-614-555-${String(j % 10_000).padStart(4, '0')}`, use: 'work' }],
  } as Resource;
}

/** A deterministic shuffle (LCG), so runs with the same seed ask for the same ids in the same order. */
export function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
