// GET /fhir/metadata: the CapabilityStatement, generated from supported.ts: each operation named with
// its OperationDefinition's canonical under this server's base (GET /fhir/OperationDefinition/{id}).
import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestSecurity } from '@medplum/fhirtypes';
import { SUBSCRIPTION_TOPICS } from '../../subscriptions/topics.ts';
import { DEFINITION_TYPES, INSTANTIATES, RESOURCE_TYPES, SYSTEM_INTERACTIONS, SYSTEM_OPERATIONS, TYPE_INTERACTIONS, operationDefinitionUrl, operationsOf, searchParametersOf } from './supported.ts';

/** Subscriptions R5 Backport IG: the topic canonicals a Subscription may name in criteria. */
const TOPIC_CANONICAL = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical';
const BACKPORT_SUBSCRIPTION = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription';

/** How clients authenticate: SMART on FHIR, with the token endpoint in the oauth-uris extension. */
function restSecurity(tokenUrl: string): CapabilityStatementRestSecurity {
  return {
    cors: false,
    service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }], text: 'SMART Backend Services (client_credentials, private_key_jwt)' }],
    extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: tokenUrl }] }],
  };
}

export function capabilityStatement(baseUrl: string, software: { name: string; version: string }, startedAt: string, security?: { tokenUrl: string }): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: startedAt,
    kind: 'instance',
    instantiates: INSTANTIATES,
    software,
    implementation: { description: 'carebridge FHIR R4 API', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        ...(security ? { security: restSecurity(security.tokenUrl) } : {}),
        resource: [
          ...RESOURCE_TYPES.map((type): CapabilityStatementRestResource => ({
          type,
          ...(type === 'Subscription' ? { extension: SUBSCRIPTION_TOPICS.map((topic) => ({ url: TOPIC_CANONICAL, valueCanonical: topic.url })), supportedProfile: [BACKPORT_SUBSCRIPTION] } : {}),
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
          operation: operationsOf(type).map((op) => ({ name: op.name, definition: operationDefinitionUrl(baseUrl, op) })),
        })),
          // The subscription topics in the IG's R4 form, read-only (api/fhir/subscription-operations.ts).
          ...DEFINITION_TYPES.map(({ type, interactions }) => ({ type, profile: `http://hl7.org/fhir/StructureDefinition/${type}`, interaction: interactions.map((code) => ({ code })) })),
        ],
        interaction: SYSTEM_INTERACTIONS.map((code) => ({ code })),
        operation: SYSTEM_OPERATIONS.map((op) => ({ name: op.name, definition: operationDefinitionUrl(baseUrl, op) })),
        searchParam: [
          { name: '_id', type: 'token' },
          { name: '_lastUpdated', type: 'date' },
        ],
      },
    ],
  };
}
