/**
 * A building month, end to end: the reference site (30 tenants: electricity, water, gas for the restaurants,
 * cooling for every tenth) in a real Node-RED on a clock 10,800 times faster, from 18 January to 18 February
 * 2027 in Kuala Lumpur, with its ledger on PostgreSQL behind a proxy the test can cut, and what goes wrong on a
 * real site:
 *
 * - Node-RED stopped before a local midnight and started after it (the day's standing charges are raised at
 *   the restart), and again across the 1st;
 * - a PostgreSQL outage with a stop (SIGTERM) and a kill (SIGKILL) of Node-RED inside it;
 * - an electricity meter whose device serves its billed counter and refuses every other value (exception 2);
 * - a sub-meter read over MQTT, with one reading stamped in microseconds and one stamped a year ahead;
 * - tenants who run out, are cut, and pay through the signed webhook.
 *
 * At the end the ledger's reconciliation of every day shows nothing unexplained, every meter's charges join up
 * from its first register to its last, every register a charge ends on is one its meter showed (the simulator's
 * own register log; the MQTT meter's published values), and every account's charges equal, to the sub-minor
 * unit, an independent bill of those intervals by the site's tariffs (test/support/independent-bill.ts), with a
 * standing charge for every day of gas and cooling.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { signatureHeader } from '../../dist/nodes/core/payments/signature';
import { TcpProxy } from '../support/tcp-proxy';
import { NodeRedProcess, onFreePorts } from '../support/node-red-process';
import { sleep, tempUserDir } from '../support/node-red-helper';
import { freeUdpPort } from '../bacnet/support';
import { ARTIFACTS } from '../support/chromium';
import { PG_BASE, requirePostgres, ScratchDatabase } from '../ledger/ledger-support';
import {
  decimalDifference,
  independentBill,
  Q,
  standingAmount,
  type BilledInterval,
  type SiteTariff,
} from '../support/independent-bill';

const root = join(__dirname, '..', '..', '..');
const SPEED = 10_800;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const OFFSET = 8 * HOUR; // Kuala Lumpur, UTC+8 all year
/** Monday 18 January 2027, 06:00 in Kuala Lumpur. */
const START = Date.UTC(2027, 0, 17, 22, 0);
const END = START + 31 * DAY;
const WEBHOOK_SECRET = 'demo-webhook-secret-replace-me';
const MQTT_METER = 'E-T0005-SUB';

interface FlowNode {
  id: string;
  type: string;
  name?: string;
  z?: string;
  wires?: string[][];
  [key: string]: unknown;
}

/** The site's tariffs as the independent bill reads them (from flows: scripts/reference-site/building.mjs). */
const TARIFFS: SiteTariff[] = [
  {
    utility: 'electricity',
    timezoneOffsetMinutes: 480,
    tou: { peak: '0.365', offpeak: '0.224', peakFrom: 8, peakTo: 22 },
  },
  {
    utility: 'water',
    timezoneOffsetMinutes: 480,
    blocks: [
      ['35', '2.28'],
      [undefined, '2.85'],
    ],
    surcharges: [{ name: 'sewerage', rate: '0.90', sharePercent: '95' }],
  },
  {
    utility: 'gas',
    timezoneOffsetMinutes: 480,
    // m3 x volume correction 1.0 x calorific value 38.6 MJ/m3 / 3.6 MJ/kWh
    conversion: new Q(386n, 36n),
    flat: '0.1650',
    standingPerDay: '1.50',
  },
  { utility: 'cooling', timezoneOffsetMinutes: 480, flat: '0.2900', standingPerDay: '8.00' },
];

function buildingTime(origin: number, wall: number): number {
  return origin + Math.floor((wall - origin) * SPEED);
}

function localDate(t: number): string {
  return new Date(t + OFFSET).toISOString().slice(0, 10);
}

/** The wall time at which the building clock reads `t`. */
function wallAt(origin: number, t: number): number {
  return origin + (t - origin) / SPEED;
}

describe('reference site: a building month with restarts, an outage, bad stamps and a partial device', function () {
  this.timeout(1_200_000);
  let database: ScratchDatabase | undefined;
  let proxy: TcpProxy | undefined;
  before(async function () {
    await requirePostgres(this, 'building month');
    database = await ScratchDatabase.create('prepay_month');
    proxy = await TcpProxy.start({
      host: String(PG_BASE.host ?? '127.0.0.1'),
      port: Number(PG_BASE.port ?? 5432),
    });
  });
  /** Writes each Node-RED's log to test/artifacts (set while the test runs). */
  let leaveLogs: (() => void) | undefined;
  afterEach(function () {
    // A failure anywhere leaves the logs for a look (a passing run writes them itself).
    if (this.currentTest?.state === 'failed') leaveLogs?.();
  });
  after(async function () {
    await proxy?.stop();
    await database?.drop();
  });

  it('reconciles every day and bills every account exactly what an independent bill says', async function () {
    const userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    const file = join(userDir, 'site.json');
    execFileSync(process.execPath, [
      join(root, 'scripts', 'reference-site.mjs'),
      '--tenants',
      '30',
      '--out',
      file,
    ]);
    const flows = JSON.parse(readFileSync(file, 'utf8')) as FlowNode[];
    await onFreePorts(flows);
    const topic = `prepay-month/${process.pid}/${Date.now()}`;
    const ledgerNode = flows.find((n) => n.type === 'prepay-ledger' && n.name === 'tenant ledger')!;
    const tariffNode = flows.find((n) => n.type === 'prepay-tariff')!;
    const simulator = flows.find((n) => n.type === 'prepay-simulator')!;
    for (const node of flows) {
      // On a clock this fast the timings scale with it (as in the week test): meters read every 30 building minutes.
      if (node.type === 'prepay-meter') Object.assign(node, { interval: 1800, billMinutes: 30 });
      if (node.type === 'prepay-cutoff')
        Object.assign(node, {
          checkSeconds: 600,
          verifySeconds: 3600,
          maxStateAgeMinutes: 240,
          windowMarginMinutes: 60,
        });
      if (node.type === 'prepay-ledger') Object.assign(node, { snapshotMinutes: '120' });
      // The ledger on PostgreSQL, behind the proxy.
      if (node.type === 'prepay-store')
        Object.assign(node, {
          backend: 'postgres',
          host: '127.0.0.1',
          port: String(proxy!.port),
          database: database!.name,
          user: String(PG_BASE.user ?? 'postgres'),
          ssl: false,
        });
      if (node === simulator) Object.assign(node, { registerLog: true });
    }
    // A sub-meter of T0005 read over MQTT, and an inject that makes E-T0003's device a partial one.
    const tab = ledgerNode.z as string;
    const e3 = flows
      .filter((n) => n.type === 'prepay-meter')
      .flatMap((n) => (n.table as Array<{ meterId: string; unitId: number }>).map((row) => row))
      .find((row) => row.meterId === 'E-T0003')!;
    flows.push(
      {
        id: 'monthbroker00001',
        type: 'mqtt-broker',
        name: 'test broker',
        broker: '127.0.0.1',
        port: '1883',
        clientid: '',
        autoConnect: true,
        usetls: false,
        protocolVersion: '4',
        keepalive: '60',
        cleansession: true,
      },
      {
        id: 'monthmqttin00001',
        type: 'mqtt in',
        z: tab,
        name: 'sub-meter',
        topic,
        qos: '1',
        datatype: 'json',
        broker: 'monthbroker00001',
        nl: false,
        rap: true,
        rh: 0,
        inputs: 0,
        wires: [['monthsubmeter001']],
      },
      {
        id: 'monthsubmeter001',
        type: 'prepay-meter',
        z: tab,
        name: 'MQTT sub-meter',
        source: 'messages',
        commLossMinutes: 240,
        sliceMinutes: 30,
        billMinutes: 30,
        timezone: 'Asia/Kuala_Lumpur',
        wires: [[tariffNode.id], [], [ledgerNode.id]],
      },
      {
        id: 'monthpartial0001',
        type: 'inject',
        z: tab,
        name: 'E-T0003 partial',
        props: [{ p: 'payload' }, { p: 'topic', vt: 'str' }],
        topic: 'fault',
        payload: JSON.stringify({ gateway: 0, unitId: e3.unitId, kind: 'partial' }),
        payloadType: 'json',
        repeat: '',
        once: false,
        wires: [[simulator.id]],
      },
    );

    const bacnetPort = await freeUdpPort();
    const origin = Math.round((Date.now() * SPEED - START) / (SPEED - 1));
    const settings = { prepay: { speed: SPEED, origin } };
    const env = { PREPAY_BACNET_PORT: String(bacnetPort) };
    let red = await NodeRedProcess.start({ userDir, flows, settings, env });
    const logs: string[] = [];
    leaveLogs = () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(
        join(ARTIFACTS, 'month-node-red.log'),
        [...logs, red.log()].join('\n==== restart ====\n'),
      );
    };
    const restart = async (how: 'stop' | 'kill'): Promise<void> => {
      if (how === 'stop') await red.stop();
      else await red.kill('SIGKILL');
      logs.push(red.log());
      red = await NodeRedProcess.start({ userDir, settings, env });
    };
    const now = (): number => buildingTime(origin, Date.now());
    const until = async (t: number, during?: () => Promise<void>): Promise<void> => {
      while (now() < t) {
        await during?.();
        await sleep(Math.max(5, Math.min(200, (wallAt(origin, t) - Date.now()) / 2)));
      }
    };

    // --- the MQTT sub-meter: the test publishes its register every 30 building minutes ----------------------
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mqtt = require('mqtt') as typeof import('mqtt');
    const publisher = await mqtt.connectAsync('mqtt://127.0.0.1:1883');
    const published: Array<{ ts: number; value: number }> = [];
    let register = 4321.5;
    let nextPublish = START;
    const publish = async (value: number, ts: number): Promise<void> => {
      await publisher.publishAsync(
        topic,
        JSON.stringify({
          meterId: MQTT_METER,
          accountId: 'T0005',
          utility: 'electricity',
          unit: 'kWh',
          value,
          ts,
        }),
        { qos: 1 },
      );
    };
    const feedMqtt = async (): Promise<void> => {
      while (nextPublish <= now() && red.child.exitCode === null) {
        register = Math.round((register + 0.75) * 100) / 100;
        await publish(register, nextPublish);
        published.push({ ts: nextPublish, value: register });
        nextPublish += HOUR / 2;
      }
    };

    // --- tenants pay two building hours after their supply is cut ------------------------------------------
    const store = (): Client => new Client(database!.config());
    const paid = new Set<string>();
    const owed = new Map<string, number>();
    let seenCuts = 0;
    const payments: Array<{ paymentId: string; accountId: string; amount: number }> = [];
    const tenants = async (): Promise<void> => {
      await feedMqtt();
      if (!proxy!.up || red.child.exitCode !== null) return;
      const db = store();
      try {
        await db.connect();
        const cuts = await db.query(
          "SELECT meter_id, account_id, at FROM supply_audit WHERE kind = 'command' AND action = 'disconnect' ORDER BY at OFFSET $1",
          [seenCuts],
        );
        seenCuts += cuts.rows.length;
        for (const cut of cuts.rows as Array<{ account_id: string; at: string }>)
          if (!owed.has(cut.account_id)) owed.set(cut.account_id, Number(cut.at) + 2 * HOUR);
        for (const [accountId, due] of owed) {
          if (due > now()) continue;
          owed.delete(accountId);
          const { rows } = await db.query('SELECT balance FROM accounts WHERE id = $1', [accountId]);
          const amount = 50_000 + Math.max(0, -Number(rows[0]?.balance ?? 0));
          const paymentId = `month_${accountId}_${payments.length + 1}`;
          const body = JSON.stringify({
            type: 'payment.succeeded',
            paymentId,
            accountId,
            amount,
            currency: 'MYR',
            method: 'card',
          });
          const response = await red.request('/prepay/payments/webhook', {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-prepay-signature': signatureHeader(WEBHOOK_SECRET, Math.floor(Date.now() / 1000), body),
            },
            body,
          });
          await response.arrayBuffer();
          if (response.status === 200) payments.push({ paymentId, accountId, amount });
          paid.add(accountId);
        }
      } catch {
        // Node-RED restarting, or the database cut: the tenant tries again next time.
      } finally {
        await db.end().catch(() => undefined);
      }
    };

    try {
      // Day 0: E-T0003's device turns out to be another variant: it serves its counter and nothing else.
      await sleep(500);
      assert.equal((await red.request(`/inject/monthpartial0001`, { method: 'POST' })).status, 200);
      // Day 3, 23:30: Node-RED stops; it starts again after midnight.
      await until(START + 3 * DAY + 17.5 * HOUR, tenants);
      await restart('stop');
      // Day 7: a reading stamped in microseconds, refused (future-reading), not billed.
      await until(START + 7 * DAY, tenants);
      await publish(register + 0.25, now() * 1000);
      // Day 9: the database goes away at 10:00; Node-RED is stopped inside the outage at 12:00, killed at 15:00,
      // and the database comes back at 18:00.
      await until(START + 9 * DAY + 4 * HOUR, tenants);
      await proxy!.cut();
      await until(START + 9 * DAY + 6 * HOUR, tenants);
      await restart('stop');
      await until(START + 9 * DAY + 9 * HOUR, tenants);
      await restart('kill');
      await until(START + 9 * DAY + 12 * HOUR, tenants);
      await proxy!.restore();
      // Day 12: a reading stamped a year ahead (a sender's clock jumped), refused, not billed.
      await until(START + 12 * DAY, tenants);
      await publish(register + 0.25, now() + 365 * DAY);
      // 31 January, 23:00: Node-RED stops; it starts again on the 1st.
      await until(Date.UTC(2027, 0, 31, 15, 0), tenants);
      await restart('stop');
      // To the end of the month, then the meters are left to be billed up and the day reconciled.
      await until(END, tenants);
      await until(END + 2 * HOUR, feedMqtt);
    } finally {
      await publisher.endAsync();
    }

    // --- every day reconciled, nothing unexplained -------------------------------------------------------
    const firstDate = localDate(START + DAY);
    const lastDate = localDate(END - DAY);
    const unexplained: string[] = [];
    for (let t = START + DAY; localDate(t) <= lastDate; t += DAY) {
      const date = localDate(t);
      const report = (await red.json(`/prepay-ledger/${ledgerNode.id}/reconciliation?date=${date}`)) as {
        ok: boolean;
        meters: Array<{ meterId: string; billedByMeter?: string; billedByLedger: string }>;
        findings: Array<{ explained: boolean; kind: string; subject: string; text: string }>;
      };
      for (const finding of report.findings)
        if (!finding.explained)
          unexplained.push(`${date} ${finding.subject} ${finding.kind}: ${finding.text}`);
      assert.ok(report.meters.length >= 70, `${date}: every meter reconciled (${report.meters.length})`);
      assert.ok(
        report.meters.every((m) => m.billedByMeter !== undefined),
        `${date}: every meter reader sent its day summary`,
      );
    }
    const stoppedAt = now();
    logs.push(red.log());
    await red.stop();
    // Each Node-RED's log, for a look when something is off (test/artifacts is not committed).
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'month-node-red.log'), logs.join('\n==== restart ====\n'));
    // Unexplained findings by kind, with a few of each (a month has thousands of lines when something is off).
    const byKind = new Map<string, string[]>();
    for (const line of unexplained) {
      const kind = line.split(' ')[2] as string;
      byKind.set(kind, [...(byKind.get(kind) ?? []), line]);
    }
    assert.deepEqual(
      [...byKind].map(([kind, lines]) => `${lines.length} x ${kind} ${lines.slice(0, 4).join(' | ')}`),
      [],
      `reconciled ${firstDate} to ${lastDate}`,
    );

    // --- the charges: chains, registers the meters showed, and an independent bill -------------------------
    const db = store();
    await db.connect();
    try {
      const { rows } = await db.query(
        "SELECT account_id, kind, reference, effective_at, meta FROM entries WHERE kind IN ('charge', 'standing', 'monthly') ORDER BY effective_at, seq",
      );
      const entries = rows as Array<{
        account_id: string;
        kind: string;
        reference: string;
        effective_at: string;
        meta: Record<string, unknown>;
      }>;
      assert.equal(new Set(entries.map((e) => e.reference)).size, entries.length, 'every charge posted once');
      // What the simulator served, per meter.
      const served = new Map<string, Set<string>>();
      const logFile = join(userDir, 'prepay', `simulator-${simulator.id}-registers.jsonl`);
      assert.ok(existsSync(logFile), 'the simulator kept its register log');
      for (const line of readFileSync(logFile, 'utf8').split('\n')) {
        if (!line) continue;
        const { m, v } = JSON.parse(line) as { m: string; v: number };
        const set = served.get(m) ?? new Set<string>();
        set.add(String(v));
        served.set(m, set);
      }
      served.set(MQTT_METER, new Set(published.map((p) => String(p.value))));
      // Per meter: the chain of charges, and registers it showed.
      const byMeter = new Map<string, typeof entries>();
      for (const e of entries.filter((x) => x.kind === 'charge')) {
        const meterId = String(e.meta.meterId);
        byMeter.set(meterId, [...(byMeter.get(meterId) ?? []), e]);
      }
      assert.ok(byMeter.size >= 74, `every meter billed (${byMeter.size})`);
      assert.ok(byMeter.has('E-T0003'), 'the partial device billed its counter');
      const intervals: BilledInterval[] = [];
      for (const [meterId, list] of byMeter) {
        list.sort((a, b) => Number(a.meta.from) - Number(b.meta.from));
        let end: string | undefined;
        let lastTo: number | undefined;
        for (const e of list) {
          const r = e.meta.register as {
            start: number;
            end: number;
            delta: number | string;
            unit: string;
            after?: unknown;
          };
          assert.ok(r, `${e.reference} carries its register`);
          if (end !== undefined) {
            assert.equal(
              String(r.start),
              end,
              `${e.reference} starts where ${meterId}'s charge before ended`,
            );
            // No overlap; a gap in time only where its slices billed nothing (the registers join).
            assert.ok(Number(e.meta.from) >= (lastTo as number), `${e.reference} overlaps the one before`);
          }
          assert.equal(
            decimalDifference(String(r.end), String(r.start)),
            String(r.delta),
            `${e.reference} delta`,
          );
          end = String(r.end);
          lastTo = Number(e.effective_at);
          intervals.push({
            accountId: e.account_id,
            utility: String(e.meta.utility),
            from: Number(e.meta.from),
            to: Number(e.effective_at),
            delta: String(r.delta),
            unit: r.unit,
          });
        }
        // The first and last registers billed are values the meter showed (the slices of a gap in between are
        // estimates by their nature).
        const showed = served.get(meterId) ?? new Set<string>();
        assert.ok(
          showed.has(String((list[0]!.meta.register as { start: number }).start)),
          `${meterId}: first register served`,
        );
        assert.ok(showed.has(end as string), `${meterId}: last register ${end} served`);
      }
      // The MQTT meter: the refused readings (microseconds, a year ahead) billed nothing.
      const subMeter = byMeter.get(MQTT_METER)!;
      assert.ok(
        subMeter.every((e) => Number(e.effective_at) < END + 3 * HOUR),
        'no charge dated in the future',
      );

      // The independent bill against the ledger, per account, to the sub-minor unit.
      const bill = independentBill(intervals, TARIFFS);
      const standingDays = new Map<string, Set<string>>();
      const firstPriced = new Map<string, number>();
      for (const i of intervals) {
        const key = `${i.accountId} ${i.utility}`;
        firstPriced.set(key, Math.min(firstPriced.get(key) ?? Infinity, i.from));
      }
      for (const e of entries.filter((x) => x.kind === 'standing')) {
        const key = `${e.account_id} ${String(e.meta.utility)}`;
        const date = String(e.meta.readingId).split(':').pop() as string;
        const days = standingDays.get(key) ?? new Set<string>();
        assert.ok(!days.has(date), `${key}: one standing charge for ${date}`);
        days.add(date);
        standingDays.set(key, days);
      }
      const mismatches: string[] = [];
      const accounts = new Set(entries.map((e) => e.account_id));
      for (const accountId of accounts) {
        const ledgerSum = entries
          .filter((e) => e.account_id === accountId)
          .reduce((sum, e) => sum + BigInt(String(e.meta.amountSub)), 0n);
        let expected = [...(bill.get(accountId)?.values() ?? [])].reduce((a, b) => a + b, 0n);
        for (const tariff of TARIFFS.filter((t) => t.standingPerDay)) {
          const key = `${accountId} ${tariff.utility}`;
          const first = firstPriced.get(key);
          if (first === undefined) continue;
          // A standing charge for every day from the day the account's utility was first priced (its move-in, that
          // day included) to the last.
          const days = standingDays.get(key) ?? new Set<string>();
          const wanted: string[] = [];
          for (let t = first; localDate(t) <= localDate(stoppedAt); t += DAY) wanted.push(localDate(t));
          if ([...days].sort().join() !== wanted.join())
            writeFileSync(
              join(ARTIFACTS, 'month-standing.json'),
              JSON.stringify(
                { key, days: [...days].sort(), wanted, stoppedAt: new Date(stoppedAt).toISOString() },
                null,
                2,
              ),
            );
          assert.deepEqual([...days].sort(), wanted, `${key}: a standing charge every day`);
          expected += standingAmount(tariff) * BigInt(wanted.length);
        }
        if (ledgerSum !== expected)
          mismatches.push(`${accountId}: ledger ${ledgerSum}, independent bill ${expected}`);
      }
      assert.deepEqual(mismatches, []);
      assert.ok(payments.length >= 3, `tenants paid (${payments.length})`);
    } finally {
      await db.end();
    }
    const errors = logs
      .join('\n')
      .split('\n')
      .filter(
        (line) =>
          /\[error\]/.test(line) &&
          !/ECONNREFUSED|ECONNRESET|Connection terminated|connection|store down|timeout/i.test(line),
      );
    // Errors in the log, but for those of the outage (the database away).
    assert.deepEqual(errors.slice(0, 10), [], `${errors.length} errors in the log`);
  });
});
