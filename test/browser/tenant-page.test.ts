/**
 * The tenant page of the tenant API example in a real Chromium on a phone-sized screen: it shows the
 * ledger's balance, state, last top-up and a chart of the demo's 14 days of usage; a top-up through its button
 * (the demo provider, the signed webhook, the ledger) changes the balance by exactly the amount, on the page
 * and in the ledger; the access token leaves the address bar. Screenshots go to test/artifacts/.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, Browser, launchChromium, requireChromium } from '../support/chromium';
import { NodeRedProcess } from '../support/node-red-process';
import { issueToken, startExample } from '../support/tenant-example';

/** "1,358.42 GBP" -> 135842: the page's figure read back as integer minor units, without float maths. */
function minorOf(text: string): number {
  const match = /^(-?)([\d,]+)\.(\d{2}) GBP$/.exec(text.trim());
  assert.ok(match, `not a GBP amount: "${text}"`);
  const value = Number(`${match[2]!.replace(/,/g, '')}${match[3]}`);
  return match[1] ? -value : value;
}

describe('tenant page in Chromium', function () {
  this.timeout(120_000);
  let red: NodeRedProcess;
  let browser: Browser;
  let page: Page;
  /** T0101's access token, issued over the admin API as an operator does. */
  let token = '';

  async function apiBalance(): Promise<number> {
    const response = await red.request('/prepay/tenant/T0101/balance', {
      headers: { authorization: `Bearer ${token}` },
    });
    return ((await response.json()) as { balance: number }).balance;
  }

  before(async function () {
    requireChromium(this);
    ({ red } = await startExample());
    ({ token } = await issueToken(red, 'T0101'));
    browser = await launchChromium({ width: 390, height: 844 });
    page = await browser.context.newPage();
  });

  after(async function () {
    await browser?.close();
    await red?.stop();
  });

  it('shows the balance, state, last top-up and the usage chart from the ledger', async function () {
    const expected = await apiBalance();
    await page.goto(`${red.baseUrl}/prepay/tenant?account=T0101&token=${token}`);
    await page.waitForSelector('[data-testid="chart"] rect[data-utility]');
    assert.equal(minorOf((await page.textContent('[data-testid="balance"]')) ?? ''), expected);
    assert.equal(minorOf((await page.textContent('[data-testid="available"]')) ?? ''), expected);
    assert.equal(await page.textContent('[data-testid="state"]'), 'ok');
    assert.match((await page.textContent('[data-testid="last-topup"]')) ?? '', /^Last top-up 50\.00 GBP on /);
    assert.equal(await page.title(), 'Prepaid account');
    assert.equal(await page.textContent('#title'), 'Prepaid account T0101');
    // A bar per utility per day, each as tall as its share of the day's cost.
    const bars = await page.$$eval('[data-testid="chart"] rect[data-utility]', (rects) =>
      rects.map((r) => ({
        utility: r.getAttribute('data-utility'),
        cost: Number(r.getAttribute('data-cost')),
        height: Number(r.getAttribute('height')),
      })),
    );
    assert.equal(bars.length, 28);
    assert.deepEqual([...new Set(bars.map((b) => b.utility))].sort(), ['electricity', 'water']);
    const [a, b] = [bars[0]!, bars[1]!];
    assert.ok(
      Math.abs(a.height / b.height - a.cost / b.cost) < 1e-6,
      'bar heights are in proportion to cost',
    );
    assert.equal(
      bars.reduce((sum, bar) => sum + bar.cost, 0),
      5000 - expected,
      'the chart accounts for every charge since the opening credit',
    );
    assert.ok(!page.url().includes('token='), 'the token left the address bar');
    await page.screenshot({ path: join(ARTIFACTS, 'tenant-page.png'), fullPage: true });
  });

  it('tops up through the button and shows a balance higher by exactly the amount', async function () {
    const before = await apiBalance();
    await page.fill('[data-testid="topup-amount"]', '12.34');
    await page.click('[data-testid="topup-button"]');
    await page.waitForFunction(() =>
      /^Paid /.test(document.querySelector('[data-testid="message"]')?.textContent ?? ''),
    );
    const shown = minorOf((await page.textContent('[data-testid="balance"]')) ?? '');
    assert.equal(shown, before + 1234);
    assert.equal(await apiBalance(), before + 1234, 'the ledger holds the same figure');
    assert.match(
      (await page.textContent('[data-testid="message"]')) ?? '',
      /^Paid 12\.34 GBP\. New balance /,
    );
    assert.match((await page.textContent('[data-testid="last-topup"]')) ?? '', /^Last top-up 12\.34 GBP/);
    await page.screenshot({ path: join(ARTIFACTS, 'tenant-page-after-topup.png'), fullPage: true });

    // A figure the currency cannot hold, or no amount at all, is refused with the server's reason; nothing is paid.
    for (const [typed, reason] of [
      ['1.005', /^Top-up failed: amount: 1\.005 has more than 2 decimals: amounts are not rounded$/],
      ['1e300', /^Top-up failed: amount: "1e300" is not an amount/],
    ] as const) {
      await page.fill('[data-testid="topup-amount"]', typed);
      await page.click('[data-testid="topup-button"]');
      await page.waitForFunction(
        (source) =>
          new RegExp(source).test(document.querySelector('[data-testid="message"]')?.textContent ?? ''),
        reason.source,
      );
    }
    assert.equal(await apiBalance(), before + 1234);
  });

  it('keeps the session after a reload, and asks for a token without one', async function () {
    await page.reload();
    await page.waitForSelector('[data-testid="chart"] rect[data-utility]');
    assert.equal(minorOf((await page.textContent('[data-testid="balance"]')) ?? ''), await apiBalance());
    const fresh = await browser.context.newPage(); // a new tab: its sessionStorage is empty
    await fresh.goto(`${red.baseUrl}/prepay/tenant`);
    await fresh.waitForSelector('#login:not(.hidden)');
    await fresh.close();
  });

  it('tried to reach nothing outside 127.0.0.1', function () {
    assert.deepEqual(browser.offsite, []);
  });
});
