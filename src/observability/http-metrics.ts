// Counts and times every request by route pattern, method and status, and counts the requests
// refused as invalid (400/422 with an OperationOutcome) by the type of their first error issue.
// The refusals are counted where they leave — every router writes its answer with res.end — which
// is the one point all of them pass: plan schema and rules (/transitions), R4 and profile
// validation (/fhir), the workflow's rules, malformed requests.
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { issueLabel, methodLabel, routeLabel, trackRoutePattern } from './labels.ts';
import type { Metrics } from './metrics.ts';

/** A refusal larger than this is not parsed for its issue type (counted as "other"): bounded work per answer. */
const MAX_PARSED_BYTES = 1024 * 1024;

function refusalIssue(chunk: unknown): string {
  const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) && chunk.length <= MAX_PARSED_BYTES ? chunk.toString('utf8') : undefined;
  if (text === undefined || text.length > MAX_PARSED_BYTES) {
    return issueLabel(undefined);
  }
  try {
    const body = JSON.parse(text) as Partial<OperationOutcome> | null;
    return body?.resourceType === 'OperationOutcome' ? issueLabel(body.issue) : '';
  } catch {
    return '';
  }
}

export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    trackRoutePattern(req);
    const method = methodLabel(req.method);
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    res.end = ((...args: unknown[]) => {
      if (!res.writableEnded && (res.statusCode === 400 || res.statusCode === 422)) {
        const issue = refusalIssue(args[0]);
        // '': not an OperationOutcome (the token endpoint's OAuth errors): not a validation failure.
        if (issue !== '') {
          metrics.validationFailures.inc({ method, route: routeLabel(req), status: String(res.statusCode), issue });
        }
      }
      return end(...args);
    }) as Response['end'];
    res.once('close', () => {
      const labels = { method, route: routeLabel(req), status: res.writableFinished ? String(res.statusCode) : 'aborted' };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}
