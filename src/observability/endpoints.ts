// What the HTTP app serves for operators — /readyz, /metrics — and the request metrics
// middleware, put together from the parts in this folder so app.ts mounts three things.
import type { RequestHandler } from 'express';
import type { AuditObserver } from '../audit/audit-event.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import type { AuthService } from '../auth/auth-service.ts';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import { httpMetrics } from './http-metrics.ts';
import { Metrics } from './metrics.ts';
import { metricsRoute } from './metrics-route.ts';
import { readinessRoute } from './readiness.ts';
import { StoreGauges } from './store-gauges.ts';

export interface ObservabilityOptions {
  /** The process's metrics (default: a registry of this app's own, without Node's process metrics). */
  metrics?: Metrics;
  /** The process-local part of /metrics (default: `metrics` itself; in a cluster worker, the primary's sum). */
  processMetricsText?: () => Promise<string>;
  /** CAREBRIDGE_METRICS_TOKEN: a static bearer token that may read /metrics. */
  metricsToken?: string;
  /** True while the server drains on shutdown: /readyz answers 503. */
  draining?: () => boolean;
  /** Whether the FHIR definitions are loaded (default: looked up in @medplum/core). */
  definitionsLoaded?: () => boolean;
  /** The names of the peers carebridge pushes to: their outbox gauges read 0 before their first delivery. */
  peers?: readonly string[];
}

export interface ObservabilityEndpoints {
  metrics: Metrics;
  httpMetrics: RequestHandler;
  readiness: RequestHandler;
  metricsRoute: RequestHandler[];
}

export function observabilityEndpoints(
  options: ObservabilityOptions & { store: FhirStore; auth: AuthService; logger: Logger; publicUrl?: string; auditTrail: AuditTrail; observer: AuditObserver },
): ObservabilityEndpoints {
  const metrics = options.metrics ?? new Metrics();
  const processText = options.processMetricsText ?? (() => metrics.registry.metrics());
  const gauges = new StoreGauges({ store: options.store, logger: options.logger, peers: options.peers });
  return {
    metrics,
    httpMetrics: httpMetrics(metrics),
    readiness: readinessRoute({ store: options.store, logger: options.logger, draining: options.draining, definitionsLoaded: options.definitionsLoaded }),
    metricsRoute: metricsRoute({
      auth: options.auth,
      publicUrl: options.publicUrl,
      logger: options.logger,
      token: options.metricsToken,
      auditTrail: options.auditTrail,
      observer: options.observer,
      // The process's (or the cluster's) counters, then the store's gauges, computed once.
      text: async () => {
        const [own, store] = await Promise.all([processText(), gauges.metrics()]);
        return own.endsWith('\n') || own === '' ? own + store : `${own}\n${store}`;
      },
    }),
  };
}
