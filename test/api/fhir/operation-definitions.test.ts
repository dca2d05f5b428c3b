// carebridge's operations and their definitions, from the one table (supported.ts OPERATIONS):
// every "$" route the application answers is a row of it (and every row's routes are answered);
// GET /fhir/metadata names each operation where it applies with a definition under the server's
// base, and that canonical resolves (GET /fhir/OperationDefinition/{id}) to a valid R4
// OperationDefinition that says the same: its code, where it is invoked, on which types.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, CapabilityStatement, OperationDefinition } from '@medplum/fhirtypes';
import { Writable } from 'node:stream';
import { createApp } from '../../../src/api/app.ts';
import { OPERATIONS, operationLevels, operationPaths } from '../../../src/api/fhir/supported.ts';
import type { SupportedOperation } from '../../../src/api/fhir/supported.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { validateFhirResource } from '../../../src/validation/fhir-validator.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { testAuthService } from '../../support/auth.ts';
import { ADMIN, AGENCY_A, PARTIES } from '../transitions/support.ts';

interface RouteLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: RouteLayer[] };
}

/** Every route of the application (method and path as registered), through the mounted routers. */
function routesOf(stack: RouteLayer[]): { method: string; path: string }[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      return Object.keys(layer.route.methods).flatMap((method) => paths.map((path) => ({ method: method.toUpperCase(), path })));
    }
    return layer.handle?.stack ? routesOf(layer.handle.stack) : [];
  });
}

const table: readonly SupportedOperation[] = OPERATIONS;

describe('operations and their OperationDefinitions', () => {
  let server: AuthTestServer;
  let metadata: CapabilityStatement;
  const base = (): string => `${server.url}/fhir`;

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: PARTIES });
    metadata = (await (await fetch(`${base()}/metadata`)).json()) as CapabilityStatement;
  });
  afterAll(() => server.stop());

  it('every "$" route the application answers is an operation of the table, and every route of the table is answered', async () => {
    const app = createApp({ store: server.store, logger: createLogger({ level: 'error', stream: new Writable({ write: (_c, _e, done) => done() }) }), auth: await testAuthService(server.store, []) });
    const answered = routesOf((app as unknown as { router: { stack: RouteLayer[] } }).router.stack)
      .filter((r) => r.path.includes('$'))
      .map((r) => `${r.method} ${r.path}`)
      .sort();
    const tabled = table.flatMap((op) => (['GET', 'POST'] as const).flatMap((method) => operationPaths(op.name as never, method).map((path) => `${method} ${path}`))).sort();
    expect(answered.length).toBeGreaterThan(0);
    expect(answered).toEqual(tabled);
  });

  it('GET /fhir/metadata names each operation where it applies, with a definition under the server\'s base', () => {
    const rest = metadata.rest?.[0];
    for (const op of table) {
      const definition = `${base()}/OperationDefinition/${op.id}`;
      if (operationLevels(op).system) {
        expect(rest?.operation).toContainEqual({ name: op.name, definition });
        continue;
      }
      const types = (op.types ?? rest?.resource?.filter((r) => r.interaction?.some((i) => i.code === 'create')).map((r) => r.type)) as string[];
      expect(types.length).toBeGreaterThan(0);
      for (const type of types) {
        expect(rest?.resource?.find((r) => r.type === type)?.operation).toContainEqual({ name: op.name, definition });
      }
    }
  });

  it('every definition the CapabilityStatement names resolves to a valid R4 OperationDefinition that says the same', async () => {
    const rest = metadata.rest?.[0];
    const named = [...(rest?.operation ?? []).map((o) => ({ ...o, type: undefined as string | undefined })), ...(rest?.resource ?? []).flatMap((r) => (r.operation ?? []).map((o) => ({ ...o, type: r.type as string })))];
    expect(named.length).toBeGreaterThan(table.length);
    const fetched = new Map<string, OperationDefinition>();
    for (const { name, definition, type } of named) {
      expect(definition.startsWith(`${base()}/OperationDefinition/`)).toBe(true);
      let resource = fetched.get(definition);
      if (!resource) {
        const read = await server.as(AGENCY_A)('GET', definition.slice(base().length + 1));
        expect(read.status).toBe(200);
        resource = read.body as OperationDefinition;
        expect(validateFhirResource(resource).filter((i) => i.severity === 'error' || i.severity === 'fatal')).toEqual([]);
        fetched.set(definition, resource);
      }
      expect(resource).toMatchObject({ resourceType: 'OperationDefinition', url: definition, code: name, status: 'active', kind: 'operation' });
      if (type === undefined) {
        expect(resource.system).toBe(true);
      } else {
        expect(resource.resource).toContain(type);
        expect(resource.type || resource.instance).toBe(true);
      }
    }
    expect([...fetched.keys()].sort()).toEqual(table.map((op) => `${base()}/OperationDefinition/${op.id}`).sort());
    // The validator does judge OperationDefinitions: one without its code and kind is refused.
    const { code: _code, kind: _kind, ...broken } = fetched.values().next().value as OperationDefinition;
    expect(validateFhirResource(broken as OperationDefinition).filter((i) => i.severity === 'error').length).toBeGreaterThan(0);
  });

  it('a definition names the standard operation it implements a subset of, and its parameters', async () => {
    const validate = (await server.as(ADMIN)('GET', 'OperationDefinition/Resource-validate')).body as OperationDefinition;
    expect(validate.base).toBe('http://hl7.org/fhir/OperationDefinition/Resource-validate');
    const coverage = (await server.as(ADMIN)('GET', 'OperationDefinition/Patient-coverage-status')).body as OperationDefinition;
    expect(coverage).toMatchObject({ resource: ['Patient'], system: false, type: false, instance: true, affectsState: false });
    expect(coverage.base).toBeUndefined();
    expect(coverage.parameter?.filter((p) => p.use === 'in').map((p) => p.name)).toEqual(['carePlan']);
    expect(coverage.parameter?.find((p) => p.name === 'finding')?.part?.map((p) => p.name)).toEqual(['code', 'severity', 'text', 'coverage']);
    const eligibility = (await server.as(ADMIN)('GET', 'OperationDefinition/Patient-check-eligibility')).body as OperationDefinition;
    expect(eligibility.affectsState).toBe(true);
  });

  it('GET /fhir/OperationDefinition lists them all, or by url; an unknown id is 404', async () => {
    const all = (await server.as(ADMIN)('GET', 'OperationDefinition')).body as Bundle;
    expect(all.entry?.map((e) => (e.resource as OperationDefinition).id)).toEqual(table.map((op) => op.id));
    const url = `${base()}/OperationDefinition/CarePlan-timeline`;
    const one = (await server.as(ADMIN)('GET', `OperationDefinition?url=${encodeURIComponent(url)}`)).body as Bundle;
    expect(one.entry?.map((e) => e.fullUrl)).toEqual([url]);
    expect((await server.as(ADMIN)('GET', 'OperationDefinition/no-such-operation')).status).toBe(404);
  });
});
