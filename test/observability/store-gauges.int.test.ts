// The store-backed gauges on PostgreSQL (store-gauges-contract.ts).
import { postgresStores } from '../support/postgres.ts';
import { describeStoreGauges } from './store-gauges-contract.ts';

describeStoreGauges('PostgreSQL', postgresStores('carebridge_gauges'));
