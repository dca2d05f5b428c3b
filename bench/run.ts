// Throughput benchmark of the path a pushed plan takes: validatePlan → toFhir → validateMappedBundle
// (and, for comparison, the full Medplum validation of the same Bundle),
// then single-resource validation rates and where the time goes inside validateFhirResource.
// Prints figures only; it asserts nothing. Run: npm run bench (about 40 s on one core).
import { OperationOutcomeError, validateResource, validateTypedValue } from '@medplum/core';
import type { InternalTypeSchema } from '@medplum/core';
import type { Bundle, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { defaultMappingContext } from '../src/mapping/context.ts';
import { toFhir } from '../src/mapping/to-fhir.ts';
import type { TransitionPlan } from '../src/model/transition-plan.ts';
import { PROFILES } from '../src/model/profiles.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';
import { validateFhirBundle, validateFhirResource, validateMappedBundle } from '../src/validation/fhir-validator.ts';
import { validatePlan } from '../src/validation/plan.ts';
import { checkStructure } from '../src/validation/structure-checks.ts';
import { section, table } from './print.ts';

const TARGET_PLANS_PER_SECOND = 1000;
const FIXTURES_DIR = new URL('../fixtures/plans/', import.meta.url);
/** Fixture whose Bundle supplies the single resources of sections 3 and 4. */
const SAMPLE_FIXTURE = 'heart-failure-home-health.json';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Keeps results alive so the JIT cannot drop the work. */
let sink = 0;

interface Rate {
  ops: number;
  ms: number;
  perSecond: number;
  msPerOp: number;
}

/** Runs `fn` for `warmup` calls, then as often as fits in `seconds`; `fn(i)` gets the call index. */
function measure(fn: (i: number) => number, seconds: number, warmup: number): Rate {
  for (let i = 0; i < warmup; i++) {
    sink += fn(i);
  }
  const budget = seconds * 1000;
  const start = performance.now();
  let now = start;
  let ops = 0;
  while (now - start < budget) {
    sink += fn(ops);
    ops++;
    now = performance.now();
  }
  const ms = now - start;
  return { ops, ms, perSecond: (ops * 1000) / ms, msPerOp: ms / ops };
}

/** Medplum's validators either return issues or throw an OperationOutcomeError carrying them. */
function medplumIssues(run: () => OperationOutcomeIssue[]): number {
  try {
    return run().length;
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue?.length ?? 0;
    }
    throw err;
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });


// ---------------------------------------------------------------------------------------------
// 0. Machine

const totalStart = performance.now();
console.log('carebridge benchmark (figures only, nothing asserted)');
console.log(`node ${process.version} (${process.platform}/${process.arch}), CPU ${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}`);

// ---------------------------------------------------------------------------------------------
// 1. Definitions

section('1. Definitions');
const loadStart = performance.now();
const { terminology, profiles } = loadDefinitions();
const loadMs = performance.now() - loadStart;
console.log(`  loadDefinitions(): ${fmt(loadMs, 0)} ms (R4 types/resources/search parameters, R4 terminology, ${profiles.size} carebridge profiles)`);

// ---------------------------------------------------------------------------------------------
// 2. Plans: validatePlan + toFhir + validateMappedBundle (the push path) and with full validation

section('2. Plans: validatePlan + toFhir + FHIR validation of the Bundle (one core)');
const fixtureNames = readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const rawPlans: unknown[] = fixtureNames.map((f) => JSON.parse(readFileSync(new URL(f, FIXTURES_DIR), 'utf8')) as unknown);
const ctx = defaultMappingContext();

const plansIn: unknown[] = [];
const planNames: string[] = [];
const validPlans: TransitionPlan[] = [];
const bundles: Bundle[] = [];
rawPlans.forEach((raw, i) => {
  const checked = validatePlan(raw);
  if (!checked.plan) {
    console.log(`  note: ${fixtureNames[i]} does not pass validatePlan (${checked.issues.length} issues); left out`);
    return;
  }
  plansIn.push(raw);
  planNames.push(fixtureNames[i] ?? '');
  validPlans.push(checked.plan);
  bundles.push(toFhir(checked.plan, ctx));
});
const resourcesPerPlan = bundles.reduce((n, b) => n + (b.entry?.length ?? 0), 0) / bundles.length;
const bundleIssues = bundles.map((b) => validateFhirBundle(b).length);
console.log(`  ${plansIn.length} fixture plans (${planNames.join(', ')})`);
console.log(`  ${fmt(resourcesPerPlan, 1)} resources per plan on average; issues per Bundle: ${bundleIssues.join(', ')}`);

/** The whole path of a pushed plan (the parsed JSON in, the validated Bundle out). */
function pushPlan(raw: unknown, validate: (b: Bundle) => OperationOutcomeIssue[]): number {
  const checked = validatePlan(raw);
  if (!checked.plan) {
    return checked.issues.length;
  }
  const bundle = toFhir(checked.plan, ctx);
  return validate(bundle).length + (bundle.entry?.length ?? 0);
}

const WARMUP_PLANS = 200;
const full = measure((i) => pushPlan(plansIn[i % plansIn.length], validateMappedBundle), 3, WARMUP_PLANS);
const fullMedplum = measure((i) => pushPlan(plansIn[i % plansIn.length], (b) => validateFhirBundle(b)), 3, WARMUP_PLANS);
const mappedOnly = measure((i) => validateMappedBundle(bundles[i % bundles.length] as Bundle).length, 2, WARMUP_PLANS);
const planOnly = measure((i) => validatePlan(plansIn[i % plansIn.length]).issues.length, 1.5, WARMUP_PLANS);
const mapOnly = measure((i) => toFhir(validPlans[i % validPlans.length] as TransitionPlan, ctx).entry?.length ?? 0, 1.5, WARMUP_PLANS);
const bundleOnly = measure((i) => validateFhirBundle(bundles[i % bundles.length] as Bundle).length, 2, WARMUP_PLANS);

const splitSum = planOnly.msPerOp + mapOnly.msPerOp + bundleOnly.msPerOp;
const mappedSum = planOnly.msPerOp + mapOnly.msPerOp + mappedOnly.msPerOp;
table(
  ['step', 'plans/s', 'ms/plan', 'share', 'plans run'],
  [
    ['push path: validatePlan + toFhir + validateMappedBundle', fmt(full.perSecond), fmt(full.msPerOp, 3), '', fmt(full.ops)],
    ['  validatePlan alone', fmt(planOnly.perSecond), fmt(planOnly.msPerOp, 3), `${fmt((100 * planOnly.msPerOp) / mappedSum, 1)} %`, fmt(planOnly.ops)],
    ['  toFhir alone', fmt(mapOnly.perSecond), fmt(mapOnly.msPerOp, 3), `${fmt((100 * mapOnly.msPerOp) / mappedSum, 1)} %`, fmt(mapOnly.ops)],
    ['  validateMappedBundle alone (mapped tier)', fmt(mappedOnly.perSecond), fmt(mappedOnly.msPerOp, 3), `${fmt((100 * mappedOnly.msPerOp) / mappedSum, 1)} %`, fmt(mappedOnly.ops)],
    ['with full validation: validatePlan + toFhir + validateFhirBundle', fmt(fullMedplum.perSecond), fmt(fullMedplum.msPerOp, 3), '', fmt(fullMedplum.ops)],
    ['  validateFhirBundle alone (full tier, Medplum + carebridge)', fmt(bundleOnly.perSecond), fmt(bundleOnly.msPerOp, 3), `${fmt((100 * bundleOnly.msPerOp) / splitSum, 1)} %`, fmt(bundleOnly.ops)],
  ],
);
console.log(`  (${WARMUP_PLANS} plans of warm-up before each measurement; whole path measured ${fmt(full.ms / 1000, 1)} s;`);
console.log(`   validateFhirBundle: ${fmt((bundleOnly.msPerOp * 1000) / resourcesPerPlan, 1)} µs per resource on average)`);

// ---------------------------------------------------------------------------------------------
// 3. Single resources

section('3. Single resources (resources/s)');
const sampleIndex = Math.max(0, planNames.indexOf(SAMPLE_FIXTURE));
const sampleName = planNames[sampleIndex] ?? '';
const sampleBundle = bundles[sampleIndex] as Bundle;
const sampleResources = (sampleBundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
const byProfile = (url: string): Resource => {
  const found = sampleResources.find((r) => r.meta?.profile?.includes(url));
  if (!found) {
    throw new Error(`the sample Bundle has no resource claiming ${url}`);
  }
  return found;
};
const singles: { label: string; resource: Resource; profile: string }[] = [
  { label: 'CarePlan', resource: byProfile(PROFILES.transitionCarePlan), profile: PROFILES.transitionCarePlan },
  { label: 'Task (caregiver task)', resource: byProfile(PROFILES.caregiverTask), profile: PROFILES.caregiverTask },
  { label: 'Task (referral task)', resource: byProfile(PROFILES.referralTask), profile: PROFILES.referralTask },
  { label: 'Appointment', resource: byProfile(PROFILES.followUpAppointment), profile: PROFILES.followUpAppointment },
  { label: 'Coverage', resource: byProfile(PROFILES.transitionCoverage), profile: PROFILES.transitionCoverage },
];
console.log(`  resources taken from the mapped Bundle of ${sampleName}`);

const SINGLE_SECONDS = 0.6;
const SINGLE_WARMUP = 300;
const singleRows = singles.map(({ label, resource }) => {
  const base = measure(() => medplumIssues(() => validateResource(resource)), SINGLE_SECONDS, SINGLE_WARMUP);
  const ours = measure(() => validateFhirResource(resource).length, SINGLE_SECONDS, SINGLE_WARMUP);
  return [label, fmt(base.perSecond), fmt(ours.perSecond), fmt(ours.msPerOp / base.msPerOp, 2), fmt(validateFhirResource(resource).length)];
});
table(['resource', '(a) medplum base R4', '(b) validateFhirResource', '(b)/(a) cost', 'issues'], singleRows);

const carePlan = singles[0]?.resource as Resource;
const carePlanProfile = profiles.get(PROFILES.transitionCarePlan);
if (!carePlanProfile) {
  throw new Error('the CarePlan profile is not loaded');
}
const explicitProfile = measure(() => medplumIssues(() => validateResource(carePlan, { profile: carePlanProfile.structureDefinition })), 1.5, 50);
const cachedProfile = measure(() => medplumIssues(() => validateTypedValue({ type: carePlanProfile.typeAlias, value: carePlan })), 1.5, SINGLE_WARMUP);
console.log('\n  CarePlan against its profile: parse per call vs carebridge\'s cached parse');
table(
  ['profile pass', 'resources/s', 'µs/resource'],
  [
    ['(c) validateResource(r, { profile: StructureDefinition })', fmt(explicitProfile.perSecond), fmt(explicitProfile.msPerOp * 1000, 1)],
    ['    validateTypedValue({ type: cached alias, value: r })', fmt(cachedProfile.perSecond), fmt(cachedProfile.msPerOp * 1000, 1)],
    ['    gain of caching', `x ${fmt(cachedProfile.perSecond / explicitProfile.perSecond, 1)}`, ''],
  ],
);

// ---------------------------------------------------------------------------------------------
// 4. Inside validateFhirResource

section('4. Where the time goes inside validateFhirResource (µs per call)');
interface Passes {
  /** Only for a Bundle: the Bundle itself, its entries without their resources. */
  shell?: () => number;
  base: () => number;
  profile: () => number;
  structure: () => number;
  whole: () => number;
}

function resourcePasses(resource: Resource, typeOfFullUrl?: (url: string) => string | undefined): { base: () => number; profile: () => number; structure: () => number } {
  const loaded = (resource.meta?.profile ?? []).map((url) => profiles.get(url)).filter((p) => p !== undefined);
  const schema: InternalTypeSchema | undefined = loaded[0]?.schema;
  return {
    // As validateFhirResource does: the base pass only for a resource without a carebridge profile.
    base: () => (schema ? 0 : medplumIssues(() => validateResource(resource))),
    profile: () => loaded.reduce((n, p) => n + medplumIssues(() => validateTypedValue({ type: p.typeAlias, value: resource })), 0),
    structure: () => checkStructure(resource, { terminology, typeOfFullUrl }, resource.resourceType, schema).length,
  };
}

const carePlanPasses: Passes = { ...resourcePasses(carePlan), whole: () => validateFhirResource(carePlan).length };

const fullUrlTypes = new Map<string, string>();
for (const e of sampleBundle.entry ?? []) {
  if (e.fullUrl && e.resource) {
    fullUrlTypes.set(e.fullUrl, e.resource.resourceType);
  }
}
const entryPasses = sampleResources.map((r) => resourcePasses(r, (url) => fullUrlTypes.get(url)));
const bundleShell: Bundle = { ...sampleBundle, entry: (sampleBundle.entry ?? []).map((e) => ({ ...e, resource: undefined })) };
const bundlePasses: Passes = {
  shell: () => medplumIssues(() => validateResource(bundleShell)),
  base: () => entryPasses.reduce((n, p) => n + p.base(), 0),
  profile: () => entryPasses.reduce((n, p) => n + p.profile(), 0),
  structure: () => entryPasses.reduce((n, p) => n + p.structure(), 0),
  whole: () => validateFhirBundle(sampleBundle).length,
};

function breakdown(label: string, passes: Passes, seconds: number, warmup: number): string[][] {
  const whole = measure(passes.whole, seconds, warmup);
  const parts: [string, Rate][] = [
    ...(passes.shell ? [['medplum Bundle shell (entries without resources)', measure(passes.shell, seconds, warmup)] as [string, Rate]] : []),
    ['medplum base pass (only resources without a carebridge profile)', measure(passes.base, seconds, warmup)],
    ['medplum profile pass (validateTypedValue, cached)', measure(passes.profile, seconds, warmup)],
    ['checkStructure', measure(passes.structure, seconds, warmup)],
  ];
  const partsUs = parts.reduce((n, [, r]) => n + r.msPerOp * 1000, 0);
  const wholeUs = whole.msPerOp * 1000;
  const rows = parts.map(([name, r]) => [`${label}: ${name}`, fmt(r.msPerOp * 1000, 1), `${fmt((100 * r.msPerOp * 1000) / wholeUs, 1)} %`]);
  rows.push([`${label}: rest (issue mapping, profile rules, dedupe${label === 'Bundle' ? ', entry and reference checks' : ''})`, fmt(Math.max(0, wholeUs - partsUs), 1), `${fmt((100 * Math.max(0, wholeUs - partsUs)) / wholeUs, 1)} %`]);
  rows.push([`${label}: whole ${label === 'Bundle' ? 'validateFhirBundle' : 'validateFhirResource'}`, fmt(wholeUs, 1), '100.0 %']);
  return rows;
}

const breakdownRows = [...breakdown('CarePlan', carePlanPasses, 0.6, SINGLE_WARMUP), ['', '', ''], ...breakdown('Bundle', bundlePasses, 1.2, 50)];
console.log(`  CarePlan and the whole Bundle of ${sampleName} (${sampleResources.length} resources)`);
table(['pass', 'µs/call', 'share'], breakdownRows);

// ---------------------------------------------------------------------------------------------
// 5. Verdict

section('5. Verdict');
const met = full.perSecond >= TARGET_PLANS_PER_SECOND;
console.log(`  target ≥ ${fmt(TARGET_PLANS_PER_SECOND)} plans/s per core on the push path (mapped tier): ${met ? 'met' : 'not met'} (${fmt(full.perSecond)} plans/s)`);
console.log(`  with full Medplum validation of every mapped Bundle: ${fmt(fullMedplum.perSecond)} plans/s (${fmt(full.perSecond / fullMedplum.perSecond, 1)}x slower)`);
console.log(`\n(total run ${fmt((performance.now() - totalStart) / 1000, 1)} s; checksum ${sink % 1000})`);
