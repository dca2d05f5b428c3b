// The discharge planner's JSON is checked against profiles/transition-plan.schema.json with ajv:
// every error at once, each with its JSON pointer.
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import type { TransitionPlan } from '../model/transition-plan.ts';
import { issue, pointerToPath } from './outcome.ts';
import { hasControlCharacter } from '../util/untrusted-text.ts';

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
    case 'type':
      return { pointer: at, text: `must be ${/^[aeiou]/.test((error.params as { type: string }).type) ? 'an' : 'a'} ${(error.params as { type: string }).type}` };
    case 'minItems': {
      const n = (error.params as { limit: number }).limit;
      return { pointer: at, text: n === 1 ? 'must not be empty' : `must have at least ${n} items` };
    }
    case 'maxItems':
      return { pointer: at, text: `must have at most ${(error.params as { limit: number }).limit} items` };
    case 'minLength':
      return { pointer: at, text: 'must not be empty' };
    case 'maxLength':
      return { pointer: at, text: `must be at most ${(error.params as { limit: number }).limit} characters` };
    case 'minimum':
    case 'maximum':
      return { pointer: at, text: `must be ${error.keyword === 'minimum' ? 'at least' : 'at most'} ${(error.params as { limit: number }).limit}` };
    case 'uniqueItems':
      return { pointer: at, text: 'must not list the same value twice' };
    case 'format':
      return { pointer: at, text: `is not a valid ${(error.params as { format: string }).format}` };
    case 'pattern':
      return { pointer: at, text: (error.params as { pattern: string }).pattern === '\\S' ? 'must not be blank' : `has an invalid format (must match ${(error.params as { pattern: string }).pattern})` };
    default:
      return { pointer: at, text: error.message ?? error.keyword };
  }
}

const KEYWORD_RANK = ['required', 'additionalProperties', 'type', 'format', 'enum', 'minLength', 'maxLength', 'pattern'];

function rank(error: ErrorObject): number {
  const i = KEYWORD_RANK.indexOf(error.keyword);
  return i < 0 ? KEYWORD_RANK.length : i;
}

/** In unicode mode a surrogate pair is one code point: this matches only a lone half. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Texts that are not well-formed Unicode (a lone surrogate, which JSON's \uD800 escape can
 * carry): no UTF-8 holds them, and percent-encoding one into a conditional URL throws. And texts
 * with control characters (NUL, …), which no FHIR string may hold: said here, at the plan's own
 * field, rather than by the FHIR validator at an entry of the mapped Bundle the planner never wrote.
 */
function malformedTexts(value: unknown, pointer: string, out: OperationOutcomeIssue[]): void {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) {
      out.push(issue('error', 'value', `${pointer}: is not well-formed Unicode (a lone surrogate)`, pointerToPath('TransitionPlan', pointer), pointer));
    } else if (hasControlCharacter(value)) {
      out.push(issue('error', 'value', `${pointer}: holds a control character (such as NUL), which FHIR text may not`, pointerToPath('TransitionPlan', pointer), pointer));
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => malformedTexts(item, `${pointer}/${i}`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      malformedTexts(item, `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`, out);
    }
  }
}

/** Schema errors of a plan, one issue per problem; an empty list means the shape is right. */
export function checkPlanSchema(value: unknown): OperationOutcomeIssue[] {
  const validate = compile();
  if (validate(value)) {
    const malformed: OperationOutcomeIssue[] = [];
    malformedTexts(value, '', malformed);
    return malformed;
  }
  // One issue per place: "2026-11-31" fails both pattern and format; say the clearest.
  const best = new Map<string, ErrorObject>();
  for (const error of validate.errors ?? []) {
    const { pointer } = describe(error);
    const current = best.get(pointer);
    if (!current || rank(error) < rank(current)) {
      best.set(pointer, error);
    }
  }
  const issues: OperationOutcomeIssue[] = [];
  for (const error of best.values()) {
    const { pointer, text } = describe(error);
    const code = error.keyword === 'required' ? 'required' : error.keyword === 'additionalProperties' ? 'structure' : 'value';
    issues.push(issue('error', code, `${pointer || '/'}: ${text}`, pointerToPath('TransitionPlan', pointer), pointer || '/'));
  }
  return issues;
}
