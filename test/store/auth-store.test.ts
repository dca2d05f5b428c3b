import { sqliteStores } from '../support/sqlite.ts';
import { describeAuthStoreContract } from './auth-store-contract.ts';

const stores = sqliteStores('carebridge-auth-store');

describeAuthStoreContract('SQLite', stores, stores.openAnother, false);
