/**
 * The store's "Back up the deployed ledger now" button in a real Chromium: on a deployed SQLite store with
 * postings, it writes a copy to backups/ in the user directory and the editor says where and how many
 * postings it holds; the copy holds them.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { ARTIFACTS, Browser, EDITOR_SETTINGS, launchChromium, requireChromium } from '../support/chromium';
import { NodeRedProcess } from '../support/node-red-process';
import { userDirWithPackage } from '../support/tenant-example';
import { ledgerFlow, post, STORE_ID } from '../install/ledger-site';

describe('editor in Chromium: backing up the ledger from the store dialog', function () {
  this.timeout(120_000);
  let red: NodeRedProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let userDir: string;

  before(async function () {
    requireChromium(this);
    userDir = userDirWithPackage();
    red = await NodeRedProcess.start({
      userDir,
      flows: ledgerFlow({ backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' }),
      settings: EDITOR_SETTINGS,
    });
    for (const payload of [
      { command: 'open', accountId: 'T01', currency: 'GBP', reference: 'open-T01' },
      { command: 'topup', accountId: 'T01', amount: 2500, reference: 'pay-1' },
      { command: 'topup', accountId: 'T01', amount: 500, reference: 'pay-2' },
    ])
      assert.equal((await post(red.baseUrl, payload)).status, 200);
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.goto(`${red.baseUrl}/`);
    await page.waitForFunction(
      (id) =>
        typeof RED !== 'undefined' &&
        RED.nodes.node(id) !== null &&
        document.querySelector('#red-ui-palette-container-prepay .red-ui-palette-node') !== null,
      STORE_ID,
      { timeout: 60_000 },
    );
    await page.waitForTimeout(500);
  });

  after(async function () {
    await browser?.close();
    await red?.stop();
  });

  it('writes a copy to backups/ and says where', async function () {
    await page.evaluate((id) => RED.editor.editConfig('', 'prepay-store', id), STORE_ID);
    await page.waitForSelector('#prepay-store-backup', { state: 'visible' });
    await page.click('#prepay-store-backup');
    const notice = page.locator('.red-ui-notification', { hasText: 'Ledger backed up to' });
    await notice.waitFor({ timeout: 15_000 });
    const text = await notice.innerText();
    await page.screenshot({ path: join(ARTIFACTS, 'store-backup.png') });

    const written = readdirSync(join(userDir, 'backups'));
    assert.equal(written.length, 1);
    assert.match(written[0] as string, /^ledger-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z\.db$/);
    assert.ok(text.includes(join(userDir, 'backups', written[0] as string)), text);
    assert.match(text, /\(3 postings\)/);
    const copy = new Database(join(userDir, 'backups', written[0] as string), { readonly: true });
    try {
      const balance = copy.prepare("SELECT balance FROM accounts WHERE id = 'T01'").get() as {
        balance: number;
      };
      assert.equal(balance.balance, 3000);
    } finally {
      copy.close();
    }
    assert.deepEqual(browser?.offsite, []);
  });
});
