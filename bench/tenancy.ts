// The cost of tenancy in the store: the same searches as carebridge itself (admin, unfiltered)
// and as a hospital and an agency (visibility decided in the query), in-process on SQLite, over
// N patients (BENCH_TENANCY_PATIENTS, default 10,000) with three referral Tasks each.
import { parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callerFor } from '../src/auth/access/policy.ts';
import type { Principal } from '../src/auth/principal.ts';
import { parseScopes } from '../src/auth/scopes.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';

loadDefinitions();
const N = Number(process.env.BENCH_TENANCY_PATIENTS ?? 10000);
const AG = 50;
const dir = mkdtempSync(join(tmpdir(), 'carebridge-bench-tenancy-'));
const store = await SqliteStore.open(join(dir, 'db.sqlite'));
const p = (role: Principal['role'], v: string): Principal => ({ clientId: v, clientName: v, role, organization: { system: 'urn:org', value: v }, scopes: parseScopes('system/*.cruds').scopes });
const hospital = p('hospital', 'h'); const admin = p('admin', 'ops');
const agencies = Array.from({ length: AG }, (_, j) => p('agency', `a${j}`));
const orgIds: string[] = [];
await store.transaction(async (tx) => { for (let j = 0; j < AG; j++) orgIds.push((await tx.create({ resourceType: 'Organization', identifier: [{ system: 'urn:org', value: `a${j}` }] } as Resource)).version.id); });
const patients: string[] = [];
const t0 = performance.now();
const h = store.forCaller(callerFor(hospital));
for (let b = 0; b < N; b += 500) {
  await h.transaction(async (tx) => {
    for (let n = b; n < Math.min(N, b + 500); n++) {
      const pid = (await tx.create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: `p${n}` }] } as Resource)).version.id;
      patients.push(pid);
      const subject = { reference: `Patient/${pid}` };
      const ct = (await tx.create({ resourceType: 'CareTeam', subject } as Resource)).version.id;
      await tx.create({ resourceType: 'CarePlan', status: 'active', intent: 'plan', subject, careTeam: [{ reference: `CareTeam/${ct}` }] } as Resource);
      for (let k = 0; k < 3; k++) await tx.create({ resourceType: 'Task', status: 'requested', intent: 'order', for: subject, owner: { reference: `Organization/${orgIds[(n + k) % AG]}` } } as Resource);
    }
  });
}
console.log('carebridge tenancy benchmark (figures only): store-level searches, 5,000 each, one process');
console.log(`seeded ${N} patients in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
async function time(label: string, who: Principal, q: (i: number) => string): Promise<void> {
  const view = store.forCaller(callerFor(who));
  const t = performance.now(); let found = 0;
  const runs = 5000;
  for (let i = 0; i < runs; i++) found += (await (who.role === 'agency' ? store.forCaller(callerFor(agencies[i % AG] as Principal)) : view).search(parseSearchRequest(q(i)))).resources.length;
  console.log(`${label}: ${((performance.now() - t) * 1000 / runs).toFixed(0)} µs/search, ${(found / runs).toFixed(1)} results`);
}
const rnd = (i: number): string => patients[(i * 7919) % patients.length] as string;
await time('admin CarePlan?patient&_include', admin, (i) => `CarePlan?patient=Patient/${rnd(i)}&_include=CarePlan:care-team`);
await time('hospital CarePlan?patient&_include', hospital, (i) => `CarePlan?patient=Patient/${rnd(i)}&_include=CarePlan:care-team`);
await time('admin Task?owner&status', admin, (i) => `Task?owner=Organization/${orgIds[i % AG]}&status=requested`);
await time('agency Task?owner&status (own)', agencies[0] as Principal, (i) => `Task?owner=Organization/${orgIds[i % AG]}&status=requested`);
await time('agency CarePlan?patient (random patient)', agencies[0] as Principal, (i) => `CarePlan?patient=Patient/${rnd(i)}`);
await store.close();
rmSync(dir, { recursive: true, force: true });
