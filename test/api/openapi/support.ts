// Checks HTTP answers against the OpenAPI document the server serves: the status must be one the
// document lists for that operation, the content type one it names, and the body must validate
// against its schema with every object closed (additionalProperties: false wherever the document
// leaves it open), so a field the code sends and the document does not name fails too.
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { AnySchema, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { mapJson } from '../../../src/api/openapi/map-json.ts';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

type Json = Record<string, unknown>;

export const DOCUMENT_ID = 'https://carebridge.test/openapi.json';

const COMPONENTS = '#/components/schemas/';

/** A copy with the components' $refs pointing into DOCUMENT_ID's $defs, and every open object schema closed. */
function strict(value: unknown): unknown {
  return mapJson(value, (object) => {
    const copy = typeof object.$ref === 'string' && object.$ref.startsWith(COMPONENTS) ? { ...object, $ref: `${DOCUMENT_ID}#/$defs/${object.$ref.slice(COMPONENTS.length)}` } : object;
    return copy.type === 'object' && typeof copy.properties === 'object' && copy.additionalProperties === undefined ? { ...copy, additionalProperties: false } : copy;
  });
}

export interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

export interface DocumentChecker {
  /** The component `name`, closed; compiling it (ajv's strict mode) also checks it is sound JSON Schema. */
  component: (name: string) => ValidateFunction;
  /** Throws, naming the exchange, unless `answer` is what the document says `method path` answers. */
  conforms: (method: string, path: string, answer: Answer) => void;
}

export function documentChecker(document: Json): DocumentChecker {
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
  addFormats(ajv);
  // The components as the $defs of one schema: ajv resolves a $ref into those (in strict mode too).
  ajv.addSchema({ $id: DOCUMENT_ID, $defs: strict((document.components as Json).schemas) } as AnySchema);
  const compiled = new Map<string, ValidateFunction>();
  const compile = (key: string, schema: unknown): ValidateFunction => {
    let validate = compiled.get(key);
    if (!validate) {
      validate = ajv.compile(strict(schema) as AnySchema);
      compiled.set(key, validate);
    }
    return validate;
  };
  return {
    component: (name) => compile(`component ${name}`, { $ref: `#/components/schemas/${name}` }),
    conforms: (method, path, answer) => {
      const where = `${method.toUpperCase()} ${path} → ${answer.status}`;
      const operation = ((document.paths as Record<string, Json | undefined>)[path] ?? {})[method.toLowerCase()] as Json | undefined;
      if (!operation) {
        throw new Error(`${where}: the document has no such operation`);
      }
      const response = (operation.responses as Record<string, Json | undefined>)[String(answer.status)];
      if (!response) {
        throw new Error(`${where}: the document lists no ${answer.status} for it (it lists ${Object.keys(operation.responses as Json).join(', ')})`);
      }
      const type = (answer.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
      const content = (response.content as Record<string, Json | undefined> | undefined)?.[type];
      if (!content) {
        throw new Error(`${where}: answered ${type || 'no content type'}; the document says ${Object.keys((response.content as Json | undefined) ?? {}).join(', ') || 'no body'}`);
      }
      for (const header of Object.keys((response.headers as Json | undefined) ?? {})) {
        if (!answer.headers.has(header)) {
          throw new Error(`${where}: no ${header} header, which the document promises`);
        }
      }
      const validate = compile(`${where} ${type}`, content.schema);
      if (!validate(answer.body)) {
        throw new Error(`${where}: the body does not match the document: ${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`).join('; ')}`);
      }
    },
  };
}
