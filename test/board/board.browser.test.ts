// The board in a real browser against a real, seeded carebridge (support/seeded-server.ts): sign-in,
// the overdue filter, a transition's timeline by keyboard alone, an agency seeing only what was
// referred to it, an admin replaying a dead delivery — with axe-core finding nothing serious, no
// CSP violation, and screenshots in coverage/board/ to look at. `npm test` builds the board first.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { BOARD_DIST } from '../../src/api/board/static.ts';
import type { Browser } from './support/browser.ts';
import { CHROMIUM, launchBrowser, seriousViolations } from './support/browser.ts';
import type { SeededServer } from './support/seeded-server.ts';
import { PASSWORD, startSeededServer } from './support/seeded-server.ts';

const SCREENSHOTS = new URL('../../coverage/board/', import.meta.url);

let server: SeededServer;
let browser: Browser;
/** Every CSP report and page error of every page: the board must work inside its own policy. */
const problems: string[] = [];

beforeAll(async () => {
  if (!existsSync(`${BOARD_DIST}index.html`)) {
    throw new Error(`The board is not built (${BOARD_DIST}): run npm run build (npm test does it first)`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No browser at ${CHROMIUM}: apt-get install -y chromium (.ci/run does it)`);
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  [server, browser] = await Promise.all([startSeededServer(), launchBrowser()]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function openBoard(): Promise<Page> {
  const page = await browser.context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content.Security.Policy|Refused to/i.test(message.text())) {
      problems.push(message.text());
    }
  });
  page.on('pageerror', (error) => problems.push(error.message));
  const response = await page.goto(`${server.url}/board/`);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
  return page;
}

async function signIn(page: Page, username: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Password').press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Open transitions' }).waitFor();
  await page.getByRole('status').filter({ hasText: /^\d+ open transitions?\b/ }).waitFor();
}

/** Presses Tab until the focused element is `target` (at most 40 times): the page works without a mouse. */
async function tabTo(page: Page, target: string): Promise<void> {
  for (let i = 0; i < 40; i += 1) {
    if (await page.locator(target).evaluate((el) => el.matches(':focus'))) {
      return;
    }
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached ${target}`);
}

/** Looks again every 100 ms, for at most 10 s, until `check` holds (what the page shows after its own refresh). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    if (await check()) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the page never showed ${what}`);
}

async function expectAccessible(page: Page, what: string): Promise<void> {
  expect({ what, violations: await seriousViolations(page) }).toEqual({ what, violations: [] });
}

const patientNames = (page: Page): Promise<string[]> => page.locator('table.transitions tbody th a').allTextContents();

describe('the care-coordination board', () => {
  it('signs a discharge planner in; the overdue filter and a transition\'s timeline work from the keyboard', async () => {
    const page = await openBoard();
    await page.getByRole('heading', { name: 'Sign in to the care-coordination board' }).waitFor();
    await expectAccessible(page, 'sign-in');
    await page.getByLabel('Username').fill('planner');
    await page.getByLabel('Password').fill('not the password');
    await page.getByLabel('Password').press('Enter');
    await page.getByRole('alert').filter({ hasText: 'Unknown username or wrong password' }).waitFor();

    await signIn(page, 'planner');
    // Harbor Point's two transitions, newest first; never Riverside's.
    expect(await patientNames(page)).toEqual(['Rosa Delgado', 'Darnell Lewis Price']);
    const price = page.locator(`tr[data-transition="${server.price}"]`);
    await expect(price.locator('.badge-danger').filter({ hasText: 'Overdue' }).first().textContent()).resolves.toMatch(/⚠\s*Overdue/);
    await expect(price.textContent()).resolves.toMatch(/Oxygen saturation .* 86 % is below 90 %/);
    const delgado = page.locator(`tr[data-transition="${server.delgado}"]`);
    await expect(delgado.textContent()).resolves.toMatch(/No agency yet.*Chesapeake Home Care & Rehabilitation.*rejected.*No nurse free in ZIP 21205 this week/s);
    await expectAccessible(page, 'transitions list');
    await page.screenshot({ path: new URL('transitions.png', SCREENSHOTS).pathname, fullPage: true });

    // The "Overdue" filter, by keyboard: Tab to it, Space to check it.
    await tabTo(page, 'input[value="overdue"]');
    await page.keyboard.press('Space');
    await page.getByRole('status').filter({ hasText: '1 open transition (only: Overdue).' }).waitFor();
    expect(await patientNames(page)).toEqual(['Darnell Lewis Price']);
    // Unchecked, and "No agency yet" instead: Delgado alone.
    await page.keyboard.press('Space');
    await page.getByRole('status').filter({ hasText: '2 open transitions.' }).waitFor();
    await tabTo(page, 'input[value="no-agency"]');
    await page.keyboard.press('Space');
    await page.getByRole('status').filter({ hasText: '1 open transition (only: No agency yet).' }).waitFor();
    expect(await patientNames(page)).toEqual(['Rosa Delgado']);
    await page.keyboard.press('Space');
    await page.getByRole('status').filter({ hasText: '2 open transitions.' }).waitFor();

    // Tab to Price's row and open it with Enter.
    await tabTo(page, `tr[data-transition="${server.price}"] a`);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Darnell Lewis Price' }).waitFor();
    expect(await page.locator('#page-title').evaluate((el) => el.matches(':focus'))).toBe(true);
    const timeline = page.locator('ol.timeline');
    await expect(timeline.locator('li.deadline-overdue').textContent()).resolves.toMatch(/due Wed, Dec 2, 2026.*Overdue.*Interactive contact within 2 business days/s);
    await expect(timeline.locator('li').first().textContent()).resolves.toMatch(/Mon, Nov 30, 2026, 16:20.*Discharged/s);
    await expect(page.getByRole('region', { name: 'Referrals' }).textContent()).resolves.toMatch(/Charm City Home Health.*cancelled.*placed with another agency.*Inner Harbor Visiting Nurses.*accepted/s);
    await expect(page.getByRole('region', { name: 'Coverage' }).textContent()).resolves.toMatch(/Covered on the discharge day.*Eligibility of Chesapeake Community Health Plan.*has not been checked/s);
    await expectAccessible(page, 'transition detail');
    await page.screenshot({ path: new URL('transition-detail.png', SCREENSHOTS).pathname, fullPage: true });
    await page.close();
  });

  it('shows a home-care agency the transitions referred to it and nothing else', async () => {
    const page = await openBoard();
    await signIn(page, 'charm-city');
    // Price's referral to Charm City was cancelled when Inner Harbor accepted: its access ended.
    expect(await patientNames(page)).toEqual(['Rosa Delgado']);
    const referrals = await page.locator(`tr[data-transition="${server.delgado}"] td`).nth(1).textContent();
    expect(referrals).toContain('Charm City Home Health');
    expect(referrals).not.toContain('Chesapeake');
    expect(await page.getByRole('link', { name: 'Operations' }).count()).toBe(0);
    // Another tenant's transition by its address: not found, as if it did not exist.
    await page.goto(`${server.url}/board/#/transitions/${server.price}`);
    await page.getByRole('heading', { level: 1, name: 'Transition not found' }).waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('your organization may not see it');
    await page.close();
  });

  it('lets an admin replay a dead delivery and see it leave the dead letters', async () => {
    // The peer takes deliveries again: a replayed one goes through.
    server.peer.answerWith([]);
    const page = await openBoard();
    await signIn(page, 'ops');
    await page.getByRole('link', { name: 'Operations' }).click();
    await page.getByRole('heading', { level: 1, name: 'Operations' }).waitFor();
    const peer = page.locator('tr[data-destination="charm-city"]');
    await peer.waitFor();
    const dead = Number(await peer.locator('.dead-count').textContent());
    expect(dead).toBeGreaterThan(0);
    await expect(peer.textContent()).resolves.toMatch(/Dead letters/);
    await expect(page.locator('tr[data-destination="riverside-ehr"]').textContent()).resolves.toMatch(/polled EHR.*Healthy/s);
    await expectAccessible(page, 'operations');
    await page.screenshot({ path: new URL('operations.png', SCREENSHOTS).pathname, fullPage: true });

    const first = page.locator('table.dead-letters tbody tr').first();
    const id = Number(await first.getAttribute('data-delivery'));
    await first.getByRole('button', { name: `Replay delivery ${id} to charm-city` }).click();
    await page.getByRole('status').filter({ hasText: `Replayed 1 delivery (delivery ${id})` }).waitFor();
    // Out of the dead letters at once (pending again), and sent: the view looks again by itself.
    await page.locator(`tr[data-delivery="${id}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    await until(async () => (await peer.locator('.pending-count').textContent()) === '0' && (await peer.locator('.dead-count').textContent()) === String(dead - 1), 'charm-city: nothing pending, one dead letter fewer');
    const [delivered] = await server.store.listDeliveries({ destination: 'charm-city', afterId: id - 1, limit: 1 });
    expect(delivered).toMatchObject({ id, state: 'delivered' });
    expect(server.peer.received.at(-1)?.status).toBe(200);
    await page.screenshot({ path: new URL('operations-after-replay.png', SCREENSHOTS).pathname, fullPage: true });
    await page.close();
  });

  it('ran inside its Content-Security-Policy without a page error', () => {
    expect(problems).toEqual([]);
  });
});
