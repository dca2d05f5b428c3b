// Structured JSON logs (winston). Messages are constant strings; details go in fields. Whatever a
// caller passes, fields that can carry patient data are redacted before anything is written.
import winston from 'winston';

/** Field names that may hold patient data (FHIR element names and common synonyms). */
const PHI_KEYS = new Set([
  'name', 'given', 'family', 'birthdate', 'birthDate', 'address', 'line', 'city', 'postalcode', 'postalCode',
  'telecom', 'phone', 'email', 'identifier', 'value', 'mrn', 'memberid', 'memberId', 'subscriberId', 'ssn',
  'text', 'note', 'description', 'body', 'resource', 'content', 'patient',
]);

const REDACTED = '[redacted]';
/** Logged objects are cut at this depth: logs are not a dump. */
const MAX_DEPTH = 6;

export function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') {
    return value;
  }
  if (depth >= MAX_DEPTH) {
    return '[truncated]';
  }
  if (Array.isArray(value)) {
    return value.map((v) => redact(v, depth + 1));
  }
  if (value instanceof Error) {
    // An error's message may quote the input that caused it (a value a database refused):
    // keep what says where and what kind, never the message.
    const code = (value as { code?: unknown }).code;
    const frames = (value.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).slice(0, 8).map((line) => line.trim());
    return { name: value.name, ...(typeof code === 'string' ? { code } : {}), frames };
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = PHI_KEYS.has(key) || PHI_KEYS.has(key.toLowerCase()) ? REDACTED : redact(v, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message' || key === 'timestamp') {
      continue;
    }
    info[key] = PHI_KEYS.has(key) || PHI_KEYS.has(key.toLowerCase()) ? REDACTED : redact(info[key]);
  }
  return info;
});

export type Logger = winston.Logger;

export function createLogger(options: { level?: string; stream?: NodeJS.WritableStream } = {}): Logger {
  return winston.createLogger({
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    format: winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.json()),
    transports: [options.stream ? new winston.transports.Stream({ stream: options.stream }) : new winston.transports.Console()],
  });
}
