// What both SQL adapters share above their transactions: single writes run in a transaction of
// their own; reads of versions, history and the schema go to the read connection.
import type { Resource } from '@medplum/fhirtypes';
import type { CreateOptions, FhirStore, HistoryOptions, StoreTransaction, StoredVersion, UpdateOptions, WriteResult } from '../fhir-store.ts';
import type { SqlExecutor } from './executor.ts';
import { readHistory, readVersion } from './history-sql.ts';
import { currentSchemaVersion } from './schema.ts';
import { SqlTransaction } from './sql-transaction.ts';

export abstract class SqlStore extends SqlTransaction implements FhirStore {
  abstract readonly kind: FhirStore['kind'];
  protected readonly reader: SqlExecutor;

  protected constructor(reader: SqlExecutor, now?: () => Date) {
    super(reader, now);
    this.reader = reader;
  }

  abstract transaction<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;
  abstract claimAssertion(clientId: string, jti: string, expiresMs: number): Promise<boolean>;
  abstract claimSigningKey(name: string, candidate: string): Promise<string>;

  override create(resource: Resource, options?: CreateOptions): Promise<WriteResult> {
    return this.transaction((tx) => tx.create(resource, options));
  }

  override update(resource: Resource, options?: UpdateOptions): Promise<WriteResult> {
    return this.transaction((tx) => tx.update(resource, options));
  }

  override delete(resourceType: string, id: string): Promise<WriteResult | undefined> {
    return this.transaction((tx) => tx.delete(resourceType, id));
  }

  vread(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    return readVersion(this.reader, resourceType, id, versionId);
  }

  history(resourceType: string | undefined, id: string | undefined, options: HistoryOptions): Promise<StoredVersion[]> {
    return readHistory(this.reader, resourceType, id, options);
  }

  schemaVersion(): Promise<number> {
    return currentSchemaVersion(this.reader);
  }
}
