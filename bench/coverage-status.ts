// GET /fhir/Patient/{id}/$coverage-status under load: a server in-process on SQLite with N seeded
// patients (BENCH_COVERAGE_PATIENTS, default 2,000; each with a transition CarePlan, two Coverages
// and three stored eligibility answers), asked by the hospital that sent them (tenancy in every
// query) at C concurrent keep-alive connections (BENCH_COVERAGE_CONNECTIONS, default 16) for
// BENCH_COVERAGE_SECONDS (default 8). Client and server share the process and its one event loop,
// so the figures are a floor for a server on its own core.
import type { Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { initServer } from '../src/api/server.ts';
import { callerFor } from '../src/auth/access/policy.ts';
import { AuthService } from '../src/auth/auth-service.ts';
import { DEV_DEMO_CLIENTS } from '../src/auth/dev-mode.ts';
import type { Principal } from '../src/auth/principal.ts';
import { parseScopes } from '../src/auth/scopes.ts';
import { emptyConfig } from '../src/config/config.ts';
import { createLogger } from '../src/log/logger.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';
import { section, table } from './print.ts';

const N = Number(process.env.BENCH_COVERAGE_PATIENTS ?? 2000);
const CONNECTIONS = Number(process.env.BENCH_COVERAGE_CONNECTIONS ?? 16);
const SECONDS = Number(process.env.BENCH_COVERAGE_SECONDS ?? 8);
const HOSPITAL_CLIENT = DEV_DEMO_CLIENTS[0] as (typeof DEV_DEMO_CLIENTS)[number];

loadDefinitions();
const dir = mkdtempSync(join(tmpdir(), 'carebridge-bench-coverage-'));
const store = await SqliteStore.open(join(dir, 'db.sqlite'));
const hospital: Principal = { clientId: HOSPITAL_CLIENT.clientId, clientName: HOSPITAL_CLIENT.name, role: 'hospital', organization: HOSPITAL_CLIENT.organization, scopes: parseScopes('system/*.cruds').scopes };

section(`$coverage-status: ${N} patients, ${CONNECTIONS} connections, ${SECONDS} s, SQLite, one process`);
const seedStarted = performance.now();
const patients: string[] = [];
const h = store.forCaller(callerFor(hospital));
const payer = (await h.create({ resourceType: 'Organization', identifier: [{ system: 'urn:payer', value: 'p1' }], name: 'Bench Health Plan' } as Resource)).version.id;
for (let b = 0; b < N; b += 250) {
  await h.transaction(async (tx) => {
    for (let n = b; n < Math.min(N, b + 250); n++) {
      const pid = (await tx.create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: `p${n}` }] } as Resource)).version.id;
      patients.push(pid);
      const subject = { reference: `Patient/${pid}` };
      await tx.create({ resourceType: 'CarePlan', status: 'active', intent: 'plan', subject, period: { start: '2026-11-30T16:20:00-05:00' } } as Resource);
      const coverages: string[] = [];
      for (const [order, end] of [[1, '2026-12-15'], [2, undefined]] as const) {
        coverages.push(
          (await tx.create({
            resourceType: 'Coverage', status: 'active', beneficiary: subject, subscriberId: `M${n}-${order}`, order,
            relationship: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: 'self' }] },
            period: { start: '2026-01-01', ...(end ? { end } : {}) }, payor: [{ reference: `Organization/${payer}`, display: 'Bench Health Plan' }],
          } as Resource)).version.id,
        );
      }
      for (let k = 0; k < 3; k++) {
        await tx.create({
          resourceType: 'CoverageEligibilityResponse', status: 'active', purpose: ['validation', 'benefits'], patient: subject, created: `2026-11-2${k}T10:00:00Z`, request: { reference: 'CoverageEligibilityRequest/x' }, outcome: 'complete', insurer: { reference: `Organization/${payer}` },
          insurance: [{ coverage: { reference: `Coverage/${coverages[0] as string}` }, inforce: true, item: [{ category: { coding: [{ system: 'https://codesystem.x12.org/005010/1365', code: '42' }] }, authorizationRequired: k === 2 }] }],
        } as Resource);
      }
    }
  });
}
console.log(`  seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);

const quiet = new Writable({ write: (_c, _e, done) => done() });
const logger = createLogger({ level: 'error', stream: quiet });
const auth = await AuthService.init({ config: emptyConfig(), store, devMode: true, env: {} });
const running = await initServer({ store, logger, auth, port: 0, host: '127.0.0.1', limits: { rateLimitPerMinute: 0 }, clock: () => new Date('2026-12-02T15:00:00Z') });
const tokenAnswer = await fetch(`${running.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${HOSPITAL_CLIENT.clientId}` });
const token = ((await tokenAnswer.json()) as { access_token: string }).access_token;

const latencies: number[] = [];
let failures = 0;
let i = 0;
const ask = async (): Promise<void> => {
  const started = performance.now();
  const response = await fetch(`${running.url}/fhir/Patient/${patients[(i++ * 7919) % patients.length] as string}/$coverage-status`, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  if (response.status === 200) {
    latencies.push(performance.now() - started);
  } else {
    failures++;
  }
};
// Warm-up: definitions, statement caches, the JIT.
for (let w = 0; w < 200; w++) {
  await ask();
}
latencies.length = 0;
const until = performance.now() + SECONDS * 1000;
const started = performance.now();
await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
  while (performance.now() < until) {
    await ask();
  }
}));
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number): string => (latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN).toFixed(1);
table(['requests', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-200'], [[String(latencies.length), (latencies.length / elapsed).toFixed(0), pct(50), pct(90), pct(99), pct(100), String(failures)]], 0);

running.server.closeAllConnections();
await running.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
