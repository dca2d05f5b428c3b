// GET /openapi.json: an OpenAPI 3.1 document of the non-FHIR HTTP API (/transitions, /admin/outbox,
// /auth, /board, the probes), built from the route table and the plan's own JSON Schema. Public, like
// /fhir/metadata: it says what the API is, nothing about anyone's data.
import type { Request, RequestHandler, Response } from 'express';
import { serverBase } from '../auth/base-url.ts';
import type { RouteDoc } from './operations.ts';
import { routeTable } from './operations.ts';
import type { Schema } from './plan-components.ts';
import { planComponents, readPlanSchema } from './plan-components.ts';
import { apiSchemas } from './schemas.ts';

export const OPENAPI_PATH = '/openapi.json';

const DESCRIPTION = `carebridge carries a patient's care plan from the hospital to the home.

This document covers the JSON API beside FHIR: transition plans in and their state out (\`/transitions\`),
the operators' outbox (\`/admin/outbox\`), tokens (\`/auth/token\`, SMART Backend Services), the
care-coordination board (\`/board\`, its sign-in under \`/auth/board\` and its reads under \`/board/api\`) and the probes.
The FHIR R4 API under \`/fhir\` describes itself in its CapabilityStatement: [\`GET /fhir/metadata\`](/fhir/metadata).

Every call but the token endpoint, the SMART configuration, the board's page and sign-in, the probes and
this document needs \`Authorization: Bearer <access token>\`. What a caller sees is what its organization
and role may see: anything else is 404. Errors are FHIR OperationOutcomes (the token endpoint and the
board's sign-in answer OAuth-style JSON).`;

/** The routes as OpenAPI paths (in table order; one path holds its methods). */
function paths(routes: readonly RouteDoc[]): Record<string, Record<string, Schema>> {
  const result: Record<string, Record<string, Schema>> = {};
  for (const route of routes) {
    (result[route.path] ??= {})[route.method] = route.operation;
  }
  return result;
}

/** Where the server is, and its FHIR API's CapabilityStatement. */
function located(serverUrl: string): Schema {
  return { servers: [{ url: serverUrl }], externalDocs: { description: 'The FHIR R4 API: its CapabilityStatement', url: `${serverUrl}/fhir/metadata` } };
}

/** The document, for a server reached at `serverUrl`. */
export function openApiDocument(options: { serverUrl?: string; version?: string } = {}): Schema {
  const planSchema = readPlanSchema();
  const statuses = ((planSchema.properties as Record<string, { enum?: string[] }> | undefined)?.status?.enum ?? []) as string[];
  return {
    openapi: '3.1.1',
    info: { title: 'carebridge', version: options.version ?? '0', summary: 'Hospital-to-home transitions of care: plans in, state out, kept in sync', description: DESCRIPTION },
    ...(options.serverUrl ? located(options.serverUrl) : {}),
    tags: [
      { name: 'Transitions', description: 'Transition plans in, their state out. Same token, tenancy, audit and limits as /fhir.' },
      { name: 'Admin', description: 'The outbox of deliveries to peers and subscribers. Admin clients only.' },
      { name: 'Board', description: 'The care-coordination board: its page, its people\'s sign-in (a session is a client like any other) and its reads.' },
      { name: 'Auth', description: 'SMART Backend Services: a client signs an assertion with its key and trades it for an access token.' },
      { name: 'Service', description: 'Probes and this document. No token needed.' },
    ],
    paths: paths(routeTable(statuses)),
    components: {
      schemas: { ...planComponents(planSchema), ...apiSchemas() },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token from POST /auth/token, or a board session\'s from POST /auth/board/session.' },
      },
    },
  };
}

/** The handler: the document is built once, its server URL per request (PUBLIC_URL, else the request's host). */
export function serveOpenApi(options: { publicUrl?: string; version?: string }): RequestHandler {
  let document: Schema | undefined;
  // The last answer: with PUBLIC_URL set (as in production) every request gets the same text.
  let last: { serverUrl: string; text: string } | undefined;
  return (req: Request, res: Response) => {
    const serverUrl = serverBase(req, options.publicUrl);
    if (last?.serverUrl !== serverUrl) {
      document ??= openApiDocument({ version: options.version });
      last = { serverUrl, text: JSON.stringify({ ...document, ...located(serverUrl) }) };
    }
    res.type('application/json').send(last.text);
  };
}
