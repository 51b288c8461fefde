/**
 * examples/tenant-api.json is built from its sources (flows/tenant/: the function nodes' code and the tenant
 * page) by scripts/build-tenant-example.mjs; the committed example must be what the sources build, and every
 * function node that needs crypto must load it in its Setup tab.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_WEBHOOK_SECRETS } from '../../dist/nodes/core/payments/demo-secrets';
import { collect, helper, sleep, startServer, stopServer, type NodeModule } from '../support/node-red-helper';
import { example, root, WEBHOOK_SECRET } from '../support/tenant-example';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const functionNode = require('@node-red/nodes/core/function/10-function.js') as NodeModule;

describe('tenant API example: built from its sources', function () {
  it('is what scripts/build-tenant-example.mjs builds from flows/tenant/', function () {
    const run = spawnSync(process.execPath, [join(root, 'scripts', 'build-tenant-example.mjs'), '--check'], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr || run.stdout);
  });

  it('serves the page source unchanged, and loads crypto wherever a function uses it', function () {
    const template = example.find((n) => n.type === 'template');
    assert.equal(template?.template, readFileSync(join(root, 'flows', 'tenant', 'tenant-page.html'), 'utf8'));
    assert.equal(template?.syntax, 'plain', 'the page is not a mustache template');
    for (const fn of example.filter((n) => n.type === 'function')) {
      const usesCrypto = /\bcrypto\./.test(String(fn.func));
      const loads = (fn.libs as Array<{ var: string; module: string }>).some((l) => l.var === 'crypto');
      assert.equal(loads, usesCrypto, String(fn.name));
    }
  });

  it('serves the webhook from the payment node itself, its body read under a 64 KiB limit', function () {
    const payment = example.find((n) => n.type === 'prepay-payment');
    assert.equal(payment?.url, '/prepay/payments/webhook');
    assert.equal(payment?.maxBody, 65536);
    // No http in node for the webhook: Node-RED would read any body whole before the node could refuse it.
    assert.equal(
      example.find((n) => n.type === 'http in' && n.url === '/prepay/payments/webhook'),
      undefined,
    );
  });

  it("prints the demo's tenant page link with this Node-RED's address (PREPAY_PUBLIC_URL), never a placeholder", async function () {
    const fn = example.find((n) => n.type === 'function' && n.name === 'DEMO tenant page link')!;
    const { z: _z, g: _g, x: _x, y: _y, ...node } = fn;
    const links = async (): Promise<string> => {
      await helper.load(
        [functionNode],
        [
          { ...node, wires: [['out']] },
          { id: 'out', type: 'helper' },
        ],
      );
      const out = collect(helper.getNode('out'));
      helper.getNode(fn.id).receive({ payload: { accountId: 'T0101', token: 'tok-123' } });
      await sleep(100);
      await helper.unload();
      return String(out[0]?.payload);
    };
    const before = process.env.PREPAY_PUBLIC_URL;
    await startServer();
    try {
      process.env.PREPAY_PUBLIC_URL = 'http://127.0.0.1:1880/';
      assert.equal(
        await links(),
        'tenant page for T0101: http://127.0.0.1:1880/prepay/tenant?account=T0101&token=tok-123',
      );
      delete process.env.PREPAY_PUBLIC_URL;
      const relative = await links();
      assert.match(relative, /: \/prepay\/tenant\?account=T0101&token=tok-123$/);
      assert.doesNotMatch(relative, /<node-red>/);
    } finally {
      if (before === undefined) delete process.env.PREPAY_PUBLIC_URL;
      else process.env.PREPAY_PUBLIC_URL = before;
      await stopServer();
    }
  });

  it('carries demo defaults only: no real secret in the group, demo mode read from outside the group first', function () {
    const group = example.find((n) => n.type === 'group') as unknown as { env: Array<{ name: string }> };
    const names = group.env.map((e) => e.name);
    assert.ok(!names.includes('PREPAY_WEBHOOK_SECRET'), 'the real secret comes from outside the group');
    assert.ok(DEMO_WEBHOOK_SECRETS.includes(WEBHOOK_SECRET), 'the node knows the demo secret as one');
    const payment = example.find((n) => n.type === 'prepay-payment');
    assert.equal(payment?.secretEnv, 'PREPAY_WEBHOOK_SECRET PREPAY_DEMO_WEBHOOK_SECRET');
    for (const fn of example.filter((n) => n.type === 'function' && /PREPAY_DEMO\b/.test(String(n.func)))) {
      assert.match(
        String(fn.func),
        /env\.get\(`\$parent\.\$\{name\}`\)/,
        `${String(fn.name)} reads outside first`,
      );
      assert.doesNotMatch(String(fn.func), /env\.get\('PREPAY_DEMO'\)/, String(fn.name));
    }
  });
});
