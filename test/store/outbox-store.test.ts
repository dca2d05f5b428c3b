import { sqliteStores } from '../support/sqlite.ts';
import { describeOutboxContract } from './outbox-contract.ts';

const stores = sqliteStores('carebridge-outbox-store');

describeOutboxContract('SQLite', stores, stores.openAnother, false);
