// Validates FHIR R4 resources and Bundles: base R4 (Medplum), the carebridge profile a resource
// claims in meta.profile, carebridge's extra checks (required bindings, reference targets, ids,
// empty strings) and, in a Bundle, that every reference resolves. Output: OperationOutcome issues.
import { OperationOutcomeError, isResourceType, validateResource, validateTypedValue } from '@medplum/core';
import type { InternalTypeSchema } from '@medplum/core';
import type { Bundle, BundleEntry, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { loadDefinitions } from './definitions.ts';
import { issue } from './outcome.ts';
import { checkProfileRules } from './profile-rules.ts';
import { jsonTypeOf } from '../util/json-type.ts';
import { BLANK_STRING, checkStructure } from './structure-checks.ts';

export interface ResourceValidationOptions {
  /** Expression prefix for issues, e.g. "Bundle.entry[3].resource" (default: the resource type). */
  path?: string;
  /** Resource type of a fullUrl in the enclosing Bundle, to check urn:uuid reference targets. */
  typeOfFullUrl?: (url: string) => string | undefined;
  /** Inside a Bundle that must be self-contained: whether a reference resolves to an entry. */
  resolvesInBundle?: (reference: string) => boolean;
  /**
   * "full" (default) for FHIR from outside: Medplum's validator (cardinality, data types,
   * primitive formats, FHIRPath invariants) plus carebridge's checks.
   * "mapped" for what carebridge's own mapper made from a validated plan: carebridge's checks
   * with cardinality, fixed/pattern values and primitive JSON types and formats, no Medplum walk
   * (~10x faster; POST /transitions uses it). The property tests show full validation finds
   * nothing more in the mapper's output (test/mapping/mapped-validation-property.test.ts).
   */
  tier?: 'full' | 'mapped';
}

/** Medplum's issues, with expressions re-rooted at `path` and the place named in the text. */
function fromMedplum(run: () => OperationOutcomeIssue[], type: string, path: string): OperationOutcomeIssue[] {
  let issues: OperationOutcomeIssue[];
  try {
    issues = run();
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      return [issue('error', 'structure', `${path}: ${(err as Error).message}`, path)];
    }
    issues = err.outcome.issue ?? [];
  }
  // Medplum's "Invalid reference" warnings do not understand urn:uuid or conditional references,
  // and it only warns of two values of one choice element: checkStructure reports both as errors.
  const ownedByStructure = (text = ''): boolean => text.startsWith('Invalid reference') || text.startsWith('Conflicting choice of type properties');
  return issues.filter((i) => !(i.severity === 'warning' && ownedByStructure(i.details?.text))).map((i) => {
    const expression = (i.expression ?? [type]).map((e) => (e === type || e.startsWith(`${type}.`) ? path + e.slice(type.length) : `${path}.${e}`));
    const text = i.details?.text ?? i.diagnostics ?? 'invalid';
    return { severity: i.severity, code: i.code, details: { text: `${expression[0]}: ${text}` }, expression };
  });
}

function dedupe(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.severity}|${i.details?.text}`;
    if (seen.has(key)) {
      return false;
    }
    seen.add(key);
    return true;
  });
}

export function validateFhirResource(resource: Resource, options: ResourceValidationOptions = {}): OperationOutcomeIssue[] {
  const { terminology, profiles } = loadDefinitions();
  const type = resource.resourceType;
  const path = options.path ?? type;
  const full = options.tier !== 'mapped';
  if (typeof type !== 'string' || !isResourceType(type)) {
    return [issue('error', 'structure', `${path}.resourceType: "${String(type)}" is not a FHIR R4 resource type`, `${path}.resourceType`)];
  }
  const issues: OperationOutcomeIssue[] = [];
  let profileSchema: InternalTypeSchema | undefined;
  for (const url of resource.meta?.profile ?? []) {
    const profile = profiles.get(url);
    if (!profile) {
      issues.push(issue('warning', 'not-supported', `${path}.meta.profile: carebridge does not hold the profile ${url}; validated against base R4 only`, `${path}.meta.profile`));
      continue;
    }
    if (profile.structureDefinition.type !== type) {
      issues.push(issue('error', 'invalid', `${path}.meta.profile: ${url} is a profile of ${profile.structureDefinition.type}, not ${type}`, `${path}.meta.profile`));
      continue;
    }
    profileSchema ??= profile.schema;
    if (full) {
      issues.push(...fromMedplum(() => validateTypedValue({ type: profile.typeAlias, value: resource }), type, path));
    }
    issues.push(...checkProfileRules(resource, url, path));
  }
  // A profile's snapshot holds every element and constraint of the base type, so a resource
  // validated against its profile needs no second pass against the base.
  if (full && !profileSchema) {
    issues.unshift(...fromMedplum(() => validateResource(resource), type, path));
  }
  // Medplum already refuses some blank strings and wrong JSON types (null); say it once.
  const reported = new Set(issues.filter((i) => i.severity === 'error').flatMap((i) => i.expression ?? []));
  const extra = checkStructure(resource, { terminology, typeOfFullUrl: options.typeOfFullUrl, resolvesInBundle: options.resolvesInBundle, cardinality: !full }, path, profileSchema);
  issues.push(...extra.filter((i) => !((i.code === 'structure' || i.details?.text?.endsWith(BLANK_STRING)) && reported.has(i.expression?.[0] ?? ''))));
  return dedupe(issues);
}

function checkEntries(bundle: Bundle): { issues: OperationOutcomeIssue[]; types: Map<string, string> } {
  const issues: OperationOutcomeIssue[] = [];
  const types = new Map<string, string>();
  const needsRequest = bundle.type === 'transaction' || bundle.type === 'batch';
  (bundle.entry ?? []).forEach((entry: BundleEntry, i) => {
    const path = `Bundle.entry[${i}]`;
    if (!entry.resource && entry.request?.method !== 'DELETE' && entry.request?.method !== 'GET') {
      issues.push(issue('error', 'required', `${path}.resource: an entry needs a resource`, `${path}.resource`));
    }
    if (needsRequest && !entry.request) {
      issues.push(issue('error', 'required', `${path}.request: every entry of a ${bundle.type} needs a request`, `${path}.request`));
    }
    const fullUrl: unknown = entry.fullUrl;
    if (fullUrl !== undefined && typeof fullUrl !== 'string') {
      // The shell's validation says so too (full tier); nothing below may read it as text.
      issues.push(issue('error', 'structure', `${path}.fullUrl: Invalid JSON type: expected string, but got ${jsonTypeOf(fullUrl)}`, `${path}.fullUrl`));
    } else if (entry.fullUrl) {
      if (types.has(entry.fullUrl)) {
        issues.push(issue('error', 'duplicate', `${path}.fullUrl: ${entry.fullUrl} is used by another entry`, `${path}.fullUrl`));
      }
      if (entry.fullUrl.startsWith('urn:uuid:') && !/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(entry.fullUrl)) {
        issues.push(issue('error', 'value', `${path}.fullUrl: ${entry.fullUrl} is not a valid urn:uuid`, `${path}.fullUrl`));
      }
      if (entry.resource) {
        types.set(entry.fullUrl, entry.resource.resourceType);
      }
    }
    if (entry.resource?.id) {
      types.set(`${entry.resource.resourceType}/${entry.resource.id}`, entry.resource.resourceType);
    }
  });
  return { issues, types };
}

/**
 * The shell has no resources, so the invariants about them fail there whatever the Bundle holds:
 * bdl-5 (an entry without request or response has a resource: message, document and collection
 * Bundles), bdl-11 and bdl-12 (a document's first resource is a Composition, a message's a
 * MessageHeader). Judged on the real entries instead.
 */
function strippedResourceArtefact(i: OperationOutcomeIssue, entries: readonly BundleEntry[]): boolean {
  const text = i.details?.text ?? '';
  const first = entries[0]?.resource?.resourceType;
  if (/\bbdl-5\b/.test(text)) {
    const at = /^Bundle\.entry\[(\d+)\]$/.exec(i.expression?.[0] ?? '');
    return at !== null && entries[Number(at[1])]?.resource !== undefined;
  }
  return (/\bbdl-11\b/.test(text) && first === 'Composition') || (/\bbdl-12\b/.test(text) && first === 'MessageHeader');
}

/** A Bundle: its structure, each resource (with its entry's path) and reference integrity. */
export function validateFhirBundle(bundle: Bundle, tier: 'full' | 'mapped' = 'full'): OperationOutcomeIssue[] {
  loadDefinitions();
  const entries = bundle.entry ?? [];
  const issues: OperationOutcomeIssue[] = [];
  if (tier === 'full') {
    // The Bundle's own structure, without its resources (each is validated below with its own path).
    const shell: Bundle = { ...bundle, entry: entries.map((e) => ({ ...e, resource: undefined })) };
    issues.push(...fromMedplum(() => validateResource(shell), 'Bundle', 'Bundle').filter((i) => !strippedResourceArtefact(i, entries)));
  }
  const { issues: entryIssues, types } = checkEntries(bundle);
  const reported = new Set(issues.filter((i) => i.severity === 'error').flatMap((i) => i.expression ?? []));
  issues.push(...entryIssues.filter((i) => !(i.code === 'structure' && reported.has(i.expression?.[0] ?? ''))));
  const typeOfFullUrl = (url: string): string | undefined => types.get(url);
  // Reference integrity: in a Bundle that is sent (transaction, batch, collection, ...) every
  // reference resolves to an entry, or is conditional, absolute or internal. Search results and
  // history may point outside themselves.
  const selfContained = bundle.type !== 'searchset' && bundle.type !== 'history';
  const resolvesInBundle = selfContained ? (reference: string): boolean => types.has(reference) : undefined;
  entries.forEach((entry, i) => {
    if (entry.resource) {
      issues.push(...validateFhirResource(entry.resource, { path: `Bundle.entry[${i}].resource`, typeOfFullUrl, resolvesInBundle, tier }));
    }
  });
  return dedupe(issues);
}

/** What carebridge's mapper made from a validated plan (the "mapped" tier, see ResourceValidationOptions). */
export function validateMappedBundle(bundle: Bundle): OperationOutcomeIssue[] {
  return validateFhirBundle(bundle, 'mapped');
}

/** A resource or a Bundle, from untrusted JSON. */
export function validateFhir(value: unknown): OperationOutcomeIssue[] {
  loadDefinitions();
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [issue('error', 'structure', 'a FHIR resource must be a JSON object')];
  }
  const resource = value as Resource;
  return resource.resourceType === 'Bundle' ? validateFhirBundle(resource) : validateFhirResource(resource);
}
