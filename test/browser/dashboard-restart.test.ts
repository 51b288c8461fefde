/**
 * The reference site survives its own restart, as its operators see it in Chromium: four supplies forced off
 * before a clean stop (SIGTERM) and before a kill (SIGKILL) are still counted and shown off after each start, every
 * tenant's days left is shown at once (the ledger sends every account's state as soon as it starts, through the
 * forecast), no meter is flagged suspect and no alarm flood follows (the simulated meters keep their registers,
 * the cutoff relays know every account at once). A desk top-up leaves the form clean for the next one.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, Browser, EDITOR_SETTINGS, launchChromium, requireChromium } from '../support/chromium';
import { sleep } from '../support/node-red-helper';
import { startReferenceSite, type RunningSite } from '../support/reference-site';

const OFF = ['E-T0002', 'E-T0003', 'E-T0004', 'E-T0005'];

describe('reference site dashboard across a restart and a kill, in Chromium', function () {
  this.timeout(360_000);
  let site: RunningSite;
  let browser: Browser;
  let page: Page;
  let forecastId: string;

  /** What the site's debug nodes for meter events and supply alarms logged since this Node-RED started. */
  const logged = (debug: string): string[] =>
    site.red
      .log()
      .split('\n')
      .filter((line) => line.includes(`[debug:${debug}]`))
      .map((line) => line.slice(line.indexOf(`[debug:${debug}]`) + debug.length + 9).trim());

  async function until<T>(
    what: string,
    probe: () => Promise<T>,
    ok: (value: T) => boolean,
    tries = 120,
  ): Promise<T> {
    let last: T | undefined;
    for (let attempt = 0; attempt < tries; attempt += 1) {
      last = await probe();
      if (ok(last)) return last;
      await sleep(250);
    }
    assert.fail(`${what}: last ${JSON.stringify(last)}`);
  }

  /** The tenants table's rows as the operator sees them (every page of the table, through its search). */
  async function rows(accounts: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    const search = page.getByLabel('Search').first();
    for (const accountId of accounts) {
      await search.fill(accountId);
      const cells = page.locator('tbody tr', { hasText: accountId }).first().locator('td');
      await cells.first().waitFor({ timeout: 15_000 });
      out.set(
        accountId,
        (await cells.allTextContents()).map((c) => c.trim()),
      );
    }
    await search.fill('');
    return out;
  }

  const summary = async (): Promise<string> =>
    (await page
      .getByText(/120 tenants:/)
      .first()
      .textContent({ timeout: 30_000 })) ?? '';

  async function openDashboard(): Promise<void> {
    await page.goto(`${site.red.baseUrl}/dashboard/site`);
    await page.getByText('120 tenants:').waitFor({ timeout: 30_000 });
  }

  /** Gives every tenant a week of use in the forecast's history (as a site a week old has), Node-RED stopped. */
  function seedForecast(): void {
    const from = new Date(Date.now() - 8 * 86_400_000).toISOString().slice(0, 10);
    const accounts: Record<string, unknown> = {};
    for (let n = 1; n <= 120; n += 1)
      // RM 40 a day (sub-minor units: 10,000 to the sen), every day of the week before.
      accounts[`T${String(n).padStart(4, '0')}`] = {
        history: { from, amount: Array(8).fill(400_000_000), carbonKg: Array(8).fill(0) },
        armed: true,
      };
    writeFileSync(
      join(site.userDir, 'prepay', `forecast-${forecastId}.json`),
      JSON.stringify({ version: 2, accounts }),
    );
  }

  async function checkAfterStart(how: string): Promise<void> {
    await openDashboard();
    await until(`${how}: the summary counts the 4 supplies off`, summary, (text) =>
      / 4 supplies off/.test(text),
    );
    const shown = await until(
      `${how}: every row with its state, days left and supply`,
      () => rows(['T0001', ...OFF.map((m) => m.slice(2)), 'T0042', 'T0120']),
      (r) => [...r.values()].every((cells) => cells[3] !== '' && /^\d+\.\d$/.test(cells[4] ?? '')),
      20,
    );
    for (const meterId of OFF)
      assert.equal(shown.get(meterId.slice(2))?.[5], 'OFF', `${how}: ${meterId} shown off`);
    assert.equal(shown.get('T0001')?.[5], 'on');
    // Three polls of every meter (every 15 s) after the start: none suspect, no comm loss, no policy hold.
    await sleep(40_000);
    const events = logged('meter events');
    assert.deepEqual(
      events.filter((type) => /suspect|rollover|replaced|comm-loss/.test(type)),
      [],
      `${how}: ${events.join(', ')}`,
    );
    const alarms = logged('supply alarms');
    assert.deepEqual(
      alarms.filter((type) => /policy|relay/.test(type)),
      [],
      `${how}: ${alarms.join(', ')}`,
    );
    const table = await page.locator('tbody').nth(1).textContent();
    assert.doesNotMatch(String(table), /suspect|comm-loss|policy/, `${how}: the alarm board`);
    await page.screenshot({ path: join(ARTIFACTS, `dashboard-after-${how}.png`), fullPage: true });
  }

  before(async function () {
    requireChromium(this);
    site = await startReferenceSite(EDITOR_SETTINGS, (flows) => {
      // Meter events and supply alarms to the log too, by type, to count them.
      for (const node of flows)
        if (node.type === 'debug' && (node.name === 'meter events' || node.name === 'supply alarms'))
          Object.assign(node, { console: true, complete: 'payload.type', targetType: 'msg' });
      forecastId = String(flows.find((n) => n.type === 'prepay-forecast')!.id);
    });
    browser = await launchChromium({ width: 1400, height: 1100 });
    page = await browser.context.newPage();
  });

  after(async function () {
    await browser?.close();
    await site?.stop();
  });

  it('before the restart: four supplies forced off, a desk top-up leaves the form clean', async function () {
    await until(
      'every relay of the overridden tenants taken in hand',
      async () =>
        site.db
          .prepare(
            `SELECT count(DISTINCT meter_id) AS n FROM supply_audit WHERE kind = 'command' AND action = 'connect' AND meter_id IN (${OFF.map(() => '?').join(', ')})`,
          )
          .get(...OFF) as { n: number },
      (row) => Number(row.n) === OFF.length,
    );
    for (const meterId of OFF) {
      const response = await site.red.request('/prepay-cutoff/override', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ meterId, action: 'disconnect', reason: 'shop fit-out', minutes: 24 * 60 }),
      });
      assert.equal(response.status, 200, await response.text());
    }
    // Each override answered on the supply alarms: what the site logs is what the checks below count.
    await until(
      'four override answers logged',
      () => Promise.resolve(logged('supply alarms').filter((type) => type === 'override').length),
      (n) => n === OFF.length,
    );
    await openDashboard();
    await until('the summary counts the 4 supplies off', summary, (text) => / 4 supplies off/.test(text));

    await page.getByLabel('Account (T0042)').fill('T0042');
    await page.getByLabel('Amount (RM)').fill('25');
    await page.getByLabel('Receipt number').fill('R-RESTART-1');
    await page.getByRole('button', { name: 'top up' }).click();
    await page.getByText('Posted RM 25.00 to T0042').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-topup-form.png'), fullPage: true });
    // The next top-up starts with an empty amount and receipt, and no field is flagged.
    const form = await page
      .locator('form', { has: page.getByLabel('Receipt number') })
      .evaluate((f) =>
        [...f.querySelectorAll('input')].map((i) => [
          i.value,
          i.matches(':invalid') || i.matches(':user-invalid'),
        ]),
      );
    assert.deepEqual(form, [
      ['T0042', false],
      ['', false],
      ['', false],
    ]);
    assert.equal(await page.getByText(/required/i).count(), 0);
  });

  it('after a clean stop and start: the supplies off, days left, no suspect meter, no alarm flood', async function () {
    await site.restart('stop');
    // ... stopped and started again, a week into the site's life: the forecast has a week of every tenant.
    await site.red.stop();
    seedForecast();
    await site.restart('stop');
    await checkAfterStart('restart');
  });

  it('after a kill (SIGKILL) and start: the same', async function () {
    await site.restart('kill');
    await checkAfterStart('kill');
  });
});
