/**
 * The reference site end to end: flows/reference.json in a real Node-RED 4.1, a week of building time on a
 * clock 3,600 times faster (a building day in 24 s), from Monday 06:00 in Kuala Lumpur. The test plays the
 * tenants' payment provider: when a tenant's supply is cut it pays through the signed webhook, some payments
 * delivered twice (the provider retrying) and some replayed byte for byte (an attacker). At the end:
 *
 * - every balance equals the account's top-ups minus its charges, entry by entry, and every payment was
 *   credited exactly once, at its amount;
 * - every disconnection fell outside the friendly-credit windows (18:00-08:00, weekends, holidays), on an
 *   account that had run out of credit at least the grace period before, and was followed by a reconnection
 *   once the tenant paid;
 * - the BACnet points a BEMS client reads (balance, available credit, credit state of every tenant) equal the
 *   ledger's figures.
 *
 * On a clock this fast the flow's timings are scaled with it (documented beside each): the meters are read
 * every 30 building minutes instead of 15 s, relays are checked hourly, and so on; every node is the same.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { signatureHeader } from '../../dist/nodes/core/payments/signature';
import { TimeZone } from '../../dist/nodes/core/tariff/zone';
import { ObjectType, PropertyId as P } from '../../dist/nodes/core/bacnet/constants';
import { freeUdpPort, testClient, type TestClient } from '../bacnet/support';
import { NodeRedProcess, onFreePorts } from '../support/node-red-process';
import { sleep, tempUserDir } from '../support/node-red-helper';

const root = join(__dirname, '..', '..', '..');
const SPEED = 3600;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Monday 14 December 2026, 06:00 in Kuala Lumpur (UTC+8). */
const WEEK_START = Date.UTC(2026, 11, 13, 22, 0);
const WEBHOOK_SECRET = 'demo-webhook-secret-replace-me';
const ZONE = TimeZone.get('Asia/Kuala_Lumpur');
const HOLIDAYS = new Set(['2026-12-25', '2027-01-01']);

interface FlowNode {
  id: string;
  type: string;
  name?: string;
  [key: string]: unknown;
}

/** The flow's timings scaled to a clock 3,600 times faster (seconds of building time = ms of wall time x 3.6). */
function onFastClock(flows: FlowNode[]): void {
  for (const node of flows) {
    // Read every 30 building minutes: every 15 would be 800 Modbus requests a second of wall time on the
    // first gateway, with relay writes and their read-backs queued behind the polls.
    if (node.type === 'prepay-meter') Object.assign(node, { interval: 1800, billMinutes: 30 });
    if (node.type === 'prepay-cutoff')
      // A cut must have switched before a window begins: 5 building minutes are 83 ms of wall time here,
      // less than a busy event loop may take to write and read back a relay, so the margin grows with the clock.
      Object.assign(node, {
        checkSeconds: 600,
        verifySeconds: 3600,
        maxStateAgeMinutes: 180,
        windowMarginMinutes: 30,
      });
    if (node.type === 'prepay-ledger') Object.assign(node, { snapshotMinutes: '60' });
  }
}

/** Building time at a wall-clock time, as the runtime clock computes it (anchored at the origin). */
function buildingTime(origin: number, wall: number): number {
  return origin + Math.floor((wall - origin) * SPEED);
}

function friendly(at: number): boolean {
  const wall = ZONE.wallParts(at);
  const date = new Date(at + 8 * HOUR).toISOString().slice(0, 10);
  const minute = wall.minuteOfDay;
  return (
    wall.weekday === 0 || wall.weekday === 6 || HOLIDAYS.has(date) || minute < 8 * 60 || minute >= 18 * 60
  );
}

const ARRAY_ALL = 0xffffffff;
const CREDIT_STATES = ['ok', 'low', 'emergency', 'exhausted', 'closed'];

/** Every account's Balance, Available and CreditState as a BEMS reads them: object list, then RPM. */
async function bemsView(
  peer: TestClient,
  port: number,
): Promise<Map<string, { balance?: number; available?: number; state?: string }>> {
  const address = { address: `127.0.0.1:${port}` };
  const list = await peer.client.readProperty(
    address,
    { type: ObjectType.DEVICE, instance: 412001 },
    P.OBJECT_LIST,
  );
  const ids = list.values
    .map((v) => v.value as { type: number; instance: number })
    // The points: not the device (8), its notification class (15) nor its network port (56), which have no
    // present value.
    .filter((o) => o.type !== 8 && o.type !== 15 && o.type !== 56);
  const view = new Map<string, { balance?: number; available?: number; state?: string }>();
  for (let i = 0; i < ids.length; i += 40) {
    const read = await peer.client.readPropertyMultiple(
      address,
      ids.slice(i, i + 40).map((objectId) => ({
        objectId,
        properties: [
          { id: P.OBJECT_NAME, index: ARRAY_ALL },
          { id: P.PRESENT_VALUE, index: ARRAY_ALL },
        ],
      })),
    );
    for (const o of read.values) {
      const name = o.values[0]!.value[0]!.value as string;
      const value = o.values[1]!.value[0]!.value as number;
      const match = /^(T\d{4})\.(Balance|Available|CreditState)$/.exec(name);
      if (!match) continue;
      const entry = view.get(match[1]!) ?? {};
      if (match[2] === 'Balance') entry.balance = value;
      else if (match[2] === 'Available') entry.available = value;
      else entry.state = CREDIT_STATES[value - 1];
      view.set(match[1]!, entry);
    }
  }
  return view;
}

interface Payment {
  paymentId: string;
  accountId: string;
  amount: number;
  /** Building time when it was paid. */
  at: number;
}

describe('reference site: a week of building time end to end', function () {
  this.timeout(600_000);

  it('bills, cuts only by the policy, reconnects after payment, and balances to the sen', async function () {
    const userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    const flows = JSON.parse(readFileSync(join(root, 'flows', 'reference.json'), 'utf8')) as FlowNode[];
    await onFreePorts(flows);
    onFastClock(flows);
    const gatewaysOff = flows.find((n) => n.type === 'inject' && n.name === 'power off every gateway')!;
    const bacnetPort = await freeUdpPort();

    // Building time is WEEK_START now: origin chosen so that origin + (now - origin) x SPEED = WEEK_START.
    const now = Date.now();
    const origin = Math.round((now * SPEED - WEEK_START) / (SPEED - 1));
    const red = await NodeRedProcess.start({
      userDir,
      flows,
      settings: { prepay: { speed: SPEED, origin } },
      env: { PREPAY_BACNET_PORT: String(bacnetPort) },
    });
    const db = new Database(join(userDir, 'prepay-ledger.db'), { readonly: true, fileMustExist: true });
    const payments: Payment[] = [];
    const replies: Record<string, number> = {};
    try {
      const webhook = async (body: string, header: string): Promise<number> => {
        const response = await red.request('/prepay/payments/webhook', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-prepay-signature': header },
          body,
        });
        await response.arrayBuffer();
        replies[response.status] = (replies[response.status] ?? 0) + 1;
        return response.status;
      };
      const pay = async (accountId: string, amount: number): Promise<void> => {
        const paymentId = `e2e_${accountId}_${payments.length + 1}`;
        const body = JSON.stringify({
          type: 'payment.succeeded',
          paymentId,
          accountId,
          amount,
          currency: 'MYR',
          method: 'card',
        });
        const t = Math.floor(Date.now() / 1000);
        const header = signatureHeader(WEBHOOK_SECRET, t, body);
        const at = buildingTime(origin, Date.now()); // before it is sent: the reconnection may beat the reply
        assert.equal(await webhook(body, header), 200, `payment ${paymentId} accepted`);
        payments.push({ paymentId, accountId, amount, at });
        // The provider retries every other payment (signed anew), and every third is replayed byte for byte.
        if (payments.length % 2 === 0)
          assert.equal(await webhook(body, signatureHeader(WEBHOOK_SECRET, t + 1, body)), 200);
        if (payments.length % 3 === 0) assert.equal(await webhook(body, header), 409);
      };

      // The tenants: a cut tenant pays about two building hours after the cut.
      const owed = new Map<string, number>();
      let seen = 0;
      while (buildingTime(origin, Date.now()) < WEEK_START + 7 * DAY) {
        const cuts = db
          .prepare(
            "SELECT rowid, meter_id, account_id, at FROM supply_audit WHERE kind = 'command' AND action = 'disconnect' AND rowid > ? ORDER BY rowid",
          )
          .all(seen) as Array<{ rowid: number; meter_id: string; account_id: string; at: number }>;
        for (const cut of cuts) {
          seen = cut.rowid;
          if (!owed.has(cut.account_id)) owed.set(cut.account_id, cut.at + 2 * HOUR);
        }
        const at = buildingTime(origin, Date.now());
        for (const [accountId, due] of owed)
          if (due <= at) {
            owed.delete(accountId);
            // RM 300 on top of what the account is below zero: a tenant cut after running through emergency
            // credit and the friendly windows (supply stays on at night) can owe more than RM 300.
            const { balance } = db.prepare('SELECT balance FROM accounts WHERE id = ?').get(accountId) as {
              balance: number;
            };
            await pay(accountId, 30_000 + Math.max(0, -Number(balance)));
          }
        await sleep(250);
      }
      // The week is over: the gateways lose power, so no more consumption arrives; two ledger snapshots later
      // (an hour of building time each) the BEMS reads what the ledger holds.
      const off = await red.request(`/inject/${gatewaysOff.id}`, { method: 'POST' });
      assert.equal(off.status, 200);
      await sleep(3000);
      const peer = await testClient(bacnetPort);
      try {
        const view = await bemsView(peer, bacnetPort);
        const ledger = db
          .prepare('SELECT id, balance, emergency_active, state FROM accounts')
          .all() as Array<{
          id: string;
          balance: number;
          emergency_active: number;
          state: string;
        }>;
        assert.equal(view.size, 120, 'every tenant on the BEMS');
        for (const account of ledger) {
          const seen = view.get(account.id);
          const available = Number(account.balance) + (account.emergency_active ? 2000 : 0);
          assert.deepEqual(
            seen,
            {
              balance: Math.fround(Number(account.balance) / 100),
              available: Math.fround(available / 100),
              state: account.state,
            },
            `${account.id}: the BEMS reads what the ledger holds`,
          );
        }
      } finally {
        peer.close();
      }
      const errors = red
        .log()
        .split('\n')
        .filter((line) => /\[error\]/.test(line));
      assert.deepEqual(errors, []);
    } finally {
      await red.stop();
    }

    // Every payment credited once, at its amount; duplicates and replays credited nothing.
    assert.ok(payments.length >= 5, `tenants paid after cuts (${payments.length} payments)`);
    assert.equal(replies[409], Math.floor(payments.length / 3), 'replays refused');
    for (const payment of payments) {
      const rows = db
        .prepare(
          "SELECT amount, debt_delta FROM entries WHERE reference = ? AND kind IN ('topup', 'debt-recovery')",
        )
        .all(`pay:${payment.paymentId}`) as Array<{ amount: number; debt_delta: number }>;
      const credited = rows.reduce((sum, r) => sum + Number(r.amount) - Number(r.debt_delta), 0);
      assert.equal(credited, payment.amount, `${payment.paymentId} credited once`);
    }

    // Every balance is the sum of its entries: top-ups minus charges (and the recorded debt movements).
    const accounts = db.prepare('SELECT id, balance, debt FROM accounts').all() as Array<{
      id: string;
      balance: number;
      debt: number;
    }>;
    assert.equal(accounts.length, 120);
    for (const account of accounts) {
      const sums = db
        .prepare('SELECT SUM(amount) AS balance, SUM(debt_delta) AS debt FROM entries WHERE account_id = ?')
        .get(account.id) as { balance: number; debt: number };
      assert.equal(Number(sums.balance), Number(account.balance), `${account.id} balance`);
      assert.equal(Number(sums.debt), Number(account.debt), `${account.id} debt`);
    }

    // Cuts: only outside friendly windows, only after the grace period on an account out of credit, each
    // followed by a reconnection once the tenant paid.
    const commands = db
      .prepare(
        "SELECT meter_id, account_id, action, at FROM supply_audit WHERE kind = 'command' ORDER BY at, rowid",
      )
      .all() as Array<{ meter_id: string; account_id: string; action: string; at: number }>;
    const cuts = commands.filter((c) => c.action === 'disconnect');
    assert.ok(cuts.length >= 5, `tenants ran out and were cut (${cuts.length} cuts)`);
    for (const cut of cuts) {
      assert.ok(cut.meter_id.startsWith('E-'), `${cut.meter_id}: only electricity is ever cut`);
      assert.ok(
        !friendly(cut.at),
        `${cut.meter_id} cut inside a friendly window at ${new Date(cut.at).toISOString()}`,
      );
      const before = db
        .prepare(
          'SELECT balance_after, posted_at FROM entries WHERE account_id = ? AND posted_at <= ? ORDER BY seq DESC LIMIT 1',
        )
        .get(cut.account_id, cut.at) as { balance_after: number; posted_at: number };
      assert.ok(Number(before.balance_after) <= 0, `${cut.account_id} had credit when cut`);
      // When the balance last went from above zero to zero or below, before the cut.
      const ranOut = db
        .prepare(
          'SELECT MAX(posted_at) AS at FROM entries WHERE account_id = ? AND posted_at <= ? AND balance_after - amount > 0 AND balance_after <= 0',
        )
        .get(cut.account_id, cut.at) as { at: number };
      assert.ok(cut.at - Number(ranOut.at) >= HOUR, `${cut.meter_id} cut within the grace period`);
      const paid = payments.find((p) => p.accountId === cut.account_id && p.at > cut.at);
      if (!paid) continue; // cut in the last hours of the week, before the tenant paid
      const back = commands.find(
        (c) => c.meter_id === cut.meter_id && c.action === 'connect' && c.at >= paid.at,
      );
      const timeline = (): string =>
        JSON.stringify({
          entries: db
            .prepare(
              'SELECT kind, amount, balance_after, debt_after, posted_at FROM entries WHERE account_id = ? AND posted_at >= ? AND kind != ? ORDER BY seq LIMIT 12',
            )
            .all(cut.account_id, paid.at - HOUR, 'charge'),
          balanceAfterPayment: db
            .prepare(
              'SELECT balance_after, posted_at FROM entries WHERE account_id = ? AND reference = ? ORDER BY seq DESC LIMIT 1',
            )
            .get(cut.account_id, `pay:${paid.paymentId}`),
          commands: commands
            .filter((c) => c.meter_id === cut.meter_id)
            .map((c) => [c.action, new Date(c.at).toISOString()]),
          payments: payments
            .filter((p) => p.accountId === cut.account_id)
            .map((p) => [p.paymentId, new Date(p.at).toISOString()]),
          audit: db
            .prepare('SELECT kind, action, reason, at FROM supply_audit WHERE meter_id = ? ORDER BY at')
            .all(cut.meter_id),
        });
      assert.ok(
        back,
        `${cut.meter_id} reconnected after the payment at ${new Date(paid.at).toISOString()}: ${timeline()}`,
      );
      assert.ok(
        back.at - paid.at <= 2 * HOUR,
        `${cut.meter_id} reconnected within two hours of paying: ${timeline()}`,
      );
    }
    db.close();
  });
});
