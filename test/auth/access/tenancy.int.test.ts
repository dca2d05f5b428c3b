import { loadDefinitions } from '../../../src/validation/definitions.ts';
import { postgresStores } from '../../support/postgres.ts';
import { describeTenancy } from './tenancy-contract.ts';

const stores = postgresStores('carebridge_tenancy');

describeTenancy(
  'PostgreSQL',
  async () => {
    loadDefinitions();
    return stores.open();
  },
  stores.dispose,
);
