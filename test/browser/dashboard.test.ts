/**
 * The reference site's operator dashboard (FlowFuse Dashboard 2.0) in a real Chromium: it renders every
 * tenant with the balance the ledger holds, and a desk top-up through its form credits the ledger once per
 * receipt number, the table following. Screenshots go to test/artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { freeUdpPort } from '../bacnet/support';
import { ARTIFACTS, Browser, EDITOR_SETTINGS, launchChromium, requireChromium } from '../support/chromium';
import { sleep, tempUserDir } from '../support/node-red-helper';
import { NodeRedProcess, onFreePorts } from '../support/node-red-process';

const root = join(__dirname, '..', '..', '..');

describe('operator dashboard of the reference site in Chromium', function () {
  this.timeout(180_000);
  let red: NodeRedProcess;
  let browser: Browser;
  let page: Page;
  let db: Database.Database;

  const ledgerBalance = (accountId: string): number =>
    Number(
      (db.prepare('SELECT balance FROM accounts WHERE id = ?').get(accountId) as { balance: number }).balance,
    );

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

  before(async function () {
    requireChromium(this);
    const userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    const flows = JSON.parse(readFileSync(join(root, 'flows', 'reference.json'), 'utf8')) as Array<{
      type: string;
      port?: unknown;
    }>;
    await onFreePorts(flows);
    red = await NodeRedProcess.start({
      userDir,
      flows,
      settings: EDITOR_SETTINGS,
      env: { PREPAY_BACNET_PORT: String(await freeUdpPort()) },
    });
    db = new Database(join(userDir, 'prepay-ledger.db'), { readonly: true, fileMustExist: true });
    browser = await launchChromium({ width: 1400, height: 1000 });
    page = await browser.context.newPage();
  });

  after(async function () {
    db?.close();
    await browser?.close();
    await red?.stop();
  });

  it('renders every tenant with the balance the ledger holds', async function () {
    await page.goto(`${red.baseUrl}/dashboard/site`);
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

  it('posts a desk top-up once per receipt number, and the table follows', async function () {
    const before = await showsLedgerBalance('T0008');
    const topUp = async (): Promise<void> => {
      await page.getByLabel('Account (T0042)').fill('T0008');
      await page.getByLabel('Amount (RM)').fill('100');
      await page.getByLabel('Receipt number').fill('R-2026-0042');
      await page.getByRole('button', { name: 'top up' }).click();
    };
    await topUp();
    await page.getByText('Posted RM 100.00 to T0008').waitFor({ timeout: 10_000 });
    const after = await showsLedgerBalance('T0008');
    const topups = db
      .prepare("SELECT amount FROM entries WHERE reference = 'desk:R-2026-0042' AND kind = 'topup'")
      .all() as Array<{ amount: number }>;
    assert.deepEqual(
      topups.map((t) => Number(t.amount)),
      [10_000],
    );
    // Charges may have posted meanwhile: the top-up itself is the 10,000 sen between them.
    assert.ok(after - before <= 10_000 && after - before > 9_000, `${before} -> ${after}`);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-after-topup.png'), fullPage: true });

    // The same receipt again: nothing is added.
    await topUp();
    await page.getByText('Receipt already posted').waitFor({ timeout: 10_000 });
    assert.equal(
      (
        db.prepare("SELECT COUNT(*) AS n FROM entries WHERE reference = 'desk:R-2026-0042'").get() as {
          n: number;
        }
      ).n,
      1,
    );
  });

  it('tried to reach nothing outside 127.0.0.1', function () {
    assert.deepEqual(browser.offsite, []);
  });
});
