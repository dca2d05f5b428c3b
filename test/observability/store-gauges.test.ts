// The store-backed gauges on SQLite (store-gauges-contract.ts).
import { sqliteStores } from '../support/sqlite.ts';
import { describeStoreGauges } from './store-gauges-contract.ts';

describeStoreGauges('SQLite', sqliteStores('carebridge-gauges'));
