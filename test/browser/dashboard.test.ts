/**
 * The reference site's operator dashboard (FlowFuse Dashboard 2.0) in a real Chromium, with Node-RED's
 * adminAuth on and the pages and the dashboard's socket behind the site password (httpNodeAuth and the site
 * guide's socket guard, which a browser that opened the page passes): it renders every tenant with the balance the ledger holds; its operator panel refuses to act
 * before a login (the server answers 401, nothing is posted); once an operator has logged in on the panel, a
 * desk top-up credits the ledger once per receipt number with the operator's name, the table following, and a
 * supply override switches the relay, audited with the operator's name. Without adminAuth the panel says that
 * no operator login is configured. Screenshots go to test/artifacts/.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, Browser, EDITOR_SETTINGS, launchChromium, requireChromium } from '../support/chromium';
import { sleep } from '../support/node-red-helper';
import {
  adminAuth,
  httpNodeAuth,
  OPERATOR,
  startReferenceSite,
  type RunningSite,
} from '../support/reference-site';

/** The site's page password (httpNodeAuth), which the browser is asked for. */
const SITE_PAGE = { username: 'site', password: 'site-page-2026' };

describe('operator dashboard of the reference site in Chromium', function () {
  this.timeout(180_000);
  let site: RunningSite;
  let browser: Browser;
  let page: Page;

  const ledgerBalance = (accountId: string): number =>
    Number(
      (site.db.prepare('SELECT balance FROM accounts WHERE id = ?').get(accountId) as { balance: number })
        .balance,
    );
  const deskTopups = (reference: string): Array<{ amount: number; meta: string }> =>
    site.db
      .prepare("SELECT amount, meta FROM entries WHERE reference = ? AND kind = 'topup'")
      .all(reference) as Array<{ amount: number; meta: string }>;

  /** The tenants table's row for one account, as the operator sees it (after searching for it). */
  async function row(accountId: string): Promise<string[]> {
    const search = page.getByLabel('Search').first();
    await search.fill(accountId);
    const cells = page.locator('tbody tr', { hasText: accountId }).first().locator('td');
    await cells.first().waitFor();
    return cells.allTextContents();
  }

  /** Waits until the table shows the ledger's balance for the account (charges post every 5 minutes). */
  async function showsLedgerBalance(accountId: string): Promise<number> {
    let shown = '';
    for (let attempt = 0; attempt < 40; attempt += 1) {
      shown = (await row(accountId))[1] ?? '';
      const expected = ledgerBalance(accountId);
      if (shown.trim() === (expected / 100).toFixed(2)) return expected;
      await sleep(250);
    }
    assert.fail(`${accountId}: the dashboard shows ${shown}, the ledger holds ${ledgerBalance(accountId)}`);
  }

  async function topUp(account: string, amount: string, receipt: string): Promise<void> {
    await page.getByLabel('Account (T0042)').fill(account);
    await page.getByLabel('Amount (RM)').fill(amount);
    await page.getByLabel('Receipt number').fill(receipt);
    await page.getByRole('button', { name: 'top up' }).click();
  }

  before(async function () {
    requireChromium(this);
    // As a site runs it: the pages and the dashboard's socket behind the site password (httpNodeAuth and the
    // guide's socket guard), the operator actions behind an operator login.
    site = await startReferenceSite({
      ...EDITOR_SETTINGS,
      adminAuth: adminAuth([OPERATOR]),
      httpNodeAuth: httpNodeAuth(SITE_PAGE.username, SITE_PAGE.password),
    });
    browser = await launchChromium({ width: 1400, height: 1100 }, SITE_PAGE);
    page = await browser.context.newPage();
  });

  after(async function () {
    await browser?.close();
    await site?.stop();
  });

  it('renders every tenant with the balance the ledger holds', async function () {
    await page.goto(`${site.red.baseUrl}/dashboard/site`);
    await page.getByText('120 tenants:').waitFor({ timeout: 30_000 });
    for (const accountId of ['T0001', 'T0008', 'T0042', 'T0120']) await showsLedgerBalance(accountId);
    const cells = await row('T0008');
    assert.deepEqual(
      [cells[0], cells[5]].map((c) => c?.trim()),
      ['T0008', 'on'],
    );
    await page.getByLabel('Search').first().fill('');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });

  it('refuses to act before an operator has logged in: the server answers, nothing is posted', async function () {
    await page.getByText('Log in as an operator to act.').waitFor({ timeout: 10_000 });
    await topUp('T0008', '100', 'R-2026-0041');
    await page.getByText('Refused: log in as an operator first.').waitFor({ timeout: 10_000 });
    assert.deepEqual(deskTopups('desk:R-2026-0041'), []);
  });

  it("posts a desk top-up once per receipt number with the operator's name, and the table follows", async function () {
    await page.getByLabel('Operator').fill(OPERATOR.username);
    await page.getByLabel('Password').fill(OPERATOR.password);
    await page.getByRole('button', { name: 'log in' }).click();
    await page.getByText(`Logged in as ${OPERATOR.username}.`).waitFor({ timeout: 10_000 });
    const before = await showsLedgerBalance('T0008');
    await topUp('T0008', '100', 'R-2026-0042');
    await page.getByText(`Posted RM 100.00 to T0008 by ${OPERATOR.username}`).waitFor({ timeout: 10_000 });
    const after = await showsLedgerBalance('T0008');
    assert.deepEqual(
      deskTopups('desk:R-2026-0042').map((t) => [
        Number(t.amount),
        (JSON.parse(t.meta) as { by: string }).by,
      ]),
      [[10_000, OPERATOR.username]],
    );
    // Charges may have posted meanwhile: the top-up itself is the 10,000 sen between them.
    assert.ok(after - before <= 10_000 && after - before > 9_000, `${before} -> ${after}`);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-after-topup.png'), fullPage: true });

    // The same receipt again: nothing is added.
    await topUp('T0008', '100', 'R-2026-0042');
    await page.getByText('Receipt already posted').waitFor({ timeout: 10_000 });
    assert.equal(deskTopups('desk:R-2026-0042').length, 1);

    // Amounts are read exactly as typed: half a sen or an exponent is refused with its reason, never posted.
    for (const [typed, receipt, reason] of [
      ['0.005', 'R-2026-0043', 'Amount: 0.005 has more than 2 decimals: amounts are not rounded'],
      [
        '1e300',
        'R-2026-0044',
        'Amount: "1e300" is not an amount: write digits and at most 2 decimals, such as 12.50',
      ],
    ]) {
      await topUp('T0008', typed, receipt);
      await page.getByText(reason).waitFor({ timeout: 10_000 });
      assert.deepEqual(deskTopups(`desk:${receipt}`), []);
    }
  });

  it("overrides a supply with the operator's name in the audit log, and the table shows the relay off", async function () {
    await page.getByLabel('Meter (E-T0042)').fill('E-T0008');
    await page.getByLabel('Action').selectOption('disconnect');
    await page.getByLabel('Reason').fill('safety inspection');
    await page.getByLabel('Hours').fill('1');
    await page.getByRole('button', { name: 'send' }).click();
    await page
      .getByText(
        new RegExp(
          `Applied: E-T0008 force off until .* by ${OPERATOR.username}; relay at .* confirmed "disconnect"`,
        ),
      )
      .waitFor({ timeout: 15_000 });
    const audit = site.db
      .prepare(
        "SELECT kind, action, actor FROM supply_audit WHERE meter_id = 'E-T0008' AND actor IS NOT NULL ORDER BY at",
      )
      .all() as Array<{ kind: string; action: string; actor: string }>;
    assert.deepEqual(
      audit.map((r) => [r.kind, r.action, r.actor]),
      [
        ['override', 'disconnect', OPERATOR.username],
        ['command', 'disconnect', OPERATOR.username],
      ],
    );
    for (let attempt = 0; attempt < 40 && (await row('T0008'))[5]?.trim() !== 'OFF'; attempt += 1)
      await sleep(250);
    assert.equal((await row('T0008'))[5]?.trim(), 'OFF');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-after-override.png'), fullPage: true });
    // An override the server refuses says why.
    await page.getByLabel('Meter (E-T0042)').fill('W-T0008');
    await page.getByRole('button', { name: 'send' }).click();
    await page.getByText('Refused: no cutoff node owns meter "W-T0008"').waitFor({ timeout: 10_000 });
  });

  it('tried to reach nothing outside 127.0.0.1', function () {
    assert.deepEqual(browser.offsite, []);
  });
});

describe('operator dashboard without adminAuth in Chromium', function () {
  this.timeout(180_000);
  let site: RunningSite;
  let browser: Browser;

  before(async function () {
    requireChromium(this);
    site = await startReferenceSite(EDITOR_SETTINGS);
    browser = await launchChromium({ width: 1400, height: 1100 });
  });

  after(async function () {
    await browser?.close();
    await site?.stop();
  });

  it('says that no operator login is configured, and records actions as unauthenticated', async function () {
    const page = await browser.context.newPage();
    await page.goto(`${site.red.baseUrl}/dashboard/site`);
    await page.getByText('No operator login configured (adminAuth is off)').waitFor({ timeout: 30_000 });
    assert.equal(await page.getByLabel('Password').count(), 0);
    await page.getByLabel('Account (T0042)').fill('T0003');
    await page.getByLabel('Amount (RM)').fill('12.5');
    await page.getByLabel('Receipt number').fill('R-OPEN-1');
    await page.getByRole('button', { name: 'top up' }).click();
    await page
      .getByText('Posted RM 12.50 to T0003 by unauthenticated (adminAuth off)')
      .waitFor({ timeout: 10_000 });
    const meta = site.db
      .prepare("SELECT amount, meta FROM entries WHERE reference = 'desk:R-OPEN-1'")
      .get() as { amount: number; meta: string };
    assert.deepEqual(
      [Number(meta.amount), JSON.parse(meta.meta).by],
      [1250, 'unauthenticated (adminAuth off)'],
    );
    assert.deepEqual(browser.offsite, []);
  });
});
