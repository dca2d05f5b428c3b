// carebridge demo: a hospital-to-home transition told over carebridge's public HTTP API, against a
// running server (development mode) or one it starts itself; and, offline, the example plans
// through validation and mapping.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { initServer } from '../api/server.ts';
import { AuthService } from '../auth/auth-service.ts';
import { emptyConfig } from '../config/config.ts';
import { createLogger } from '../log/logger.ts';
import { sequentialUuids } from '../mapping/context.ts';
import { fromFhir } from '../mapping/from-fhir.ts';
import { toFhir } from '../mapping/to-fhir.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { DEV_DEMO_CLIENTS } from '../auth/dev-mode.ts';
import type { PeerConfig } from '../config/peers.ts';
import { withPeerDefaults } from '../config/peers.ts';
import type { SimulatedFhirPeer } from '../sync/simulated/fhir-peer.ts';
import { startSimulatedFhirPeer } from '../sync/simulated/fhir-peer.ts';
import { startSync } from '../sync/sync-service.ts';
import { loadDefinitions } from '../validation/definitions.ts';
import { validateFhirBundle } from '../validation/fhir-validator.ts';
import { validatePlan } from '../validation/plan.ts';
import { DEMO_PLAN_FILE, DemoError, runStory } from './demo-story.ts';
import { EXIT_UNREACHABLE, exitCodes } from './exit-codes.ts';
import { count, issueLines, type Io } from './output.ts';
import { readJsonFile } from './read-input.ts';

export const DEFAULT_DEMO_URL = 'http://localhost:8080';
/** How long a server has to answer /healthz before the demo starts its own. */
const PROBE_MS = 1500;

export const DEMO_HELP = `Usage: carebridge demo [--url <url> | --in-process | --offline]

Tells one hospital-to-home transition over carebridge's public HTTP API, with real access tokens
of the development mode's demo clients (carebridge-dev-hospital, carebridge-dev-agency-1..3): the
hospital pushes ${DEMO_PLAN_FILE} (a referral broadcast to three agencies), one agency
accepts, the others are cancelled, the agency pulls the plan ($transition), schedules the
start-of-care visit and reports a vital sign, and the hospital reads the transition's state.
With a server of its own, the demo also runs each agency's and the hospital's FHIR server
(simulated: @medplum/fhir-router in memory, on 127.0.0.1) as carebridge's peers, and shows what
carebridge's outbox delivered to each: the plan to the agency that took the patient, the
cancellations to the others, the agency's answer back to the hospital's EHR.
Options:
  --url <url>     the carebridge to talk to (default ${DEFAULT_DEMO_URL}); it must run in development
                  mode (npm start). Without --url, when nothing answers there, the demo starts its own
                  server in this process on a temporary SQLite file, and removes it afterwards.
  --in-process    always start its own server (temporary SQLite file, development mode)
  --offline       no server: the example plans (fixtures/plans/) through plan validation, mapping to a
                  FHIR transaction Bundle, FHIR validation and mapping back
${exitCodes({ ok: 'the story (or every plan) went through', failed: 'it did not', unreachable: 'no carebridge answers at --url' })}`;

export const DEMO_PLANS_DIR = new URL('../../fixtures/plans/', import.meta.url);

/** The example plans through validation and mapping, no server (`carebridge demo --offline`). */
export function runOfflineDemo(io: Io): number {
  const files = readdirSync(DEMO_PLANS_DIR).filter((f) => f.endsWith('.json')).sort();
  let failed = 0;
  for (const file of files) {
    const { issues, plan } = validatePlan(readJsonFile(new URL(file, DEMO_PLANS_DIR).pathname));
    if (!plan) {
      failed++;
      io.out(`✖ ${file}: invalid plan`);
      issueLines(issues).forEach((l) => io.out(l));
      continue;
    }
    const bundle = toFhir(plan, sequentialUuids());
    const fhirIssues = validateFhirBundle(bundle);
    const back = fromFhir(bundle);
    const types = new Map<string, number>();
    bundle.entry?.forEach((e) => types.set(e.resource?.resourceType ?? '?', (types.get(e.resource?.resourceType ?? '?') ?? 0) + 1));
    const ok = count(fhirIssues, 'error') === 0 && isDeepStrictEqual(back, plan);
    failed += ok ? 0 : 1;
    io.out(`${ok ? '✔' : '✖'} ${file}: ${plan.careTeam.length} care team members, ${plan.referrals?.length ?? 0} agency referrals → ${bundle.entry?.length} FHIR resources`);
    io.out(`    ${[...types].map(([t, n]) => `${t}×${n}`).join(', ')}`);
    io.out(`    FHIR validation: ${count(fhirIssues, 'error')} errors, ${count(fhirIssues, 'warning')} warnings; mapped back to the same plan: ${isDeepStrictEqual(back, plan) ? 'yes' : 'NO'}`);
    issueLines(fhirIssues).forEach((l) => io.out(l));
  }
  io.out(failed === 0 ? `All ${files.length} example plans went through.` : `${failed} of ${files.length} example plans failed.`);
  return failed === 0 ? 0 : 1;
}

export interface DemoOptions {
  url?: string;
  inProcess?: boolean;
  offline?: boolean;
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(PROBE_MS) });
    return response.ok;
  } catch {
    return false;
  }
}

interface DemoPeer {
  label: string;
  peer: SimulatedFhirPeer;
}

/** What the peers hold now, one line each ("Charm City Home Health: CarePlan ×1, Patient ×1, …"). */
async function peerLines(peers: DemoPeer[]): Promise<string[]> {
  const lines: string[] = [];
  for (const { label, peer } of peers) {
    const counts = new Map<string, number>();
    for (const type of ['Patient', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'ServiceRequest', 'Appointment', 'Observation']) {
      const found = (await peer.repo.searchResources({ resourceType: type as 'Patient', count: 1000 })).length;
      if (found > 0) {
        counts.set(type, found);
      }
    }
    lines.push(`  ${label} (${peer.baseUrl}): ${counts.size === 0 ? 'nothing' : [...counts].map(([t, n]) => `${t}×${n}`).join(', ')}`);
  }
  return lines;
}

/**
 * A development-mode server on a temporary SQLite file, on a free port of 127.0.0.1, with the
 * demo's agencies and hospital as simulated FHIR peers it pushes to.
 */
async function startOwnServer(): Promise<{ url: string; file: string; store: SqliteStore; peers: DemoPeer[]; stop: () => Promise<void> }> {
  loadDefinitions();
  const dir = mkdtempSync(join(tmpdir(), 'carebridge-demo-'));
  const file = join(dir, 'carebridge.db');
  const store = await SqliteStore.open(file);
  // Only errors, and on stderr: stdout is the timeline.
  const logger = createLogger({ level: 'error', stream: process.stderr });
  const auth = await AuthService.init({ config: emptyConfig(), store, devMode: true, env: {} });
  const peers: DemoPeer[] = [];
  const configs: PeerConfig[] = [];
  for (const client of DEV_DEMO_CLIENTS) {
    const peer = await startSimulatedFhirPeer({ name: `${client.organization.display ?? client.clientId} (simulated)` });
    const ehr = client.role === 'hospital';
    peers.push({ label: `${client.organization.display ?? client.clientId}${ehr ? ' EHR' : ''}`, peer });
    configs.push(
      withPeerDefaults({
        name: client.clientId.replace('carebridge-dev-', ''),
        kind: ehr ? 'ehr' : 'agency',
        organization: client.organization,
        fhirBaseUrl: peer.baseUrl,
        push: { resourceTypes: ehr ? ['Task', 'Appointment', 'Observation'] : ['Patient', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'ServiceRequest', 'Appointment'] },
      }),
    );
  }
  const running = await initServer({ store, logger, auth, port: 0, host: '127.0.0.1' });
  const sync = await startSync({ store, peers: configs, logger, dispatch: true, poll: false, fhirBaseUrl: `${running.url}/fhir`, dispatcher: { idleMs: 50 } });
  return {
    url: running.url,
    file,
    store,
    peers,
    stop: async () => {
      running.server.closeAllConnections();
      await running.close();
      await sync.stop();
      await Promise.all(peers.map(({ peer }) => peer.close()));
      await store.close();
      logger.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function runDemo(io: Io, options: DemoOptions = {}): Promise<number> {
  if (options.offline) {
    return runOfflineDemo(io);
  }
  if (options.url !== undefined && options.inProcess) {
    io.err(`--url and --in-process exclude each other.\n\n${DEMO_HELP}`);
    return 2;
  }
  const url = (options.url ?? DEFAULT_DEMO_URL).replace(/\/+$/, '');
  let own: Awaited<ReturnType<typeof startOwnServer>> | undefined;
  if (options.inProcess || (options.url === undefined && !(await answers(url)))) {
    own = await startOwnServer();
  } else if (!(await answers(url))) {
    io.err(`No carebridge answers at ${url}/healthz. Start one with \`npm start\`, or run \`carebridge demo --in-process\`.`);
    return EXIT_UNREACHABLE;
  }
  const base = own?.url ?? url;
  io.out(`carebridge demo: a hospital-to-home transition over the public HTTP API of ${base}`);
  io.out(own ? `  (${options.inProcess ? '--in-process' : `nothing answered at ${url}`}: started a development-mode server in this process on ${own.file})` : '  (a running server in development mode)');
  io.out(`  hospital = carebridge-dev-hospital; agency-1..3 = carebridge-dev-agency-1..3 (development mode's demo clients, real tokens)`);
  const started = performance.now();
  try {
    await runStory(io, base, readJsonFile(new URL(DEMO_PLAN_FILE, DEMO_PLANS_DIR).pathname));
    if (own) {
      // The outbox sends in the background: wait until it has nothing left (a few hundred ms).
      for (let i = 0; i < 100 && (await own.store.countDeliveries()).some((c) => c.pending > 0); i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const counts = await own.store.countDeliveries();
      io.out(`carebridge's outbox delivered ${counts.reduce((n, c) => n + c.delivered, 0)} changes (${counts.reduce((n, c) => n + c.pending, 0)} waiting, ${counts.reduce((n, c) => n + c.dead, 0)} dead); the peers' FHIR servers now hold:`);
      (await peerLines(own.peers)).forEach((line) => io.out(line));
    }
    io.out(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s: pushed, accepted, cancelled the others, pulled, scheduled, reported back, read.`);
    return 0;
  } catch (err) {
    if (err instanceof DemoError || err instanceof TypeError) {
      // TypeError: fetch failed (the server went away).
      io.err(`The demo stopped: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await own?.stop();
  }
}
