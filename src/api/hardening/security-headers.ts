// Security headers on every answer (helmet), set for a JSON API: nothing is ever rendered, framed,
// sniffed or shared with another origin, and the browser is told to use HTTPS only.
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

const options = {
  // A FHIR JSON API serves no HTML, scripts or styles: the strictest policy breaks nothing
  // (OWASP REST Security: "default-src 'none'; frame-ancestors 'none'").
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  // One year, subdomains included; no `preload`: that is a decision for the domain's owner.
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  xFrameOptions: { action: 'deny' },
  xContentTypeOptions: true,
  referrerPolicy: { policy: 'no-referrer' },
  // Another site's page may not load our answers (CORS, when configured, is the only way in).
  crossOriginResourcePolicy: { policy: 'same-origin' },
  crossOriginOpenerPolicy: { policy: 'same-origin' },
  crossOriginEmbedderPolicy: false,
  xPoweredBy: true,
} as const;

/** Middleware: the helmet headers, set before anything else answers (errors and 404s too). */
export function securityHeaders(): ReturnType<typeof helmet> {
  return helmet(options);
}

/**
 * The same headers as raw `Name: value` lines, for answers written to the socket before express
 * runs (Node's clientError path). Computed once by letting helmet set them on a recorder.
 */
export function securityHeaderLines(): string[] {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => headers.set(name, String(value)),
    removeHeader: (name: string) => headers.delete(name),
  };
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => undefined);
  return [...headers].map(([name, value]) => `${name}: ${value}`);
}
