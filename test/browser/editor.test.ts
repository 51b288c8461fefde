/**
 * The Node-RED editor in a real Chromium: the palette shows the prepay category with every node the package
 * registers, and each node's edit dialog refuses an invalid value: the field is marked invalid while editing
 * and the node is invalid after Done. One row per registered node type (package.json `node-red.nodes`);
 * a type without a row fails the suite, so every new node gets one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, Browser, EDITOR_SETTINGS, launchChromium, requireChromium } from '../support/chromium';
import { NodeRedProcess } from '../support/node-red-process';
import { root, userDirWithPackage } from '../support/tenant-example';

interface Row {
  /** The property whose input gets the invalid value. */
  field: string;
  invalid: string;
  /** How the value is entered: typed into an input (default), chosen in a select, or set in a code editor. */
  kind?: 'input' | 'select' | 'code';
  /** For code editors: what the dialog says under the editor (a regular expression). */
  message?: string;
  /** Properties that make the field valid before the change (and the config nodes they name). */
  props?: Record<string, unknown>;
  extra?: Array<Record<string, unknown>>;
}

const ROWS: Record<string, Row> = {
  'prepay-tariff': {
    field: 'tariffs',
    invalid: '{"flat": {"currency": "GBP", "energy": {"type": "flat"',
    kind: 'code',
    message: 'not valid JSON',
  },
  'prepay-store': { field: 'file', invalid: '' },
  'prepay-ledger': { field: 'lowThreshold', invalid: '12.5' },
  'prepay-modbus': { field: 'port', invalid: 'five-oh-two' },
  'prepay-meter': { field: 'interval', invalid: '0' },
  'prepay-simulator': { field: 'tenants', invalid: '0' },
  'prepay-cutoff': { field: 'graceMinutes', invalid: '99999' },
  'prepay-influx': { field: 'database', invalid: 'no spaces allowed' },
  'prepay-history': {
    field: 'server',
    invalid: '_ADD_',
    kind: 'select',
    props: { server: 'browserinflux01' },
    extra: [
      { id: 'browserinflux01', type: 'prepay-influx', host: '127.0.0.1', port: 8086, database: 'prepay' },
    ],
  },
  'prepay-forecast': { field: 'nightsFrom', invalid: '25:00' },
  'prepay-payment': { field: 'tolerance', invalid: '0' },
  'prepay-bacnet-device': { field: 'address', invalid: '300.1.2.3' },
  'prepay-bacnet': { field: 'covMoney', invalid: '-1' },
  'prepay-bacnet-client': { field: 'apduTimeout', invalid: '50' },
  'prepay-loadcontrol': {
    field: 'priority',
    invalid: '6',
    props: { client: 'browserbacnetc01' },
    extra: [
      { id: 'browserbacnetc01', type: 'prepay-bacnet-client', device: '1234', address: '127.0.0.1:47808' },
    ],
  },
  'prepay-savings': { field: 'baselineFrom', invalid: '1 Dec 2026' },
};

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  'node-red': { nodes: Record<string, string> };
};
const TYPES = Object.keys(pkg['node-red'].nodes);

describe('editor in Chromium: palette and edit dialogs of every prepay node', function () {
  this.timeout(180_000);
  let red: NodeRedProcess;
  let browser: Browser;
  let page: Page;

  it('has a row of the invalid-value table for every registered node type', function () {
    const missing = TYPES.filter((type) => !ROWS[type]);
    assert.deepEqual(
      missing,
      [],
      `add a row to ROWS in test/browser/editor.test.ts for: ${missing.join(', ')}`,
    );
    assert.deepEqual(
      Object.keys(ROWS).filter((type) => !TYPES.includes(type)),
      [],
      'rows for types the package does not register',
    );
  });

  describe('in the browser', function () {
    before(async function () {
      requireChromium(this);
      red = await NodeRedProcess.start({
        userDir: userDirWithPackage(),
        flows: [{ id: 'browsertab000001', type: 'tab', label: 'browser test' }],
        settings: EDITOR_SETTINGS,
      });
      browser = await launchChromium();
      page = await browser.context.newPage();
      await page.goto(`${red.baseUrl}/`);
      await page.waitForFunction(
        (types) =>
          typeof RED !== 'undefined' &&
          types.every((t: string) => RED.nodes.getType(t)) &&
          document.querySelector('#red-ui-palette-container-prepay .red-ui-palette-node') !== null,
        TYPES,
        { timeout: 60_000 },
      );
    });

    afterEach(async function () {
      // Whatever happened, leave no dialog open for the next row.
      for (let i = 0; i < 5 && (await page.locator('.red-ui-tray').count()) > 0; i += 1) {
        await page.evaluate(() => RED.tray.close());
        await page.waitForTimeout(400);
      }
    });

    after(async function () {
      await browser?.close();
      await red?.stop();
    });

    it('shows the prepay category with every node; config nodes are registered as config nodes', async function () {
      const shown = await page.evaluate(() =>
        [...document.querySelectorAll('#red-ui-palette-container-prepay .red-ui-palette-node')].map((e) =>
          e.getAttribute('data-palette-type'),
        ),
      );
      const categories = await page.evaluate(
        (types) => Object.fromEntries(types.map((t: string) => [t, RED.nodes.getType(t).category])),
        TYPES,
      );
      for (const type of TYPES) {
        if (categories[type] === 'config') assert.ok(!shown.includes(type), `${type} is a config node`);
        else {
          assert.equal(categories[type], 'prepay', type);
          assert.ok(shown.includes(type), `${type} is in the palette`);
        }
      }
      assert.ok(shown.includes('prepay-payment'));
      await page
        .locator('#red-ui-palette-container-prepay')
        .screenshot({ path: join(ARTIFACTS, 'editor-palette.png') });
    });

    for (const type of TYPES) {
      it(`${type}: the dialog refuses ${JSON.stringify(ROWS[type]?.invalid ?? '?')} in ${ROWS[type]?.field ?? '?'}`, async function () {
        const row = ROWS[type];
        assert.ok(row, `no row for ${type}`);
        const id = `browsertest${String(TYPES.indexOf(type)).padStart(5, '0')}`;
        const config = await page.evaluate(
          ({ type, id, props, extra }) => {
            // As the palette does when a node is dragged in: every property at its default, then the row's own.
            const withDefaults = (n: Record<string, unknown>): Record<string, unknown> => ({
              ...Object.fromEntries(
                Object.entries(RED.nodes.getType(String(n.type)).defaults).map(([key, d]) => [
                  key,
                  JSON.parse(JSON.stringify(d.value)),
                ]),
              ),
              ...n,
            });
            const isConfig = RED.nodes.getType(type).category === 'config';
            const node = withDefaults({
              id,
              type,
              ...props,
              ...(isConfig ? {} : { x: 300, y: 80, z: RED.workspaces.active() }),
            });
            RED.nodes.import([...extra.map(withDefaults), node]);
            RED.view.redraw(true);
            if (isConfig) RED.editor.editConfig('', type, id);
            else RED.editor.edit(RED.nodes.node(id));
            return isConfig;
          },
          { type, id, props: row.props ?? {}, extra: row.extra ?? [] },
        );
        const selector = `#node-${config ? 'config-' : ''}input-${row.field}`;
        const kind = row.kind ?? 'input';
        await page.waitForSelector(kind === 'code' ? `${selector}-editor` : selector, { state: 'visible' });
        await page.waitForTimeout(300); // oneditprepare has run
        const marked = (): Promise<boolean> =>
          page.evaluate((sel) => $(sel).hasClass('input-error'), selector);

        if (kind === 'code') {
          await page.evaluate(
            ({ sel, value }) => {
              const container = document.querySelector(`${sel}-editor`);
              const editor = monaco.editor
                .getEditors()
                .find((e) => container?.contains(e.getContainerDomNode()));
              editor?.setValue(value);
            },
            { sel: selector, value: row.invalid },
          );
          await page.waitForFunction(
            ({ sel, message }) => new RegExp(message).test($(`${sel}-problems`).text()),
            { sel: selector, message: row.message ?? '.' },
          );
        } else {
          assert.equal(await marked(), false, `${row.field} is valid before the change`);
          if (kind === 'select') await page.selectOption(selector, row.invalid);
          else await page.fill(selector, row.invalid);
          await page.locator(selector).dispatchEvent('change');
          await page.waitForFunction((sel) => $(sel).hasClass('input-error'), selector, { timeout: 5000 });
          assert.equal(await marked(), true, `${row.field} is marked invalid`);
        }
        await page.screenshot({ path: join(ARTIFACTS, `editor-${type}.png`) });
        await page.click(config ? '#node-config-dialog-ok' : '#node-dialog-ok');
        await page.waitForFunction(() => $('.red-ui-tray').length === 0, null, { timeout: 10_000 });
        assert.equal(
          await page.evaluate((nodeId) => RED.nodes.node(nodeId).valid, id),
          false,
          `${type} is invalid`,
        );
        if (!config) {
          // The canvas shows the node's error badge (a red triangle).
          await page.waitForFunction(
            (nodeId) => {
              const badge = document.querySelector(`[id="${nodeId}"] .red-ui-flow-node-error`);
              return badge !== null && !badge.classList.contains('hide');
            },
            id,
            { timeout: 5000 },
          );
        }
      });
    }

    it('tried to reach nothing outside 127.0.0.1', function () {
      assert.deepEqual(browser.offsite, []);
    });
  });
});
