// GET /openapi.json: a valid OpenAPI 3.1 document, public, that names exactly the routes the express
// routers register outside /fhir (walked from the app's own router stack), and whose TransitionPlan
// schema accepts and refuses the same plans as the server's own check.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import { readdirSync } from 'node:fs';
import { createApp } from '../../../src/api/app.ts';
import { createLogger } from '../../../src/log/logger.ts';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { checkPlanSchema } from '../../../src/validation/plan-schema.ts';
import type { TestClient } from '../../support/auth.ts';
import { makeClient, postToken, testAuthService, tokenForm } from '../../support/auth.ts';
import { FIXTURES_DIR, readJson } from '../../support/fixtures.ts';
import { sqliteStores } from '../../support/sqlite.ts';
import type { DocumentChecker } from './support.ts';
import { documentChecker } from './support.ts';

type Json = Record<string, unknown>;

/** What express keeps of a router (express 5 / router 2): enough to list the routes. */
interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: unknown;
}

/** "METHOD /path/{param}" for every route registered in `stack` and the routers mounted in it. */
function registeredRoutes(stack: Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      // `all` routes answer 405 for the methods a path does not take: not operations.
      const methods = Object.keys(layer.route.methods).filter((m) => m !== '_all');
      return [layer.route.path].flat().flatMap((path) => {
        const full = `${prefix}${path}`.replace(/\/$/, '').replace(/\\\$/g, '$').replace(/:(\w+)/g, '{$1}') || '/';
        return methods.map((m) => `${m.toUpperCase()} ${full}`);
      });
    }
    const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
    return layer.handle?.stack ? registeredRoutes(layer.handle.stack, `${prefix}${mount}`) : [];
  });
}

function documentedRoutes(document: Json): string[] {
  return Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
}

const stores = sqliteStores('carebridge-openapi');
let store: FhirStore;
let app: ReturnType<typeof createApp>;
let server: { url: string; close: () => Promise<void> };
let document: Json;
let client: TestClient;
let checker: DocumentChecker;

beforeAll(async () => {
  store = await stores.open();
  client = await makeClient('admin', { system: 'urn:carebridge-test:org', value: 'ops' }, ['system/*.rs']);
  app = createApp({ store, logger: createLogger({ level: 'error' }), auth: await testAuthService(store, [client]), version: '9.8.7' });
  const listening = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => listening.once('listening', () => resolve()));
  const address = listening.address();
  server = {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    close: () => new Promise<void>((resolve) => listening.close(() => resolve())),
  };
  const answer = await fetch(`${server.url}/openapi.json`);
  expect(answer.status).toBe(200);
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  document = (await answer.json()) as Json;
  checker = documentChecker(document);
});

afterAll(async () => {
  await server?.close();
  await stores.dispose(store);
});

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, served without a token, naming this server and its version', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result).toEqual({ valid: true });
    expect(validator.version).toBe('3.1');
    expect(document.servers).toEqual([{ url: server.url }]);
    expect((document.info as Json).version).toBe('9.8.7');
    expect(document.externalDocs).toEqual(expect.objectContaining({ url: `${server.url}/fhir/metadata` }));
  });

  it('holds sound JSON Schema: every component compiles in ajv\'s strict mode', () => {
    const names = Object.keys((document.components as { schemas: Json }).schemas);
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) {
      expect(() => checker.component(name)).not.toThrow();
    }
  });

  it('names exactly the routes the app registers outside /fhir, and each path parameter', () => {
    const registered = registeredRoutes((app.router as unknown as { stack: Layer[] }).stack).filter((r) => !/^\w+ \/fhir(\/|$)/.test(r) || r.includes('/.well-known/'));
    // The FHIR API describes itself (/fhir/metadata); the two FHIR operations of the transitions router are there.
    expect(registered).toEqual(expect.arrayContaining(['POST /transitions', 'GET /transitions/{id}', 'GET /admin/outbox', 'POST /auth/token', 'GET /healthz']));
    const documented = documentedRoutes(document);
    expect({ registeredButNotDocumented: registered.filter((r) => !documented.includes(r)), documentedButNotRegistered: documented.filter((r) => !registered.includes(r)) }).toEqual({
      registeredButNotDocumented: [],
      documentedButNotRegistered: [],
    });
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>)) {
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, operation] of Object.entries(item)) {
        expect({ route: `${method} ${path}`, parameters: (operation.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name) }).toEqual({ route: `${method} ${path}`, parameters: templated });
      }
    }
  });

  it('takes the plan schema the server checks: the example plans pass, and the request schema refuses what the server refuses', () => {
    const requestSchema = ((((document.paths as Json)['/transitions'] as Json).post as Json).requestBody as { content: Record<string, { schema: unknown }> }).content['application/json']?.schema;
    expect(requestSchema).toEqual({ $ref: '#/components/schemas/TransitionPlan' });
    const validate = checker.component('TransitionPlan');
    const plans = readdirSync(new URL('plans/', FIXTURES_DIR)).filter((f) => f.endsWith('.json'));
    expect(plans.length).toBeGreaterThanOrEqual(6);
    for (const name of plans) {
      const plan = readJson(`plans/${name}`);
      expect({ name, valid: validate(plan), errors: validate.errors ?? null }).toEqual({ name, valid: true, errors: null });
    }
    // The invalid fixtures: some break the schema (400), others only the rules between items (422).
    const invalid = readdirSync(new URL('invalid/', FIXTURES_DIR)).filter((f) => f.endsWith('.json') && f !== 'expected.json');
    const verdicts = invalid.map((name) => {
      const plan = readJson(`invalid/${name}`);
      return { name, document: validate(plan), server: checkPlanSchema(plan).length === 0 };
    });
    expect(verdicts.filter((v) => v.document !== v.server)).toEqual([]);
    expect(verdicts.some((v) => !v.server)).toBe(true);
    expect(verdicts.some((v) => v.server)).toBe(true);
  });
});

describe('POST /auth/token', () => {
  it('answers a token, and refusals as OAuth errors, as the document says', async () => {
    const tokenUrl = `${server.url}/auth/token`;
    const issued = await postToken(server.url, await tokenForm(client, tokenUrl));
    expect(issued.status).toBe(200);
    checker.conforms('post', '/auth/token', issued);
    const stranger = await makeClient('hospital', { system: 'http://hl7.org/fhir/sid/us-npi', value: '1144246767' }, ['system/*.rs']);
    const unknown = await postToken(server.url, await tokenForm(stranger, tokenUrl));
    expect(unknown.status).toBe(401);
    checker.conforms('post', '/auth/token', unknown);
    const wrongGrant = await postToken(server.url, new URLSearchParams({ grant_type: 'password' }));
    expect(wrongGrant.status).toBe(400);
    checker.conforms('post', '/auth/token', wrongGrant);
  });
});
