// The discharge planner's JSON is checked against profiles/transition-plan.schema.json with ajv:
// every error at once, each with its JSON pointer.
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import type { TransitionPlan } from '../model/transition-plan.ts';
import { issue, pointerToPath } from './outcome.ts';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export const PLAN_SCHEMA_URL = new URL('../../profiles/transition-plan.schema.json', import.meta.url);

let compiled: ValidateFunction<TransitionPlan> | undefined;

function compile(): ValidateFunction<TransitionPlan> {
  if (!compiled) {
    const schema = JSON.parse(readFileSync(PLAN_SCHEMA_URL, 'utf8')) as object;
    const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: false });
    addFormats(ajv, ['date', 'date-time', 'uri']);
    compiled = ajv.compile<TransitionPlan>(schema);
  }
  return compiled;
}

function describe(error: ErrorObject): { pointer: string; text: string } {
  const at = error.instancePath;
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params as { missingProperty: string }).missingProperty;
      return { pointer: `${at}/${missing}`, text: `${missing} is required` };
    }
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      return { pointer: `${at}/${extra}`, text: `unknown property "${extra}"` };
    }
    case 'enum': {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues.join(', ');
      return { pointer: at, text: `must be one of: ${allowed}` };
    }
    case 'format':
      return { pointer: at, text: `is not a valid ${(error.params as { format: string }).format}` };
    case 'pattern':
      return { pointer: at, text: `has an invalid format (must match ${(error.params as { pattern: string }).pattern})` };
    default:
      return { pointer: at, text: error.message ?? error.keyword };
  }
}

/** Schema errors of a plan, one issue per problem; an empty list means the shape is right. */
export function checkPlanSchema(value: unknown): OperationOutcomeIssue[] {
  const validate = compile();
  if (validate(value)) {
    return [];
  }
  const seen = new Set<string>();
  const issues: OperationOutcomeIssue[] = [];
  for (const error of validate.errors ?? []) {
    const { pointer, text } = describe(error);
    const key = `${pointer} ${text}`;
    // A pattern and a format failing on the same value say the same thing twice.
    if (seen.has(key) || (error.keyword === 'pattern' && seen.has(`${pointer}#format`))) {
      continue;
    }
    seen.add(key);
    if (error.keyword === 'format') {
      seen.add(`${pointer}#format`);
    }
    const code = error.keyword === 'required' ? 'required' : error.keyword === 'additionalProperties' ? 'structure' : 'value';
    issues.push(issue('error', code, `${pointer || '/'}: ${text}`, pointerToPath('TransitionPlan', pointer), pointer || '/'));
  }
  return issues;
}
