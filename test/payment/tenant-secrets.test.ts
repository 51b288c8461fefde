/**
 * The tenant API example's secrets in a real Node-RED 4.1 process, set as an operator sets them: in the process
 * environment. A real webhook secret there takes effect (the demo's published one, which the example's group
 * carries as a default, no longer verifies anything); with demo mode switched off from outside the group, the
 * published demo secret is refused with a clear error and the demo provider is off.
 */
import assert from 'node:assert/strict';
import { sleep } from '../support/node-red-helper';
import { NodeRedProcess } from '../support/node-red-process';
import { exampleOnTab, issueToken, sign, startExample, WEBHOOK_SECRET } from '../support/tenant-example';

const SITE_SECRET = 'whsec_site_7f3a9c41d2e84b06a5c1';

function notification(paymentId: string, amount: number): string {
  return JSON.stringify({
    type: 'payment.succeeded',
    paymentId,
    accountId: 'T0101',
    amount,
    currency: 'GBP',
  });
}

async function deliver(red: NodeRedProcess, body: string, signature: string) {
  const response = await red.request('/prepay/payments/webhook', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-prepay-signature': signature },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function balance(red: NodeRedProcess, token: string): Promise<number> {
  const response = await red.request('/prepay/tenant/T0101/balance', {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { balance: number }).balance;
}

describe('tenant API example: secrets from the environment, in a real Node-RED', function () {
  this.timeout(120_000);

  it('verifies with PREPAY_WEBHOOK_SECRET from the process environment, not the demo default', async function () {
    const { red } = await startExample({}, { PREPAY_WEBHOOK_SECRET: SITE_SECRET });
    try {
      const { token } = await issueToken(red, 'T0101');
      const before = await balance(red, token);
      const forged = notification('pi_env_0001', 900);
      const demoSigned = await deliver(red, forged, sign(forged, WEBHOOK_SECRET));
      assert.deepEqual([demoSigned.status, demoSigned.body.error], [401, 'bad-signature']);
      const genuine = notification('pi_env_0002', 700);
      const siteSigned = await deliver(red, genuine, sign(genuine, SITE_SECRET));
      assert.equal(siteSigned.status, 200, JSON.stringify(siteSigned.body));
      // The demo provider signs as the node verifies: with the site's secret.
      const topup = await red.request('/prepay/tenant/T0101/topup', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({ amount: 300, currency: 'GBP' }),
      });
      assert.equal(topup.status, 200);
      assert.equal(await balance(red, token), before + 700 + 300);
    } finally {
      await red.stop();
    }
  });

  it('refuses the published demo secret once demo mode is switched off outside the group, and says why', async function () {
    // The site ran the demo, then its operator switches demo mode off in the process environment.
    const { red: demo, userDir } = await startExample();
    const { token } = await issueToken(demo, 'T0101');
    const before = await balance(demo, token);
    await demo.stop();
    const red = await NodeRedProcess.start({ userDir, flows: exampleOnTab(), env: { PREPAY_DEMO: 'off' } });
    try {
      const body = notification('pi_env_0003', 900);
      const answer = await deliver(red, body, sign(body, WEBHOOK_SECRET));
      assert.deepEqual([answer.status, answer.body.error], [500, 'demo-secret']);
      assert.match(String(answer.body.message), /published demo secret and PREPAY_DEMO is not "on"/);
      assert.match(
        red.log(),
        /\[error\] \[prepay-payment[^\]]*\] prepay-payment: the webhook secret in environment variable PREPAY_DEMO_WEBHOOK_SECRET is the published demo secret/,
      );
      const topup = await red.request('/prepay/tenant/T0101/topup', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ amount: 300, currency: 'GBP' }),
      });
      assert.equal(topup.status, 404, 'the demo provider is off');
      assert.equal(await balance(red, token), before);
      await sleep(3000); // past the demo's link inject: nothing issued or printed outside demo mode
      assert.doesNotMatch(red.log(), /DEMO:|tenant page/);
    } finally {
      await red.stop();
    }
  });
});
