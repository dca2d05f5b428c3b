// The transition plan's JSON Schema (profiles/transition-plan.schema.json, the one POST /transitions
// checks with ajv) as OpenAPI components: read from the same file at run time, so the document
// cannot drift from the check. Its $defs become components of their own ("TransitionPlan.identifier")
// because tools resolve #/components/schemas/… everywhere, but few follow a $ref into an embedded $id.
import { readFileSync } from 'node:fs';
import { PLAN_SCHEMA_URL } from '../../validation/plan-schema.ts';
import type { JsonObject } from './map-json.ts';
import { mapJson } from './map-json.ts';

export type Schema = JsonObject;

export const PLAN_COMPONENT = 'TransitionPlan';
const DEFS_REF = '#/$defs/';

/** `#/$defs/x` → `#/components/schemas/TransitionPlan.x`, everywhere in a copy of `value`. */
function rewriteRefs(value: unknown): unknown {
  return mapJson(value, (object) =>
    typeof object.$ref === 'string' && object.$ref.startsWith(DEFS_REF) ? { ...object, $ref: `#/components/schemas/${PLAN_COMPONENT}.${object.$ref.slice(DEFS_REF.length)}` } : object,
  );
}

/** The plan schema as it is on disk (its `status` enum also names the CarePlan statuses /transitions filters on). */
export function readPlanSchema(): Schema {
  return JSON.parse(readFileSync(PLAN_SCHEMA_URL, 'utf8')) as Schema;
}

/** TransitionPlan and one TransitionPlan.<def> per $defs entry; $schema and $id dropped (the document is the base). */
export function planComponents(schema: Schema = readPlanSchema()): Record<string, Schema> {
  const { $defs, $schema, $id, ...root } = schema;
  void $schema;
  void $id;
  const components: Record<string, Schema> = { [PLAN_COMPONENT]: rewriteRefs(root) as Schema };
  for (const [name, def] of Object.entries(($defs ?? {}) as Record<string, unknown>)) {
    components[`${PLAN_COMPONENT}.${name}`] = rewriteRefs(def) as Schema;
  }
  return components;
}
