// Caregiver report-back red flags, pure: which thresholds a reported reading crosses. The rules come
// from the plan (each caregiver task's report thresholds: outside [low, high]) and from defaults
// every transition has: SpO2 < 90 %, systolic blood pressure > 180 mm[Hg], and, for a patient with
// heart failure, a weight gain of more than 2 lb in a day or 5 lb in a week. A plan threshold for
// the same vital sign and direction replaces the default. Units are converted through UCUM (kg,
// g, [lb_av]; Cel, [degF]); a reading in a unit that cannot be converted crosses nothing.
import type { Coding, Observation } from '@medplum/fhirtypes';
import type { VitalSign } from '../model/transition-plan.ts';
import { CODE_SYSTEM_BASE, SYSTEMS } from '../model/terminology.ts';
import { VITAL_SIGNS } from '../model/vital-signs.ts';

export const RED_FLAG_SYSTEM = `${CODE_SYSTEM_BASE}/red-flag`;

export interface Reading {
  vitalSign: VitalSign;
  value: number;
  /** UCUM code. */
  unit: string;
  /** When it was measured (epoch ms). */
  at: number;
}

export type RedFlagRule =
  | { kind: string; type: 'above' | 'below'; vitalSign: VitalSign; limit: number; unit: string; source: 'plan' | 'default' }
  | { kind: string; type: 'gain'; vitalSign: VitalSign; limit: number; unit: string; windowHours: number; source: 'default' };

export interface RedFlag {
  /** The episode key: one open Task per patient and kind. */
  kind: string;
  text: string;
}

const DAY_HOURS = 24;
const WEEK_HOURS = 7 * 24;

/** Defaults of every transition (CTI red flags the coordinator wants to hear of at once). */
export const DEFAULT_RULES: readonly RedFlagRule[] = [
  { kind: 'oxygen-saturation-low', type: 'below', vitalSign: 'oxygen-saturation', limit: 90, unit: '%', source: 'default' },
  { kind: 'systolic-blood-pressure-high', type: 'above', vitalSign: 'systolic-blood-pressure', limit: 180, unit: 'mm[Hg]', source: 'default' },
];

/** Heart failure: daily-weight rules (AHA/HFSA patient guidance: call for > 2-3 lb in a day or 5 lb in a week). */
export const HEART_FAILURE_RULES: readonly RedFlagRule[] = [
  { kind: 'weight-gain-day', type: 'gain', vitalSign: 'body-weight', limit: 2, unit: '[lb_av]', windowHours: DAY_HOURS, source: 'default' },
  { kind: 'weight-gain-week', type: 'gain', vitalSign: 'body-weight', limit: 5, unit: '[lb_av]', windowHours: WEEK_HOURS, source: 'default' },
];

/** ICD-10-CM I50.* and SNOMED CT 84114007 "Heart failure" (and the codes the fixtures use under it). */
export function isHeartFailure(coding: Coding): boolean {
  return (coding.system === 'http://hl7.org/fhir/sid/icd-10-cm' && /^I50(\.|$)/.test(coding.code ?? '')) || (coding.system === SYSTEMS.snomed && ['84114007', '42343007', '88805009', '85232009'].includes(coding.code ?? ''));
}

/** UCUM units convertible to each other: value in the base unit = value × factor (+ offset). */
const UNITS: Record<string, { base: string; factor: number; offset?: number }> = {
  kg: { base: 'kg', factor: 1 },
  g: { base: 'kg', factor: 0.001 },
  '[lb_av]': { base: 'kg', factor: 0.45359237 },
  Cel: { base: 'Cel', factor: 1 },
  '[degF]': { base: 'Cel', factor: 5 / 9, offset: -32 * (5 / 9) },
};

/** The value in `to`, or undefined when UCUM gives no conversion. */
export function convert(value: number, from: string, to: string): number | undefined {
  if (from === to) {
    return value;
  }
  const a = UNITS[from];
  const b = UNITS[to];
  if (!a || !b || a.base !== b.base) {
    return undefined;
  }
  const base = value * a.factor + (a.offset ?? 0);
  return (base - (b.offset ?? 0)) / b.factor;
}

/** Rules of a transition: the plan's thresholds, then the defaults they do not replace. */
export function rulesFor(thresholds: readonly { vitalSign: VitalSign; low?: number; high?: number; unit: string }[], heartFailure: boolean): RedFlagRule[] {
  const plan: RedFlagRule[] = thresholds.flatMap((t) => [
    ...(t.low !== undefined ? [{ kind: `${t.vitalSign}-low`, type: 'below' as const, vitalSign: t.vitalSign, limit: t.low, unit: t.unit, source: 'plan' as const }] : []),
    ...(t.high !== undefined ? [{ kind: `${t.vitalSign}-high`, type: 'above' as const, vitalSign: t.vitalSign, limit: t.high, unit: t.unit, source: 'plan' as const }] : []),
  ]);
  const taken = new Set(plan.map((r) => r.kind));
  const defaults = [...DEFAULT_RULES, ...(heartFailure ? HEART_FAILURE_RULES : [])].filter((r) => !taken.has(r.kind));
  // The same kind from two caregiver tasks: the stricter one is kept (the first met).
  const seen = new Set<string>();
  return [...plan, ...defaults].filter((r) => !seen.has(`${r.kind}|${r.limit}|${r.unit}`) && seen.add(`${r.kind}|${r.limit}|${r.unit}`));
}

const fmt = (n: number): string => String(Math.round(n * 10) / 10);

/**
 * The red flags a reading raises. `earlier`: the patient's earlier readings (any vital sign; those
 * within the longest window matter), for the weight-gain rules.
 */
export function evaluateReading(reading: Reading, earlier: readonly Reading[], rules: readonly RedFlagRule[]): RedFlag[] {
  const flags: RedFlag[] = [];
  const label = VITAL_SIGNS[reading.vitalSign].display;
  for (const rule of rules) {
    if (rule.vitalSign !== reading.vitalSign) {
      continue;
    }
    const value = convert(reading.value, reading.unit, rule.unit);
    if (value === undefined) {
      continue;
    }
    if (rule.type === 'above' && value > rule.limit) {
      flags.push({ kind: rule.kind, text: `${label} ${fmt(value)} ${rule.unit} is above ${fmt(rule.limit)} ${rule.unit}` });
    } else if (rule.type === 'below' && value < rule.limit) {
      flags.push({ kind: rule.kind, text: `${label} ${fmt(value)} ${rule.unit} is below ${fmt(rule.limit)} ${rule.unit}` });
    } else if (rule.type === 'gain') {
      const from = reading.at - rule.windowHours * 3_600_000;
      const before = earlier
        .filter((r) => r.vitalSign === rule.vitalSign && r.at >= from && r.at < reading.at)
        .map((r) => convert(r.value, r.unit, rule.unit))
        .filter((v): v is number => v !== undefined);
      const lowest = before.length > 0 ? Math.min(...before) : undefined;
      if (lowest !== undefined && value - lowest > rule.limit) {
        const span = rule.windowHours === DAY_HOURS ? 'a day' : rule.windowHours === WEEK_HOURS ? 'a week' : `${rule.windowHours} h`;
        flags.push({ kind: rule.kind, text: `${label} up ${fmt(value - lowest)} ${rule.unit} in ${span} (more than ${fmt(rule.limit)} ${rule.unit})` });
      }
    }
  }
  return flags;
}

const VITAL_BY_LOINC = new Map<string, VitalSign>(Object.entries(VITAL_SIGNS).map(([sign, v]) => [v.loinc, sign as VitalSign]));

/** The readings an Observation reports: its value and its components (a blood pressure panel), by LOINC. */
export function readingsOf(observation: Observation): Reading[] {
  if (!['final', 'amended', 'corrected', 'preliminary'].includes(observation.status)) {
    return [];
  }
  const when = observation.effectiveDateTime ?? observation.effectivePeriod?.start ?? observation.effectiveInstant ?? observation.issued;
  const at = when ? Date.parse(when) : NaN;
  if (Number.isNaN(at)) {
    return [];
  }
  const out: Reading[] = [];
  const add = (code: Observation['code'] | undefined, quantity: Observation['valueQuantity']): void => {
    const loinc = code?.coding?.find((c) => c.system === SYSTEMS.loinc && c.code && VITAL_BY_LOINC.has(c.code))?.code;
    const unit = quantity?.system === SYSTEMS.ucum ? quantity.code : (quantity?.code ?? quantity?.unit);
    if (loinc && quantity?.value !== undefined && unit) {
      out.push({ vitalSign: VITAL_BY_LOINC.get(loinc) as VitalSign, value: quantity.value, unit, at });
    }
  };
  add(observation.code, observation.valueQuantity);
  for (const component of observation.component ?? []) {
    add(component.code, component.valueQuantity);
  }
  return out;
}
