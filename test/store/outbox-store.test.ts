import { sqliteStores } from '../support/sqlite.ts';
import { describeOutboxContract } from './outbox-contract.ts';
import { describeOutboxRetentionContract } from './outbox-retention-contract.ts';

const stores = sqliteStores('carebridge-outbox-store');

describeOutboxContract('SQLite', stores, stores.openAnother, false);

describeOutboxRetentionContract('SQLite', stores, stores.openAnother);
