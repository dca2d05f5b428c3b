// Versioned, idempotent migrations: each runs once, in order, inside a transaction, and is
// recorded in schema_migrations. Both dialects share the shape; the few differences are here.
import { compartmentParamPairs } from '../../search/compartment.ts';
import { DEFAULT_REFERRAL_ENDS_ON } from '../access.ts';
import { AUDIT_REFERENCE_TERMS, AUDIT_TERM_FUNCTION } from './audit-terms.ts';
import type { Dialect, SqlExecutor } from './executor.ts';
import { OUTBOX_TOTALS_MIGRATION } from './outbox-retention-sql.ts';
import { SYNC_MIGRATION } from './sync-sql.ts';

export interface Migration {
  version: number;
  description: string;
  statements: (d: Dialect) => string[];
}

const bigint = (d: Dialect): string => (d === 'postgres' ? 'BIGINT' : 'INTEGER');
const real = (d: Dialect): string => (d === 'postgres' ? 'DOUBLE PRECISION' : 'REAL');

const INDEX_TABLES: [string, (d: Dialect) => string, string][] = [
  ['idx_token', () => 'system TEXT, value TEXT NOT NULL, text TEXT', 'code, value'],
  ['idx_string', () => 'normalized TEXT NOT NULL, exact TEXT NOT NULL', 'code, normalized'],
  ['idx_reference', () => 'target_type TEXT, target_id TEXT, url TEXT', 'code, target_id'],
  ['idx_date', (d) => `start_ms ${bigint(d)} NOT NULL, end_ms ${bigint(d)} NOT NULL`, 'code, start_ms'],
  ['idx_number', (d) => `value ${real(d)} NOT NULL, system TEXT, unit TEXT`, 'code, value'],
  ['idx_uri', () => 'value TEXT NOT NULL', 'code, value'],
];

/** The six kinds of search index row (src/search/index-rows.ts), each with its table pair. */
export type IndexKind = 'token' | 'string' | 'reference' | 'date' | 'number' | 'uri';

/** The kind of each table of INDEX_TABLES, in order. */
const INDEX_KINDS: IndexKind[] = ['token', 'string', 'reference', 'date', 'number', 'uri'];

/**
 * Types whose index rows live in the audit_* tables instead of idx_*: the audit trail writes one
 * AuditEvent per request, ~20–35 index rows each, and in idx_* every row costs three or four
 * b-tree inserts (the rowid table, the owner index, the lookup index). An audit_* table is
 * clustered by (resource_id, code, k) — AuditEvent ids are time-ordered, so that b-tree is only ever
 * appended to — with one lookup index: two inserts a row. Measured on a 10k-patient file, the
 * rows of a search's AuditEvent (10 patients, 32 rows): 536 → 285 µs and 154 → 50 kB written.
 * Same columns as idx_*, so every search condition reads them unchanged.
 */
export const AUDIT_INDEXED_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

/** The table holding the `kind` index rows of `resourceType`. */
export function indexTable(resourceType: string, kind: IndexKind): string {
  return `${AUDIT_INDEXED_TYPES.has(resourceType) ? 'audit' : 'idx'}_${kind}`;
}

/** Every index table of `resourceType` (an update or delete replaces its rows in each). */
export function indexTables(resourceType: string): string[] {
  return INDEX_KINDS.map((kind) => indexTable(resourceType, kind));
}

/**
 * The widest date row of an audit type's instant that a date search seeks by its start alone: an
 * instant has at least second precision (date-range.ts), so its row ends ≤ 999 ms after it starts.
 */
export const AUDIT_INSTANT_SPAN_MS = 999;

/** The rows that are wider (stored without validation), indexed by their end in audit_date_wide. A literal: a partial index serves only a query that repeats its predicate. */
export function auditWideDate(alias?: string): string {
  const column = (name: string): string => (alias ? `${alias}.${name}` : name);
  return `${column('end_ms')} - ${column('start_ms')} > ${AUDIT_INSTANT_SPAN_MS}`;
}

/** Lookup index columns of each audit_* table (after its `code`): the drive form's seek, covering. SQLite drops the reference one (migration 14, audit-terms.ts). */
const AUDIT_LOOKUP: Record<IndexKind, string> = {
  token: 'value, resource_id, resource_type',
  string: 'normalized, resource_id, resource_type',
  reference: 'target_id, target_type, resource_id, resource_type',
  date: 'start_ms, resource_id, resource_type',
  number: 'value, resource_id, resource_type',
  uri: 'value, resource_id, resource_type',
};

function auditIndexStatements(d: Dialect): string[] {
  const audited = [...AUDIT_INDEXED_TYPES].map((t) => `'${t}'`).join(', ');
  return INDEX_TABLES.flatMap(([idx, columns], i) => {
    const kind = INDEX_KINDS[i] as IndexKind;
    const table = `audit_${kind}`;
    const names = columns(d)
      .split(', ')
      .map((c) => c.split(' ')[0])
      .join(', ');
    return [
      // k numbers a resource's rows of this table (0, 1, …): the key needs no nullable column.
      // code in the key: a search checks one event's rows of one parameter. Keyed (resource_id, k),
      // PostgreSQL without statistics checked through the lookup index instead, reading every row
      // of the code for each event (AuditEvent?date=ge… at 5,000 events: 17 ms → 1.4 s).
      `CREATE TABLE ${table} (resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, k INTEGER NOT NULL, code TEXT NOT NULL, ${columns(d)}, PRIMARY KEY (resource_id, code, k))${d === 'sqlite' ? ' WITHOUT ROWID' : ''}`,
      `CREATE INDEX ${table}_lookup ON ${table} (code, ${AUDIT_LOOKUP[kind]})`,
      ...(kind === 'reference' ? [`CREATE INDEX ${table}_url ON ${table} (code, url, resource_id) WHERE url IS NOT NULL`] : []),
      // The rows already written move over; k from their order in the old table.
      `INSERT INTO ${table} (resource_type, resource_id, k, code, ${names}) SELECT resource_type, resource_id, ROW_NUMBER() OVER (PARTITION BY resource_id) - 1, code, ${names} FROM ${idx} WHERE resource_type IN (${audited})`,
      `DELETE FROM ${idx} WHERE resource_type IN (${audited})`,
    ];
  });
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'resources, history, conditional-create keys, search index',
    statements: (d) => [
      // Current version of every resource (deleted ones too, for 410 Gone). `ordinal` is set at
      // creation and never changes: search pages by it, so paging is stable under updates.
      `CREATE TABLE resources (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version_id INTEGER NOT NULL,
        ordinal ${bigint(d)} NOT NULL,
        seq ${bigint(d)} NOT NULL,
        last_updated TEXT NOT NULL,
        last_updated_ms ${bigint(d)} NOT NULL,
        deleted INTEGER NOT NULL,
        content TEXT,
        PRIMARY KEY (resource_type, id)
      )`,
      'CREATE INDEX resources_ordinal ON resources (resource_type, ordinal)',
      'CREATE INDEX resources_last_updated ON resources (resource_type, last_updated_ms)',
      // Every version ever written; seq orders all writes of the whole store.
      d === 'postgres'
        ? `CREATE TABLE resource_history (seq BIGSERIAL PRIMARY KEY, resource_type TEXT NOT NULL, id TEXT NOT NULL, version_id INTEGER NOT NULL, last_updated TEXT NOT NULL, deleted INTEGER NOT NULL, content TEXT, UNIQUE (resource_type, id, version_id))`
        : `CREATE TABLE resource_history (seq INTEGER PRIMARY KEY AUTOINCREMENT, resource_type TEXT NOT NULL, id TEXT NOT NULL, version_id INTEGER NOT NULL, last_updated TEXT NOT NULL, deleted INTEGER NOT NULL, content TEXT, UNIQUE (resource_type, id, version_id))`,
      'CREATE INDEX resource_history_type ON resource_history (resource_type, seq)',
      // Conditional create: the If-None-Exist query is a unique key, so two identical requests
      // at the same instant cannot both create (search-then-insert would).
      'CREATE TABLE conditional_keys (resource_type TEXT NOT NULL, query TEXT NOT NULL, resource_id TEXT NOT NULL, PRIMARY KEY (resource_type, query))',
      ...INDEX_TABLES.flatMap(([table, columns, lookup]) => [
        `CREATE TABLE ${table} (resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, code TEXT NOT NULL, ${columns(d)})`,
        `CREATE INDEX ${table}_lookup ON ${table} (resource_type, ${lookup})`,
        `CREATE INDEX ${table}_owner ON ${table} (resource_type, resource_id)`,
      ]),
      // _revinclude and chained search look references up by their target.
      'CREATE INDEX idx_reference_target ON idx_reference (target_type, target_id, code)',
    ],
  },
  {
    version: 2,
    description: 'covering search indexes: lookups end in resource_id, owners in code',
    statements: () => [
      // A search's driving filter reads only the index (value → resource ids); the other filters
      // check their rows by (resource_type, resource_id, code).
      ...INDEX_TABLES.flatMap(([table, , lookup]) => [
        `DROP INDEX ${table}_lookup`,
        `DROP INDEX ${table}_owner`,
        `CREATE INDEX ${table}_lookup ON ${table} (resource_type, ${table === 'idx_reference' ? 'code, target_type, target_id' : lookup}, resource_id)`,
        `CREATE INDEX ${table}_owner ON ${table} (resource_type, resource_id, code)`,
      ]),
      'DROP INDEX idx_reference_target',
      'CREATE INDEX idx_reference_target ON idx_reference (target_type, target_id, resource_type, code, resource_id)',
    ],
  },
  {
    version: 3,
    description: 'reference owner index covers its targets (_include)',
    statements: () => [
      // _include reads the targets of a page's references: with the targets in the owner index
      // it is a few index lookups, and SQLite's planner picks it over the code index.
      'DROP INDEX idx_reference_owner',
      'CREATE INDEX idx_reference_owner ON idx_reference (resource_type, resource_id, code, target_type, target_id)',
    ],
  },
  {
    version: 4,
    description: 'token lookup index seeks by resource_id right after the value',
    statements: () => [
      // Without statistics (a freshly loaded table) PostgreSQL checks "status=requested" for each
      // candidate through the lookup index: with resource_id right after the value that is a
      // seek, not a scan of every requested Task (105 ms → 1 ms per search at 10k patients).
      'DROP INDEX idx_token_lookup',
      'CREATE INDEX idx_token_lookup ON idx_token (resource_type, code, value, resource_id, system)',
    ],
  },
  {
    version: 5,
    description: 'authentication: used client-assertion ids, the token-signing key',
    statements: (d) => [
      // SMART Backend Services: a client assertion's jti is used once, across every worker and
      // instance; rows live until the assertion expires.
      `CREATE TABLE auth_assertions (client_id TEXT NOT NULL, jti TEXT NOT NULL, expires_ms ${bigint(d)} NOT NULL, PRIMARY KEY (client_id, jti))`,
      'CREATE INDEX auth_assertions_expires ON auth_assertions (expires_ms)',
      // The key carebridge signs its access tokens with, when none is given in the environment.
      'CREATE TABLE auth_keys (name TEXT PRIMARY KEY, key_json TEXT NOT NULL, created_at TEXT NOT NULL)',
    ],
  },
  {
    version: 6,
    description: 'tenancy: authoring organization, Patient compartments, access grants',
    statements: () => {
      const pairs = compartmentParamPairs();
      return [
        // The organization of the client that created the resource ("system|value"); kept on update.
        'ALTER TABLE resources ADD COLUMN author_org TEXT',
        'CREATE TABLE resource_patients (resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, patient_id TEXT NOT NULL, PRIMARY KEY (resource_type, resource_id, patient_id))',
        'CREATE INDEX resource_patients_patient ON resource_patients (patient_id)',
        // org_key: an organization key "system|value" (author) or "Organization/<id>" (referral, care-team).
        'CREATE TABLE access_grants (source_type TEXT NOT NULL, source_id TEXT NOT NULL, org_key TEXT NOT NULL, kind TEXT NOT NULL, patient_id TEXT NOT NULL, PRIMARY KEY (source_type, source_id, org_key, kind, patient_id))',
        'CREATE INDEX access_grants_patient ON access_grants (patient_id, org_key, kind)',
        // Data stored before tenancy: compartments and referral grants from the index rows.
        `INSERT INTO resource_patients (resource_type, resource_id, patient_id)
           SELECT DISTINCT x.resource_type, x.resource_id, x.target_id FROM idx_reference x
           WHERE x.target_type = 'Patient' AND x.target_id IS NOT NULL AND (${pairs.map(([type, code]) => `(x.resource_type = '${type}' AND x.code = '${code}')`).join(' OR ')})
           ON CONFLICT DO NOTHING`,
        "INSERT INTO resource_patients (resource_type, resource_id, patient_id) SELECT resource_type, id, id FROM resources WHERE resource_type = 'Patient' ON CONFLICT DO NOTHING",
        `INSERT INTO access_grants (source_type, source_id, org_key, kind, patient_id)
           SELECT DISTINCT o.resource_type, o.resource_id, 'Organization/' || o.target_id, 'referral', p.patient_id
           FROM idx_reference o JOIN resource_patients p ON p.resource_type = o.resource_type AND p.resource_id = o.resource_id
           WHERE o.resource_type = 'Task' AND o.code = 'owner' AND o.target_type = 'Organization' AND o.target_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM idx_token s WHERE s.resource_type = 'Task' AND s.resource_id = o.resource_id AND s.code = 'status'
                             AND s.value IN (${DEFAULT_REFERRAL_ENDS_ON.map((v) => `'${v}'`).join(', ')}))
           ON CONFLICT DO NOTHING`,
      ];
    },
  },
  {
    version: 7,
    description: 'resources whose search index rows are written later (the audit trail)',
    statements: () => [
      // The audit trail stores each AuditEvent before the response leaves, and its ~18 index rows
      // in big batches afterwards (or when somebody searches AuditEvents, whichever comes first).
      'CREATE TABLE index_backlog (resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, PRIMARY KEY (resource_type, resource_id))',
    ],
  },
  {
    version: 8,
    description: 'the outbox: deliveries to peers and subscribers, written with the change',
    statements: (d) => [
      // One row per change per destination. Rows of one (destination, patient) are sent in id
      // order; a claim is a lease (lease_holder until lease_until_ms), so a dead sender's rows
      // go to another after the lease.
      `CREATE TABLE outbox (
        id ${d === 'postgres' ? 'BIGSERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT'},
        event_id TEXT NOT NULL UNIQUE,
        destination TEXT NOT NULL,
        patient_id TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        version_id INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_ms ${bigint(d)} NOT NULL,
        window_start_ms ${bigint(d)} NOT NULL,
        next_attempt_ms ${bigint(d)} NOT NULL,
        lease_holder TEXT,
        lease_until_ms ${bigint(d)},
        last_error TEXT,
        last_status INTEGER,
        done_ms ${bigint(d)}
      )`,
      // Partial indexes: the pending rows are few, the settled ones pile up.
      "CREATE INDEX outbox_pending_order ON outbox (destination, patient_id, id) WHERE state = 'pending'",
      "CREATE INDEX outbox_pending_due ON outbox (next_attempt_ms) WHERE state = 'pending'",
      "CREATE INDEX outbox_pending_resource ON outbox (destination, resource_type, resource_id) WHERE state = 'pending'",
      'CREATE INDEX outbox_by_state ON outbox (destination, state, id)',
    ],
  },
  {
    version: 10,
    description: 'numbered deliveries: subscription event numbers, their counters and heartbeats',
    statements: (d) => [
      // A subscription's events are numbered without gaps (eventsSinceSubscriptionStart): the
      // number is given in the change's transaction from the destination's counter row and kept
      // with the row, so $events can serve event N again later.
      `ALTER TABLE outbox ADD COLUMN event_number ${bigint(d)}`,
      'CREATE INDEX outbox_event_number ON outbox (destination, event_number) WHERE event_number IS NOT NULL',
      // One row per numbered destination: the last number given out, the last keep-alive claimed.
      `CREATE TABLE outbox_streams (destination TEXT PRIMARY KEY, last_number ${bigint(d)} NOT NULL, beat_ms ${bigint(d)})`,
    ],
  },
  {
    version: 11,
    description: 'one reference index by target instead of two',
    statements: () => [
      // Every reference row went into two b-trees keyed by its target (lookup and target): a
      // random page each, which is what a write's COMMIT pays for (an audited search's
      // AuditEvent with 20 patients: 64 → 37 WAL pages). Led by target_id, one index serves
      // searches by reference (typed or bare id), _revinclude and chains alike.
      'DROP INDEX idx_reference_lookup',
      'DROP INDEX idx_reference_target',
      'CREATE INDEX idx_reference_target ON idx_reference (target_id, target_type, resource_type, code, resource_id)',
      // Absolute and canonical references (few rows) are searched by their URL.
      'CREATE INDEX idx_reference_url ON idx_reference (resource_type, code, url, resource_id) WHERE url IS NOT NULL',
    ],
  },
  {
    version: 13,
    description: 'the audit trail indexed in audit_* tables (two b-trees a row instead of three or four)',
    statements: auditIndexStatements,
  },
  {
    version: 14,
    description: 'SQLite: the audit trail\'s references looked up through an FTS5 term index (audit-terms.ts) instead of a b-tree keyed by target',
    // PostgreSQL logs row changes, not whole pages: its lookup index stays.
    statements: (d) =>
      d === 'postgres'
        ? []
        : [
            `CREATE VIRTUAL TABLE ${AUDIT_REFERENCE_TERMS} USING fts5(terms, content='', detail='none', contentless_delete=1)`,
            `INSERT INTO ${AUDIT_REFERENCE_TERMS} (rowid, terms)
             SELECT r.ordinal, group_concat(DISTINCT ${AUDIT_TERM_FUNCTION}(x.code, x.target_id))
             FROM audit_reference x JOIN resources r ON r.resource_type = x.resource_type AND r.id = x.resource_id
             WHERE x.target_id IS NOT NULL GROUP BY r.ordinal`,
            'DROP INDEX audit_reference_lookup',
          ],
  },
  {
    version: 15,
    description: 'the audit trail\'s date rows wider than an instant, by their end (a date search seeks the rest by start)',
    // Empty in practice (carebridge records instants to the millisecond), so a write pays nothing
    // for it; it keeps a search by date exact for a row that spans more (see AUDIT_INSTANT_SPAN_MS).
    statements: () => [`CREATE INDEX audit_date_wide ON audit_date (code, end_ms, start_ms) WHERE ${auditWideDate()}`],
  },
];

// Migrations kept beside the SQL they serve (sync-sql.ts, outbox-retention-sql.ts), run in version order with the rest.
MIGRATIONS.push(SYNC_MIGRATION, OUTBOX_TOTALS_MIGRATION);
MIGRATIONS.sort((a, b) => a.version - b.version);

export async function currentSchemaVersion(db: SqlExecutor): Promise<number> {
  const rows = await db.all<{ version: number | string | null }>('SELECT MAX(version) AS version FROM schema_migrations');
  return Number(rows[0]?.version ?? 0);
}

/** What opening a store did to its schema (carebridge migrate prints it). */
export interface MigrationReport {
  /** The schema version found (0: a new database). */
  from: number;
  to: number;
  /** The migrations this run applied, in order (none when the schema was up to date). */
  applied: { version: number; description: string }[];
}

/** Runs the migrations not yet applied. `inTransaction` gives each one its own transaction. */
export async function migrate(db: SqlExecutor, inTransaction: (work: (tx: SqlExecutor) => Promise<void>) => Promise<void>): Promise<MigrationReport> {
  await db.run('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const from = await currentSchemaVersion(db);
  const applied: MigrationReport['applied'] = [];
  for (const migration of MIGRATIONS) {
    await inTransaction(async (tx) => {
      // Checked inside the transaction: two instances starting at once apply it once.
      const done = await tx.all('SELECT version FROM schema_migrations WHERE version = ?', [migration.version]);
      if (done.length > 0) {
        return;
      }
      for (const statement of migration.statements(tx.dialect)) {
        await tx.run(statement);
      }
      await tx.run('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)', [migration.version, migration.description, new Date().toISOString()]);
      applied.push({ version: migration.version, description: migration.description });
    });
  }
  return { from, to: await currentSchemaVersion(db), applied };
}
