// GET /fhir/metadata: the CapabilityStatement, generated from supported.ts.
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { OPERATIONS, RESOURCE_TYPES, SYSTEM_INTERACTIONS, TYPE_INTERACTIONS, searchParametersOf } from './supported.ts';

export function capabilityStatement(baseUrl: string, software: { name: string; version: string }, startedAt: string): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: startedAt,
    kind: 'instance',
    software,
    implementation: { description: 'carebridge FHIR R4 API', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        resource: RESOURCE_TYPES.map((type) => ({
          type,
          profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
          interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
          versioning: 'versioned-update',
          readHistory: true,
          updateCreate: true,
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: 'not-supported',
          searchInclude: ['*'],
          searchRevInclude: ['*'],
          searchParam: searchParametersOf(type).map((sp) => ({ name: sp.name, type: sp.type as 'token', ...(sp.definition ? { definition: sp.definition } : {}) })),
          operation: OPERATIONS.map((op) => ({ name: op.name, definition: op.definition })),
        })),
        interaction: SYSTEM_INTERACTIONS.map((code) => ({ code })),
        searchParam: [
          { name: '_id', type: 'token' },
          { name: '_lastUpdated', type: 'date' },
        ],
      },
    ],
  };
}
