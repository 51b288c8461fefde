/**
 * examples/tenant-api.json is built from its sources (flows/tenant/: the function nodes' code and the tenant
 * page) by scripts/build-tenant-example.mjs; the committed example must be what the sources build, and every
 * function node that needs crypto must load it in its Setup tab.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { example, root } from '../support/tenant-example';

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
});
