// Label values come from fixed sets: the route pattern as express matched it (with its mount, also
// when an error leaves the router), methods, destinations, FHIR issue types; and there are never
// more route values than the cap.
import { describe, expect, it } from '@jest/globals';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { destinationLabel, issueLabel, methodLabel, routeLabel, trackRoutePattern } from '../../src/observability/labels.ts';

/** Serves `app` on 127.0.0.1, GETs each path, and gives the route label of each. */
async function labelsOf(paths: string[], build: (app: express.Express) => void): Promise<string[]> {
  const seen: string[] = [];
  const app = express();
  app.use((req, res, next) => {
    trackRoutePattern(req);
    res.once('finish', () => seen.push(routeLabel(req)));
    next();
  });
  build(app);
  app.use((_req: Request, res: Response) => res.status(404).end());
  app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => res.status(500).end());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address();
  try {
    for (const path of paths) {
      await (await fetch(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}${path}`)).text();
    }
  } finally {
    server.close();
  }
  return seen;
}

describe('trackRoutePattern', () => {
  it('mount and route pattern; the mount lower-cased; a router root by its mount; nothing matched: "unmatched"', async () => {
    const labels = await labelsOf(['/fhir/Patient/MRN-123', '/FHIR/Patient/MRN-123', '/fhir/Subscription/$status', '/transitions', '/transitions/', '/fhir/a/b/c/d', '/x/MRN-123'], (app) => {
      const fhir = express.Router();
      fhir.get('/Subscription/\\$status', (_req, res) => res.end());
      fhir.get('/:type/:id', (_req, res) => res.end());
      const transitions = express.Router();
      transitions.get('/', (_req, res) => res.end());
      app.use('/fhir', fhir);
      app.use('/transitions', transitions);
    });
    expect(labels).toEqual(['/fhir/:type/:id', '/fhir/:type/:id', '/fhir/Subscription/$status', '/transitions', '/transitions', 'unmatched', 'unmatched']);
  });

  it('a handler whose error is answered outside its router still counts under its full pattern', async () => {
    const labels = await labelsOf(['/fhir/Patient/1', '/fhir/async/1'], (app) => {
      const fhir = express.Router();
      fhir.get('/async/:id', async () => {
        await Promise.resolve();
        throw new Error('failed');
      });
      fhir.get('/:type/:id', () => {
        throw new Error('failed');
      });
      app.use('/fhir', fhir);
    });
    expect(labels).toEqual(['/fhir/:type/:id', '/fhir/async/:id']);
  });

  it('never more than 200 distinct route values: the rest are "other"', async () => {
    const paths = Array.from({ length: 230 }, (_, i) => `/r${i}`);
    const labels = await labelsOf(paths, (app) => {
      for (const path of paths) {
        app.get(path, (_req, res) => res.end());
      }
    });
    // Earlier tests in this file used 4 values of the 200.
    expect(new Set(labels).size).toBe(197);
    expect(labels.slice(-34)).toEqual(Array(34).fill('other'));
  });
});

describe('label values', () => {
  it('methods: the HTTP ones, anything else "other"', () => {
    expect(['GET', 'POST', 'PATCH', 'PROPFIND', 'get'].map(methodLabel)).toEqual(['GET', 'POST', 'PATCH', 'other', 'other']);
  });

  it('destinations: a peer name as configured; every Subscription "subscriptions"; anything else "other"', () => {
    expect(['charm-city', 'subscription/8f14e45f-ceea-467a-9b2c-1c2e2f8a4b21', 'Charm City', 'a'.repeat(70)].map(destinationLabel)).toEqual(['charm-city', 'subscriptions', 'other', 'other']);
  });

  it('issue types: the first error\'s code when it is a FHIR IssueType, else "other"', () => {
    expect(issueLabel([{ severity: 'warning', code: 'informational' }, { severity: 'error', code: 'invariant' }])).toBe('invariant');
    expect(issueLabel([{ severity: 'fatal', code: 'structure' }])).toBe('structure');
    expect(issueLabel([{ severity: 'error', code: 'MRN-123' as 'invalid' }])).toBe('other');
    expect(issueLabel(undefined)).toBe('other');
  });
});
