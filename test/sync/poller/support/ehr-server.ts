// A simulated hospital EHR for poller tests: a real FHIR server on 127.0.0.1, Medplum's FhirRouter
// over its MemoryRepository behind express. The router gives no paging links, so a search with
// _count gets a `next` link here (the same search from _offset), as a real server's would.
// `seed` writes a resource with the meta.lastUpdated the test chooses (the EHR's clock).
import { getStatus } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadDefinitions } from '../../../../src/validation/definitions.ts';

export interface EhrServer {
  /** The FHIR base URL ("http://127.0.0.1:<port>/fhir"). */
  baseUrl: string;
  repo: MemoryRepository;
  /** Every request's path and query below the base, in order. */
  requests: string[];
  /** Milliseconds each answer waits (a slow EHR). */
  delayMs: number;
  /** Creates or updates a resource as it is (its id), last updated at `lastUpdated`. */
  seed<T extends Resource>(resource: T, lastUpdated: string): Promise<T>;
  close(): Promise<void>;
}

function withNextLink(bundle: Bundle, baseUrl: string, url: URL): Bundle {
  const count = Number(url.searchParams.get('_count'));
  const offset = Number(url.searchParams.get('_offset') ?? 0);
  const link: NonNullable<Bundle['link']> = [{ relation: 'self', url: `${baseUrl}${url.pathname}${url.search}` }];
  if (count > 0 && bundle.total !== undefined && bundle.total > offset + count) {
    const next = new URL(url);
    next.searchParams.set('_offset', String(offset + count));
    link.push({ relation: 'next', url: `${baseUrl}${next.pathname}${next.search}` });
  }
  return { ...bundle, link };
}

export async function startEhrServer(): Promise<EhrServer> {
  // The router searches with the R4 search parameters carebridge loads (once per process).
  loadDefinitions();
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  const requests: string[] = [];
  const app = express();
  let baseUrl = '';
  let delayMs = 0;
  app.use(express.json({ type: ['application/json', 'application/fhir+json'] }));
  app.use('/fhir', async (req, res) => {
    const path = req.url.replace(/^\//, '');
    requests.push(path);
    if (delayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    const [outcome, resource] = await router.handleRequest({ method: req.method as 'GET', url: path, pathname: '', body: req.body, params: {}, query: {}, headers: req.headers }, repo);
    let body: Resource = resource ?? outcome;
    if (body.resourceType === 'Bundle' && body.type === 'searchset') {
      body = withNextLink(body, baseUrl, new URL(path, 'http://x/'));
    }
    res.status(getStatus(outcome)).type('application/fhir+json').send(JSON.stringify(body));
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  return {
    baseUrl,
    repo,
    requests,
    get delayMs() {
      return delayMs;
    },
    set delayMs(ms: number) {
      delayMs = ms;
    },
    seed: <T extends Resource>(resource: T, lastUpdated: string) =>
      repo.withSeeding(async () => (await repo.updateResource({ ...resource, meta: { ...resource.meta, versionId: String(Date.now()), lastUpdated } })) as T),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
