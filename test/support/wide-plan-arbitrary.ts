// Plans that stretch every value the plan schema lets through: a valid generated plan
// (plan-arbitrary.ts) whose leaves are rewritten, field by field, guided by the plan's own JSON
// Schema — every enum value, edge strings (unicode, whitespace, delimiters, longest
// allowed), other date-time spellings of the same instant, extreme dates and numbers, optional
// properties dropped or added. Many break the plan rules; callers keep those that validatePlan accepts.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import type { ReportThreshold, TransitionPlan, VitalSign } from '../../src/model/transition-plan.ts';
import { VITAL_SIGNS } from '../../src/model/vital-signs.ts';
import { hasControlCharacter } from '../../src/util/untrusted-text.ts';
import { PLAN_SCHEMA_URL } from '../../src/validation/plan-schema.ts';
import { planArbitrary } from './plan-arbitrary.ts';

interface SchemaNode {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  format?: string;
  pattern?: string;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  required?: string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

const schema = JSON.parse(readFileSync(PLAN_SCHEMA_URL, 'utf8')) as SchemaNode & { $defs: Record<string, SchemaNode> };

function resolve(node: SchemaNode): SchemaNode {
  return node.$ref ? resolve(schema.$defs[node.$ref.replace('#/$defs/', '')] as SchemaNode) : node;
}

/** Texts FHIR and the plan schema disagree or agree about; some are refused by one of them. */
const EDGE_TEXTS = [
  ' padded ',
  'line one\nline two\r\nline three\tend',
  'O\u2019Brien-Smith',
  'Zo\u00eb \u00c9lodie Na\u00efve',
  'e\u0301 combining',
  '\u00a0no-break\u00a0space',
  'zero\u200bwidth\u200djoiner',
  '\u202eright-to-left override',
  '\u0645\u0631\u064a\u0645 \u0627\u0644\u062d\u0633\u0646',
  '\u674e\u5c0f\u9f8d',
  '\ud83d\udc69\u200d\ud83d\udc69\u200d\ud83d\udc67 family',
  'del\u007fchar',
  'next\u0085line',
  '"quoted" \\back\\slash\\',
  '<script>alert(1)</script>',
  'a|b,c$d%20e&f=g?h#i',
  'urn:uuid:not-a-reference',
  'Patient/123',
  '#',
  '.',
  '-',
];

/** Well-formed Unicode (a lone half of a surrogate pair is refused by the plan). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const text = (maxLength: number): fc.Arbitrary<string> => {
  const anyText = fc.string({ unit: 'binary', minLength: 1, maxLength: Math.min(maxLength, 30) });
  return fc.oneof(
    { arbitrary: fc.constantFrom(...EDGE_TEXTS.filter((t) => t.length <= maxLength)), weight: 6 },
    { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: Math.min(maxLength, 60) }), weight: 6 },
    // C0 controls and lone surrogates: the plan refuses them (test/validation/plan.test.ts), so
    // no plan that passes could hold one.
    { arbitrary: anyText.filter((t) => !hasControlCharacter(t) && !LONE_SURROGATE.test(t)), weight: 1 },
    { arbitrary: fc.constant('x'.repeat(maxLength)), weight: 1 },
    { arbitrary: fc.constant('\u00e9'.repeat(maxLength)), weight: 1 },
    { arbitrary: fc.constantFrom(...EDGE_TEXTS.slice(0, 1)), weight: 1 },
  );
};

/** A code: no leading, trailing or double spaces (the schema's own pattern), otherwise anything. */
const codeText = fc.oneof(fc.stringMatching(/^\S{1,10}( \S{1,10}){0,2}$/), fc.constantFrom('A00.0', 'Z99.89', '1234-5', 'a|b', '\u00e9', 'mm[Hg]', '/min'));

const uri = fc.constantFrom('urn:oid:2.16.840.1.113883.4.1', 'urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e', 'http://example.org/a%20b?x=1&y=2#frag', 'https://h.example/fhir/sid/mrn', 'mailto:someone@example.org', 'tag:example.org,2026:x');

const DAY = 86_400_000;

/** The same instant written another way: another offset, z, no colon, fractions of a second. */
function respell(dateTime: string, offsetMinutes: number, style: { colon: boolean; lowerZ: boolean; fraction: string }): string {
  const ms = Date.parse(dateTime);
  if (Number.isNaN(ms)) {
    return dateTime;
  }
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  const zone = offsetMinutes === 0 && !style.colon ? (style.lowerZ ? 'z' : 'Z') : `${sign}${hh}${style.colon ? ':' : ''}${mm}`;
  return `${local}${style.fraction}${zone}`;
}

/** FHIR's own spellings; with `breaking`, sometimes one the plan schema allows and FHIR does not (z, +0530, 13 digits of a second). */
const dateTimeStyle = (breaking: boolean): fc.Arbitrary<{ offset: number; colon: boolean; lowerZ: boolean; fraction: string }> =>
  fc.record({
    offset: fc.constantFrom(0, -720, -600, -300, -210, 0, 60, 330, 345, 780, 840),
    colon: breaking ? fc.oneof({ arbitrary: fc.constant(true), weight: 12 }, { arbitrary: fc.constant(false), weight: 1 }) : fc.constant(true),
    lowerZ: fc.boolean(),
    fraction: fc.oneof({ arbitrary: fc.constantFrom('', '', '.0', '.5', '.123', '.123456789'), weight: 12 }, { arbitrary: fc.constant(breaking ? '.1234567890123' : '.999999999'), weight: 1 }),
  });

/**
 * Another date on the side of `current` the plan rules allow (a birth date earlier, a target or
 * start of care later): nearby days (month ends, leap days) and the far edges a date may say.
 */
function dateArbitrary(current: string, later: boolean): fc.Arbitrary<string> {
  const ms = Date.parse(`${current}T00:00:00Z`);
  const edges = later ? ['2028-02-29', '2099-12-31', '9999-12-31'] : ['0001-01-01', '1000-02-28', '1900-02-28', '2000-02-29'];
  return fc.oneof(
    fc.constant(current),
    fc.integer({ min: 0, max: 400 }).map((d) => new Date(ms + (later ? d : -d) * DAY).toISOString().slice(0, 10)),
    fc.constantFrom(...edges),
  );
}

/** Roles a clinician of the generated plans may have instead (the others carry rules of their own). */
const CLINICIAN_ROLES = ['primary-care-provider', 'home-health-nurse', 'physical-therapist', 'occupational-therapist', 'speech-therapist', 'specialist', 'social-worker', 'case-manager'];

const threshold: fc.Arbitrary<ReportThreshold> = fc
  .tuple(fc.constantFrom(...(Object.keys(VITAL_SIGNS) as VitalSign[])), fc.nat(), fc.double({ min: -50, max: 500, noNaN: true }), fc.double({ min: 0, max: 300, noNaN: true }), fc.constantFrom('low', 'high', 'both'))
  .map(([vitalSign, unit, low, width, bounds]) => ({
    vitalSign,
    ...(bounds !== 'high' ? { low } : {}),
    ...(bounds !== 'low' ? { high: low + width } : {}),
    unit: VITAL_SIGNS[vitalSign].units[unit % VITAL_SIGNS[vitalSign].units.length] as string,
  }));

const number = (node: SchemaNode, current: number): fc.Arbitrary<number> =>
  node.type === 'integer'
    ? fc.integer({ min: node.minimum ?? -1000, max: node.maximum ?? 1000 })
    : fc.oneof(fc.constant(current), fc.double({ min: -1e9, max: 1e9, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 0.1, 1e-7, 123456789.123456, -5));

/** The ways one leaf may be rewritten (its own value among them). */
function leafArbitrary(node: SchemaNode, key: string, value: unknown, breaking: boolean): fc.Arbitrary<unknown> | undefined {
  const n = resolve(node);
  if (key === 'role') {
    return CLINICIAN_ROLES.includes(value as string) ? fc.constantFrom(...CLINICIAN_ROLES) : undefined;
  }
  if (key === 'services') {
    return undefined; // unique items: the base generator varies the set
  }
  if (n.enum) {
    return fc.constantFrom(...n.enum);
  }
  if (typeof value === 'number') {
    return number(n, value);
  }
  if (typeof value !== 'string') {
    return undefined;
  }
  if (node.$ref === '#/$defs/localId' || key === 'id') {
    return undefined; // items refer to each other by these
  }
  if (n.format === 'date') {
    return key === 'start' ? undefined : dateArbitrary(value, key !== 'birthDate');
  }
  if (n.format === 'date-time') {
    return dateTimeStyle(breaking).map((s) => respell(value, s.offset, { colon: s.colon, lowerZ: s.lowerZ, fraction: s.fraction }));
  }
  if (n.format === 'uri') {
    return value === 'http://hl7.org/fhir/sid/us-npi' ? undefined : uri;
  }
  if (n.pattern === '^\\S+( \\S+)*$') {
    return codeText;
  }
  if (key === 'preferredLanguage') {
    return fc.constantFrom('en', 'en-US', 'es-419', 'zh-Hant-TW', 'sgn-ase', 'tlh', 'x-klingon');
  }
  if (key === 'unit' && !breaking) {
    return codeText; // a goal's unit becomes Quantity.code: the plan schema allows " kg ", FHIR's code does not
  }
  if (key === 'value' && /^\d{10}$/.test(value)) {
    return undefined; // an NPI: its check digit is a plan rule
  }
  return text(n.maxLength ?? 64);
}

interface Leaf {
  set: (v: unknown) => void;
  drop?: () => void;
  choices: fc.Arbitrary<unknown>;
}

/** Every rewritable leaf of the plan, and every optional property that may be dropped. */
function leaves(value: unknown, node: SchemaNode, key: string, set: (v: unknown) => void, drop: (() => void) | undefined, out: Leaf[], breaking: boolean): void {
  const n = resolve(node);
  if (key === 'thresholds' && !Array.isArray(value)) {
    out.push({ set, choices: threshold });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => leaves(item, n.items ?? {}, key, (v) => (value[i] = v), undefined, out, breaking));
    return;
  }
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    for (const [k, v] of Object.entries(object)) {
      const child = n.properties?.[k] ?? {};
      const optional = !(n.required ?? []).includes(k);
      leaves(v, child, k, (nv) => (object[k] = nv), optional ? () => delete object[k] : undefined, out, breaking);
    }
    if (drop) {
      out.push({ set, drop, choices: fc.constant(value) });
    }
    return;
  }
  const choices = leafArbitrary(node, key, value, breaking);
  // A number or relationship is dropped only with what holds it (a threshold needs a bound).
  if (typeof value === 'number' || key === 'relationship') {
    drop = undefined;
  }
  if (choices || drop) {
    out.push({ set, drop, choices: choices ?? fc.constant(value) });
  }
}

/**
 * A generated plan with a share of its leaves rewritten: `rate` of them get another value, a few
 * optional properties are dropped, and follow-ups sometimes get the description the base
 * generator never writes. `fhirBreaking`: also date-time spellings the plan schema accepts and
 * FHIR refuses ("…z", "+0530", more than 9 digits of a second).
 */
export const widePlanArbitrary = ({ fhirBreaking }: { fhirBreaking: boolean }): fc.Arbitrary<TransitionPlan> => fc
  .tuple(planArbitrary, fc.double({ min: 0.02, max: 0.25, noNaN: true }), fc.option(text(1024), { nil: undefined }))
  .chain(([base, rate, description]) => {
    const plan = structuredClone(base);
    if (description !== undefined) {
      plan.followUps?.forEach((f) => (f.description = description));
    }
    const found: Leaf[] = [];
    leaves(plan, schema, '', () => undefined, undefined, found, fhirBreaking);
    return fc
      .tuple(...found.map((leaf) => fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), leaf.choices)))
      .map((picks) => {
        const copy = structuredClone(plan);
        const targets: Leaf[] = [];
        leaves(copy, schema, '', () => undefined, undefined, targets, fhirBreaking);
        // Drops last: a dropped object's leaves were rewritten for nothing, not wrongly.
        const drops: (() => void)[] = [];
        picks.forEach(([roll, choice], i) => {
          const leaf = targets[i] as Leaf;
          if (roll < rate / 4 && leaf.drop) {
            drops.push(leaf.drop);
          } else if (roll < rate) {
            leaf.set(structuredClone(choice));
          }
        });
        drops.forEach((drop) => drop());
        return copy;
      });
  });
