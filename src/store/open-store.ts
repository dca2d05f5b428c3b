// Opens the store CAREBRIDGE_DATABASE names: sqlite:<path> (default sqlite:./data/carebridge.db)
// or a postgres:// URL.
import type { FhirStore } from './fhir-store.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import type { MigrationReport } from './sql/schema.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';

export const DEFAULT_DATABASE = 'sqlite:./data/carebridge.db';

/** An open store, and what opening it migrated. */
export type OpenedStore = FhirStore & { readonly migration: MigrationReport };

export async function openStore(database: string = DEFAULT_DATABASE): Promise<OpenedStore> {
  if (database.startsWith('sqlite:')) {
    return SqliteStore.open(database.slice('sqlite:'.length));
  }
  if (database.startsWith('postgres://') || database.startsWith('postgresql://')) {
    const url = new URL(database);
    const schema = url.searchParams.get('schema') ?? undefined;
    url.searchParams.delete('schema');
    return PostgresStore.open(url.toString(), { schema });
  }
  throw new Error(`CAREBRIDGE_DATABASE must be sqlite:<path> or a postgres:// URL, not "${database.replace(/\/\/[^@]*@/, '//***@')}"`);
}
