/**
 * The reference site that `npm start` runs (flows/reference.json), in a real Node-RED 4.1 on a fast clock:
 * the simulated building's meters are polled over Modbus TCP, priced and posted, so every tenant's
 * prepaid balance goes down from its top-up and its relay is taken in hand by the cutoff node, without an
 * error in the log.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { NodeRedProcess } from '../support/node-red-process';
import { sleep, tempUserDir } from '../support/node-red-helper';

const root = join(__dirname, '..', '..', '..');

describe('reference site (npm start)', function () {
  this.timeout(120_000);

  it('polls the simulated building and charges every tenant', async function () {
    const userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    const flows = JSON.parse(readFileSync(join(root, 'flows', 'reference.json'), 'utf8')) as unknown[];
    const red = await NodeRedProcess.start({ userDir, flows, settings: { prepay: { speed: 60 } } });
    try {
      await sleep(12_000); // twelve building minutes: several polls of every meter
      const errors = red
        .log()
        .split('\n')
        .filter((line) => /\[error\]/.test(line));
      assert.deepEqual(errors, []);
    } finally {
      await red.stop();
    }
    // The forecast learnt every tenant's spend from the charges.
    const forecast = JSON.parse(
      readFileSync(join(userDir, 'prepay', 'forecast-c0ffee000000001c.json'), 'utf8'),
    ) as {
      accounts: Record<string, unknown>;
    };
    assert.equal(Object.keys(forecast.accounts).length, 8);
    const store = new SqliteLedgerStore({ path: join(userDir, 'prepay-ledger.db') });
    await store.init();
    try {
      for (let tenant = 1; tenant <= 8; tenant += 1) {
        const accountId = `T${String(tenant).padStart(4, '0')}`;
        const account = await store.getAccount(accountId);
        assert.ok(account, `${accountId} opened`);
        assert.ok(account.balance < 50_000n, `${accountId} was charged (balance ${account.balance})`);
      }
      // The cutoff relay took each tenant's supply in hand (connected, confirmed by read-back) and audited it.
      const audit = await store.auditLog();
      const connected = new Set(
        audit.filter((r) => r.kind === 'command' && r.action === 'connect').map((r) => r.meterId),
      );
      assert.equal(connected.size, 8, JSON.stringify(audit.map((r) => [r.meterId, r.action, r.reason])));
    } finally {
      await store.close();
    }
  });
});
