/**
 * The reference site that `npm start` runs (flows/reference.json), in a real Node-RED 4.1 on a fast clock:
 * the simulated commercial centre's meters are polled over Modbus TCP on both gateways, priced and posted,
 * so every tenant's prepaid balance goes down from its opening credit and every electricity relay is taken
 * in hand by the cutoff nodes, without an error in the log. The flow file is what the generator writes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { NodeRedProcess, onFreePorts } from '../support/node-red-process';
import { sleep, tempUserDir } from '../support/node-red-helper';
import { freeUdpPort } from '../bacnet/support';

const root = join(__dirname, '..', '..', '..');

interface FlowNode {
  id: string;
  type: string;
  port?: number;
  table?: Array<{ meterId: string; accountId: string; utility: string; relay: string }>;
  payload?: string;
}

describe('reference site (npm start)', function () {
  this.timeout(180_000);

  it('is the flow scripts/reference-site.mjs writes from the simulator plan', function () {
    const out = execFileSync(process.execPath, [join(root, 'scripts', 'reference-site.mjs'), '--check'], {
      encoding: 'utf8',
    });
    assert.match(out, /up to date/);
  });

  it('polls the simulated building and charges every tenant on every utility', async function () {
    const userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    const flows = JSON.parse(readFileSync(join(root, 'flows', 'reference.json'), 'utf8')) as FlowNode[];
    const meters = flows.filter((n) => n.type === 'prepay-meter').flatMap((n) => n.table ?? []);
    const relays = flows.filter((n) => n.type === 'prepay-cutoff').flatMap((n) => n.table ?? []);
    const tenants = new Set(meters.map((m) => m.accountId));
    assert.equal(tenants.size, 120);
    assert.deepEqual([...new Set(meters.map((m) => m.utility))].sort(), [
      'cooling',
      'electricity',
      'gas',
      'water',
    ]);
    assert.equal(relays.length, meters.filter((m) => m.utility === 'electricity').length);
    await onFreePorts(flows);

    const red = await NodeRedProcess.start({
      userDir,
      flows,
      settings: { prepay: { speed: 60 } },
      env: { PREPAY_BACNET_PORT: String(await freeUdpPort()) },
    });
    try {
      await sleep(25_000); // 25 building minutes: five billing intervals of every meter
      const errors = red
        .log()
        .split('\n')
        .filter((line) => /\[error\]|communication lost/.test(line));
      assert.deepEqual(errors, []);
    } finally {
      await red.stop();
    }
    const store = new SqliteLedgerStore({ path: join(userDir, 'prepay-ledger.db') });
    await store.init();
    try {
      const charged = new Map<string, Set<string>>();
      for (const accountId of tenants) {
        const account = await store.getAccount(accountId);
        assert.ok(account, `${accountId} opened`);
        const entries = await store.entriesOf(accountId);
        const opening = entries.find((e) => e.kind === 'topup');
        assert.ok(opening, `${accountId} has its opening credit`);
        assert.ok(account.balance < opening.amount, `${accountId} was charged`);
        charged.set(
          accountId,
          new Set(entries.filter((e) => e.kind === 'charge').map((e) => String(e.meta.meterId))),
        );
      }
      // Every meter of every utility was billed to its tenant.
      const unbilled = meters.filter((m) => !charged.get(m.accountId)?.has(m.meterId)).map((m) => m.meterId);
      assert.deepEqual(unbilled, []);
      // The cutoff nodes took every electricity supply in hand (connected, confirmed by read-back) and audited it.
      const audit = await store.auditLog();
      const connected = new Set(
        audit.filter((r) => r.kind === 'command' && r.action === 'connect').map((r) => r.meterId),
      );
      assert.equal(connected.size, relays.length);
    } finally {
      await store.close();
    }
  });
});
