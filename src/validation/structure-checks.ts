// Checks @medplum/core's validator leaves out (TECH-NOTES.md): codes in required bindings,
// the resource types a Reference may point at, the format of ids, and empty strings. One walk
// over the resource, guided by the same element schemas Medplum uses.
import { fhirTypeToJsType, isResourceType, tryGetDataType, validationRegexes } from '@medplum/core';
import type { InternalSchemaElement, InternalTypeSchema } from '@medplum/core';
import type { Coding, OperationOutcomeIssue, Reference, Resource } from '@medplum/fhirtypes';
import { daysInMonth } from '../search/date-range.ts';
import { jsonTypeOf } from '../util/json-type.ts';
import { issue } from './outcome.ts';
import type { Terminology } from './terminology.ts';

export const BLANK_STRING = 'must not be an empty or blank string';
/** What FHIR's txt-1 forbids in a narrative that a browser would run. */
const UNSAFE_XHTML = /<\s*\/?\s*(script|iframe|object|embed|form|input|button|link|meta|style|base|frame|frameset|applet)\b|\son[a-z]+\s*=|javascript:/i;
export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]+)\/([^/?#]+)(\/_history\/[^/]+)?$/;
const ABSOLUTE_REFERENCE = /^https?:\/\/\S+\/([A-Z][A-Za-z]+)\/([^/?#]+)(\/_history\/[^/]+)?$/;
const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?\S+$/;

export interface StructureCheckContext {
  terminology: Terminology;
  /**
   * Also check cardinality (min/max) and fixed/pattern values of the elements walked. Medplum's
   * validator does this already; the "mapped" tier (fhir-validator.ts) runs without Medplum.
   */
  cardinality?: boolean;
  /** Resource type of a urn:uuid / other fullUrl reference inside the same Bundle, if known. */
  typeOfFullUrl?: (url: string) => string | undefined;
  /**
   * Inside a Bundle: whether a reference resolves to one of its entries. When given, a reference
   * must resolve, be conditional (Type?query), absolute (another server) or internal (#id).
   */
  resolvesInBundle?: (reference: string) => boolean;
}

interface ElementRef {
  element: InternalSchemaElement;
  typeCode: string;
}

const choiceCache = new WeakMap<InternalTypeSchema, Map<string, ElementRef>>();

/** The element a JSON property belongs to, including choice types (valueTiming → value[x]). */
function elementFor(schema: InternalTypeSchema, key: string): ElementRef | undefined {
  // Own properties only: a key such as "toString" must not find Object.prototype's.
  const direct = Object.hasOwn(schema.elements, key) ? schema.elements[key] : undefined;
  if (direct) {
    return { element: direct, typeCode: direct.type[0]?.code ?? '' };
  }
  let choices = choiceCache.get(schema);
  if (!choices) {
    choices = new Map();
    for (const [name, element] of Object.entries(schema.elements)) {
      if (name.endsWith('[x]')) {
        for (const t of element.type) {
          choices.set(name.slice(0, -3) + t.code.charAt(0).toUpperCase() + t.code.slice(1), { element, typeCode: t.code });
        }
      }
    }
    choiceCache.set(schema, choices);
  }
  return choices.get(key);
}

const requiredCache = new WeakMap<InternalTypeSchema, [string, InternalSchemaElement][]>();

/** Elements with min > 0, computed once per schema. */
function requiredElements(schema: InternalTypeSchema): [string, InternalSchemaElement][] {
  let required = requiredCache.get(schema);
  if (!required) {
    required = Object.entries(schema.elements).filter(([, e]) => e.min > 0);
    requiredCache.set(schema, required);
  }
  return required;
}

function hasElement(value: Record<string, unknown>, name: string): boolean {
  const dot = name.indexOf('.');
  if (dot > 0) {
    // A profile constrains a data type's child (CarePlan.period.start): required wherever the
    // parent is present; an absent parent is its own element's business.
    const parent = value[name.slice(0, dot)];
    if (parent === undefined || parent === null || typeof parent !== 'object') {
      return true;
    }
    const rest = name.slice(dot + 1);
    return (Array.isArray(parent) ? parent : [parent]).every((p) => hasElement(p as Record<string, unknown>, rest));
  }
  if (!name.endsWith('[x]')) {
    return value[name] !== undefined;
  }
  const prefix = name.slice(0, -3);
  return Object.keys(value).some((k) => k.startsWith(prefix) && k.length > prefix.length && k.charAt(prefix.length) === k.charAt(prefix.length).toUpperCase());
}

/** Whether `value` contains everything in `pattern` (FHIR pattern[x] semantics). */
function matchesPattern(value: unknown, pattern: unknown): boolean {
  if (pattern === null || typeof pattern !== 'object') {
    return value === pattern;
  }
  if (Array.isArray(pattern)) {
    return Array.isArray(value) && pattern.every((p) => value.some((v) => matchesPattern(v, p)));
  }
  if (value === null || typeof value !== 'object') {
    return false;
  }
  return Object.entries(pattern).every(([k, p]) => matchesPattern((value as Record<string, unknown>)[k], p));
}

function isPrimitive(typeCode: string): boolean {
  const first = typeCode.charAt(0);
  return first === first.toLowerCase() || typeCode.startsWith('http://hl7.org/fhirpath/');
}

const targetsCache = new WeakMap<InternalSchemaElement, string[] | undefined>();

function allowedTargets(element: InternalSchemaElement): string[] | undefined {
  if (targetsCache.has(element)) {
    return targetsCache.get(element);
  }
  const targets = computeTargets(element);
  targetsCache.set(element, targets);
  return targets;
}

function computeTargets(element: InternalSchemaElement): string[] | undefined {
  const profiles = element.type.flatMap((t) => (t.code === 'Reference' ? (t.targetProfile ?? []) : []));
  const names = profiles.map((p) => p.slice(p.lastIndexOf('/') + 1));
  return names.length === 0 || names.includes('Resource') ? undefined : names;
}

const DATE_TYPES = new Set(['date', 'dateTime', 'instant']);

/** The day of a full date exists in its month (the format allows 2026-02-31). */
function possibleDay(value: string): boolean {
  if (value.length < 10) {
    return true;
  }
  return Number(value.slice(8, 10)) <= daysInMonth(Number(value.slice(0, 4)), Number(value.slice(5, 7)) - 1);
}

class Walker {
  readonly issues: OperationOutcomeIssue[] = [];
  private readonly ctx: StructureCheckContext;

  constructor(ctx: StructureCheckContext) {
    this.ctx = ctx;
  }

  resource(resource: Resource, path: string, profile?: InternalTypeSchema): void {
    const type: unknown = resource.resourceType;
    // Medplum's lookup of a contained resource's type is a plain object: "constructor" passed.
    if (typeof type !== 'string' || !isResourceType(type)) {
      const named = type === undefined ? 'is required' : `${JSON.stringify(type)} is not a FHIR R4 resource type`;
      this.error(type === undefined ? 'required' : 'structure', named, `${path}.resourceType`);
      return;
    }
    const schema = profile ?? tryGetDataType(type);
    if (!schema) {
      return;
    }
    if (resource.id !== undefined && !ID_PATTERN.test(resource.id)) {
      this.error('value', `id "${resource.id}" is not a valid FHIR id (1-64 letters, digits, "-" or ".")`, `${path}.id`);
    }
    this.object(resource as unknown as Record<string, unknown>, schema, schema, path);
  }

  private object(value: Record<string, unknown>, schema: InternalTypeSchema, root: InternalTypeSchema, path: string): void {
    if (this.ctx.cardinality) {
      for (const [name, element] of requiredElements(schema)) {
        if (!hasElement(value, name)) {
          this.error('required', `${name} is required (min ${element.min})`, `${path}.${name.replace('[x]', '')}`);
        }
      }
    }
    const choicesSeen = new Map<InternalSchemaElement, string>();
    for (const key of Object.keys(value)) {
      if (key === 'resourceType' || key.charCodeAt(0) === 0x5f /* _ primitive extension */) {
        continue;
      }
      const found = elementFor(schema, key);
      if (!found) {
        // Medplum reports unknown properties in the full tier, except the names its own lookup
        // finds on Object.prototype ("toString"); the mapped tier has no Medplum pass.
        if (this.ctx.cardinality || key in schema.elements) {
          this.error('structure', 'is not a known property here', `${path}.${key}`);
        }
        continue;
      }
      if (found.element.path.endsWith('[x]')) {
        // deceasedBoolean and deceasedDateTime: one choice element, one value (Medplum only warns).
        const other = choicesSeen.get(found.element);
        if (other !== undefined) {
          const choice = found.element.path.slice(found.element.path.lastIndexOf('.') + 1);
          this.error('structure', `${other} and ${key} are two values of ${choice}, which takes one`, `${path}.${key}`);
        }
        choicesSeen.set(found.element, key);
      }
      const raw = value[key];
      if (this.ctx.cardinality) {
        this.cardinality(raw, found.element, `${path}.${key}`);
      }
      if (Array.isArray(raw)) {
        raw.forEach((item, i) => this.value(item, found, root, `${path}.${key}[${i}]`));
      } else {
        this.value(raw, found, root, `${path}.${key}`);
      }
    }
  }

  private value(item: unknown, { element, typeCode }: ElementRef, root: InternalTypeSchema, path: string): void {
    if (isPrimitive(typeCode)) {
      // Medplum checks formats but passes an object or array where a primitive belongs ({} as a
      // birthDate): the JSON type is checked in both tiers, the format in the mapped tier only.
      if (!this.primitive(item, typeCode, path, this.ctx.cardinality === true)) {
        return;
      }
    } else if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      // Medplum's validator passes a bare 5 where a Reference or a HumanName belongs.
      this.error('structure', `Invalid JSON type: expected an object (${typeCode}), but got ${jsonTypeOf(item)}`, path);
      return;
    }
    if (typeof item === 'string') {
      if (typeCode === 'xhtml' && UNSAFE_XHTML.test(item)) {
        this.error('value', 'narrative may hold only basic XHTML formatting: no scripts, forms, embedded objects or event handlers (FHIR txt-1)', path);
      } else if (item.trim() === '') {
        this.error('value', BLANK_STRING, path);
      } else if (element.binding?.strength === 'required' && element.binding.valueSet) {
        this.code(element.binding.valueSet, undefined, item, path);
      }
      return;
    }
    if (item === null || typeof item !== 'object' || isPrimitive(typeCode)) {
      return;
    }
    const object = item as Record<string, unknown>;
    if (typeCode === 'Resource' || (typeof object.resourceType === 'string' && isResourceType(object.resourceType))) {
      this.resource(object as unknown as Resource, path);
      return;
    }
    if (typeCode === 'Reference') {
      this.reference(object as Reference, allowedTargets(element), path);
    }
    const binding = element.binding;
    if (binding?.strength === 'required' && binding.valueSet) {
      if (typeCode === 'Coding') {
        this.coding(binding.valueSet, [object as Coding], path);
      } else if (typeCode === 'CodeableConcept') {
        this.coding(binding.valueSet, (object.coding as Coding[] | undefined) ?? [], path);
      }
    }
    const schema = root.innerTypes.find((t) => t.name === typeCode) ?? tryGetDataType(typeCode);
    if (schema) {
      this.object(object, schema, schema.innerTypes.length > 0 ? schema : root, path);
    }
  }

  /**
   * The JSON type and format of a primitive value, as Medplum's validator checks them (the mapped
   * tier has no Medplum pass): a control character in a plan's text or a date-time written "…z"
   * passes the plan schema but not FHIR. Whether it was well-formed (else reported); `formats`:
   * also the value's format, else only its JSON type.
   */
  private primitive(item: unknown, typeCode: string, path: string, formats: boolean): boolean {
    // Medplum's table of JSON types (System.String is the type of ids and urls).
    const jsonType = (fhirTypeToJsType as Partial<Record<string, string>>)[typeCode];
    if (jsonType === undefined || item === null || item === undefined) {
      return true;
    }
    if (typeof item !== jsonType) {
      this.error('structure', `Invalid JSON type: expected ${jsonType}, but got ${jsonTypeOf(item)}`, path);
      return false;
    }
    if (!formats) {
      return true;
    }
    if (typeof item === 'number') {
      const integer = typeCode === 'integer' || typeCode === 'positiveInt' || typeCode === 'unsignedInt';
      const min = typeCode === 'positiveInt' ? 1 : typeCode === 'unsignedInt' ? 0 : -2147483648;
      if (!Number.isFinite(item) || (integer && (!Number.isInteger(item) || item < min || item > 2147483647))) {
        this.error('value', `Invalid ${typeCode} value`, path);
        return false;
      }
      return true;
    }
    const format = validationRegexes[typeCode];
    if (typeof item === 'string' && item.trim() !== '' && ((format && !format.test(item)) || (DATE_TYPES.has(typeCode) && !possibleDay(item)))) {
      this.error('value', `Invalid ${typeCode} format`, path);
      return false;
    }
    return true;
  }

  private cardinality(raw: unknown, element: InternalSchemaElement, path: string): void {
    const count = Array.isArray(raw) ? raw.length : raw === undefined ? 0 : 1;
    const max = element.max ?? Infinity; // JSON carries Infinity as null
    if (Array.isArray(raw) !== Boolean(element.isArray)) {
      this.error('structure', element.isArray ? 'must be an array' : 'must be a single value, not an array', path);
    } else if (count < element.min || count > max) {
      this.error('structure', `has ${count} values, expected ${element.min}..${Number.isFinite(max) ? max : '*'}`, path);
    }
    const values = Array.isArray(raw) ? raw : [raw];
    if (element.fixed && !values.every((v) => JSON.stringify(v) === JSON.stringify(element.fixed?.value))) {
      this.error('value', `must be ${JSON.stringify(element.fixed.value)}`, path);
    }
    if (element.pattern && !values.every((v) => matchesPattern(v, element.pattern?.value))) {
      this.error('value', `must match the pattern ${JSON.stringify(element.pattern.value)}`, path);
    }
  }

  private code(valueSet: string, system: string | undefined, code: string, path: string): void {
    if (this.ctx.terminology.contains(valueSet, system, code) === 'no') {
      const sample = this.ctx.terminology.sample(valueSet);
      const hint = sample.length > 0 ? ` (allowed: ${sample.join(', ')}${sample.length >= 12 ? ', ...' : ''})` : '';
      this.error('code-invalid', `"${code}" is not in the required value set ${valueSet.split('|')[0]}${hint}`, path);
    }
  }

  private coding(valueSet: string, codings: Coding[], path: string): void {
    const memberships = codings.filter((c) => c.code).map((c) => this.ctx.terminology.contains(valueSet, c.system, c.code as string));
    if (memberships.length > 0 && memberships.every((m) => m === 'no')) {
      const shown = codings.map((c) => `${c.system ?? ''}|${c.code ?? ''}`).join(', ');
      this.error('code-invalid', `none of the codes (${shown}) is in the required value set ${valueSet.split('|')[0]}`, path);
    }
  }

  private reference(reference: Reference, targets: string[] | undefined, path: string): void {
    const text: unknown = reference.reference;
    if (text === undefined) {
      return;
    }
    if (typeof text !== 'string') {
      this.error('structure', `Invalid JSON type: expected string, but got ${jsonTypeOf(text)}`, `${path}.reference`);
      return;
    }
    if (text.startsWith('#')) {
      return;
    }
    if (this.ctx.resolvesInBundle && !this.ctx.resolvesInBundle(text) && !CONDITIONAL_REFERENCE.test(text) && !/^https?:\/\//.test(text)) {
      this.issues.push(issue('error', 'not-found', `${path}.reference: "${text}" does not resolve to an entry of the Bundle`, `${path}.reference`));
      return;
    }
    let type: string | undefined;
    let id: string | undefined;
    let match: RegExpExecArray | null;
    if ((match = RELATIVE_REFERENCE.exec(text)) || (match = ABSOLUTE_REFERENCE.exec(text))) {
      type = match[1];
      id = match[2];
    } else if ((match = CONDITIONAL_REFERENCE.exec(text))) {
      type = match[1];
    } else if (/^urn:(uuid|oid):\S+$/.test(text)) {
      type = this.ctx.typeOfFullUrl?.(text);
    } else if (/^https?:\/\/\S+$/.test(text)) {
      // Another server's URL that does not end in Type/id: legal, but its target type is unknown.
      this.issues.push(issue('warning', 'value', `${path}.reference: "${text}" does not end in Type/id; its target type cannot be checked`, `${path}.reference`));
      return;
    } else {
      this.error('value', `"${text}" is not a valid reference (Type/id, an absolute URL, urn:uuid or a conditional Type?query)`, `${path}.reference`);
      return;
    }
    if (id !== undefined && !ID_PATTERN.test(id)) {
      this.error('value', `"${text}" has an invalid id "${id}"`, `${path}.reference`);
    }
    if (type === undefined) {
      return;
    }
    if (!isResourceType(type)) {
      this.error('value', `"${text}" names an unknown resource type "${type}"`, `${path}.reference`);
    } else if (targets && !targets.includes(type)) {
      this.error('value', `a reference to a ${type} is not allowed here; allowed: ${targets.join(', ')}`, `${path}.reference`);
    } else if (reference.type !== undefined && reference.type !== type) {
      this.error('value', `Reference.type "${reference.type}" does not match the referenced ${type}`, `${path}.type`);
    }
  }

  private error(code: OperationOutcomeIssue['code'], text: string, path: string): void {
    this.issues.push(issue('error', code, `${path}: ${text}`, path));
  }
}

/**
 * Issues in what Medplum's validator does not check; `path` prefixes expressions (default: the
 * type). With a profile's schema, its narrower reference targets and bindings apply.
 */
export function checkStructure(resource: Resource, ctx: StructureCheckContext, path: string = resource.resourceType, profile?: InternalTypeSchema): OperationOutcomeIssue[] {
  const walker = new Walker(ctx);
  walker.resource(resource, path, profile);
  return walker.issues;
}
