// nock patches node's http for the whole test process: a suite imports it in beforeAll and restores
// it after, so the suites this Jest worker runs next talk to real servers. Use:
//   const nock = useNock();   …   nock()(PEER).get('/x').reply(503);
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import type Nock from 'nock';

export function useNock(): () => typeof Nock {
  let nock: typeof Nock | undefined;
  beforeAll(async () => {
    nock = (await import('nock')).default;
  });
  afterEach(() => {
    nock?.cleanAll();
  });
  afterAll(() => {
    nock?.restore();
  });
  return () => {
    if (!nock) {
      throw new Error('nock is loaded in beforeAll');
    }
    return nock;
  };
}
