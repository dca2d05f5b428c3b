// The load generator of bench/server.ts, run as its own process: autocannon against one URL,
// rotating through many different requests (one body or path per request). Reads its job from
// the JSON file named by argv[2]; prints autocannon's result as one JSON line on stdout.
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { ingestBundles } from './workload.ts';

export interface LoadJob {
  url: string;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration?: number;
  /** Number of requests to send (ingest: each body once). */
  amount?: number;
  /** GET paths to rotate through. */
  paths?: string[];
  /** POST /fhir transaction Bundles generated here (not sent over a pipe): count, seed, tag. */
  ingest?: { count: number; seed: number; tag: string };
  /** POST /transitions: `count` copies of fixtures/plans/<plan>, each a different patient and plan identifier. */
  plans?: { count: number; plan: string; tag: string };
  /** Bearer token sent with every request (carebridge runs in development mode here). */
  token?: string;
}

const job = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as LoadJob;
const auth: Record<string, string> = job.token ? { authorization: `Bearer ${job.token}` } : {};
/** POST each body once, in turn (the run's amount is the number of bodies). */
function postEach(path: string, contentType: string, bodies: string[]): autocannon.Request[] {
  let next = 0;
  return [{ method: 'POST', path, headers: { ...auth, 'content-type': contentType, accept: contentType }, setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] as string }) }];
}

/** Copies of a plan, each a different plan identifier, patient and hospital stay (one transition per stay). */
function planBodies(plans: NonNullable<LoadJob['plans']>): string[] {
  const template = JSON.parse(readFileSync(new URL(`../fixtures/plans/${plans.plan}`, import.meta.url), 'utf8')) as { identifier: { value: string }; patient: { identifiers: { value: string }[] }; hospitalStay: { encounterIdentifier: { value: string } } };
  return Array.from({ length: plans.count }, (_, i) => {
    const plan = structuredClone(template);
    plan.identifier.value = `${template.identifier.value}-${plans.tag}-${i}`;
    plan.patient.identifiers = plan.patient.identifiers.map((id) => ({ ...id, value: `${id.value}${plans.tag}${i}` }));
    plan.hospitalStay.encounterIdentifier.value = `${template.hospitalStay.encounterIdentifier.value}-${plans.tag}-${i}`;
    return JSON.stringify(plan);
  });
}

let requests: autocannon.Request[];
let amount = job.amount;
if (job.ingest) {
  const { bodies } = ingestBundles(job.ingest.count, job.ingest.seed, job.ingest.tag);
  amount = bodies.length;
  requests = postEach('/fhir', 'application/fhir+json', bodies);
} else if (job.plans) {
  const bodies = planBodies(job.plans);
  amount = bodies.length;
  requests = postEach('/transitions', 'application/json', bodies);
} else {
  const paths = job.paths ?? ['/'];
  let next = 0;
  requests = [{ method: 'GET', headers: { ...auth, accept: 'application/fhir+json' }, setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length] as string }) }];
}

const started = performance.now();
const result = await autocannon({
  url: job.url,
  connections: job.connections,
  ...(amount !== undefined ? { amount } : { duration: job.duration ?? 10 }),
  timeout: 30,
  requests,
});
// autocannon's `duration` is whole seconds: the wall time, for rates over short runs.
process.stdout.write(`${JSON.stringify({ ...result, elapsedMs: performance.now() - started })}\n`);
