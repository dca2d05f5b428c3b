import { sqliteStores } from '../support/sqlite.ts';
import { describeSyncStoreContract } from './sync-store-contract.ts';

const stores = sqliteStores('carebridge-sync-store');

describeSyncStoreContract('SQLite', stores, stores.openAnother, false);
