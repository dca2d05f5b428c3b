// Untrusted JSON (HTTP bodies, files, peer responses) enters here: bounded in size and depth, and
// free of keys that could reach an object prototype, before anything else looks at it.
import { OperationOutcomeError, badRequest, unsupportedMediaType } from '@medplum/core';

/** Default; the HTTP server's limit is CAREBRIDGE_MAX_BODY_BYTES (config/limits.ts). 5 MB: a large transition plan with many tasks is ~50 kB; a Bundle of a whole stay stays far below. */
export const MAX_JSON_BYTES = 5 * 1024 * 1024;
/** Real FHIR resources nest ~10 levels; 64 leaves room and stops stack-exhaustion attacks. */
export const MAX_JSON_DEPTH = 64;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function refuse(message: string): never {
  throw new OperationOutcomeError(badRequest(message));
}

/** Depth of brackets outside strings, stopping as soon as it passes the limit. */
function checkDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) {
        i++;
      } else if (c === 0x22 /* " */) {
        inString = false;
      }
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > maxDepth) {
        refuse(`JSON is nested deeper than ${maxDepth} levels (at character ${i})`);
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
}

function checkKeys(root: unknown): void {
  const stack: { value: unknown; path: string }[] = [{ value: root, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: string };
    if (typeof value === 'string' && !value.isWellFormed()) {
      // A lone surrogate ("\ud800") is valid JSON but not text: it would corrupt what we store.
      refuse(`Invalid Unicode (a lone surrogate) in the string at ${path || '/'}`);
    }
    if (value === null || typeof value !== 'object') {
      continue;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, path: `${path}/${i}` }));
      continue;
    }
    for (const key of Object.keys(value)) {
      if (!key.isWellFormed()) {
        refuse(`Invalid Unicode (a lone surrogate) in a property name at ${path || '/'}`);
      }
      if (FORBIDDEN_KEYS.has(key)) {
        refuse(`Forbidden property name "${key}" at ${path || '/'}`);
      }
      stack.push({ value: (value as Record<string, unknown>)[key], path: `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}` });
    }
  }
}

/** Parses untrusted JSON text; throws OperationOutcomeError(400) with the reason and position. */
export function parseUntrustedJson(text: string, maxBytes = MAX_JSON_BYTES): unknown {
  if (Buffer.byteLength(text, 'utf8') > maxBytes) {
    refuse(`JSON is larger than ${maxBytes} bytes`);
  }
  if (text.trim() === '') {
    refuse('JSON is empty');
  }
  checkDepth(text, MAX_JSON_DEPTH);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    refuse(`Not valid JSON: ${(err as Error).message}`);
  }
  checkKeys(value);
  return value;
}

/** Same as parseUntrustedJson, for bytes: refuses invalid UTF-8 instead of replacing it. */
export function parseUntrustedJsonBytes(bytes: Uint8Array, maxBytes = MAX_JSON_BYTES): unknown {
  if (bytes.byteLength > maxBytes) {
    refuse(`JSON is larger than ${maxBytes} bytes`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    refuse('JSON is not valid UTF-8');
  }
  return parseUntrustedJson(text, maxBytes);
}

/** The media types carebridge reads as JSON: plain JSON and FHIR JSON (R4 or unversioned). */
const JSON_MEDIA_TYPES = new Set(['application/json', 'application/fhir+json']);

/**
 * Refuses a body whose Content-Type is not JSON (415, as Medplum's `unsupportedMediaType`), or
 * whose charset is not UTF-8; parameters such as fhirVersion=4.0 are accepted.
 */
export function checkJsonContentType(contentType: string | undefined): void {
  const [type = '', ...params] = (contentType ?? '').split(';').map((p) => p.trim().toLowerCase());
  if (!JSON_MEDIA_TYPES.has(type)) {
    throw new OperationOutcomeError({
      ...unsupportedMediaType,
      issue: [{ severity: 'error', code: 'not-supported', details: { text: `Unsupported media type "${type || '(none)'}": send application/fhir+json or application/json` } }],
    });
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new OperationOutcomeError({ ...unsupportedMediaType, issue: [{ severity: 'error', code: 'not-supported', details: { text: `Unsupported charset "${charset}": send UTF-8` } }] });
  }
}

/** An HTTP request body: Content-Type first, then the same limits as any untrusted JSON. */
export function parseJsonBody(contentType: string | undefined, body: Uint8Array, maxBytes = MAX_JSON_BYTES): unknown {
  checkJsonContentType(contentType);
  return parseUntrustedJsonBytes(body, maxBytes);
}
