/**
 * The savings node in Node-RED: a baseline month and a reporting month of hourly consumption and outdoor
 * temperature through the node, a restart on the same user directory in between (the tallies stay), a month resent
 * (counted once), a consumption overlapping counted time (to Catch), the reports at the site's midnight and on the
 * 1st, a report request, and the CSV admin route; a wrong schedule refused at deploy naming its row.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
  type TestNode,
} from '../support/node-red-helper';

const savingsNode = loadBuiltNode('loadcontrol/prepay-savings.js');
const HOUR = 3_600_000;
/** Local midnight starting 1 October 2026 in Kuala Lumpur (UTC+8, no DST). */
const OCT_1 = Date.UTC(2026, 8, 30, 16);
/** 23:00 on 30 November, local. */
const NOV_30_2300 = Date.UTC(2026, 10, 30, 15);

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
type Row = Record<string, number | string | null | boolean>;

const UNITS = [
  { unit: 'S-1', meters: 'E-1', schedule: 'Mon-Fri 08:00-18:00' },
  { unit: 'S-2', meters: 'E-2, E-3', schedule: 'daily 10:00-22:00' },
];

const flow = (units: unknown = UNITS) => [
  {
    id: 'sav',
    type: 'prepay-savings',
    timeZone: 'Asia/Kuala_Lumpur',
    units,
    baselineFrom: '2026-10-01',
    baselineTo: '2026-10-31',
    temperatureUnit: '°C',
    wires: [['days'], ['months']],
  },
  { id: 'days', type: 'helper' },
  { id: 'months', type: 'helper' },
  { id: 'c1', type: 'catch', scope: ['sav'], uncaught: false, wires: [['caught']] },
  { id: 'caught', type: 'helper' },
];

/** Local hour of day and weekday (0 Sunday) of an instant in Kuala Lumpur. */
function local(t: number): { hour: number; weekday: number; day: number } {
  const d = new Date(t + 8 * HOUR);
  return { hour: d.getUTCHours(), weekday: d.getUTCDay(), day: d.getUTCDate() };
}

/** Hourly energy, Wh: S-1 2 kWh in open hours and 500 Wh outside (250 Wh from November: the savings). */
function energyWh(meter: string, from: number): number {
  const { hour, weekday, day } = local(from);
  const november = from >= Date.UTC(2026, 9, 31, 16);
  if (meter === 'E-1') {
    const open = weekday >= 1 && weekday <= 5 && hour >= 8 && hour < 18;
    return open ? 2000 + (day % 3) * 100 : november ? 250 : 500;
  }
  return hour >= 10 && hour < 22 ? 800 : 100;
}

const consumption = (meter: string, from: number, wh = energyWh(meter, from)) => ({
  topic: meter,
  payload: {
    meterId: meter,
    utility: 'electricity',
    unit: 'Wh',
    value: 0,
    quality: 'good',
    ts: from + HOUR,
    delta: wh,
    from,
    to: from + HOUR,
    readingId: `${meter}:${from + HOUR}`,
  },
});

async function feed(node: TestNode, from: number, to: number, meters: string[], temperatures: boolean) {
  for (let t = from, n = 0; t < to; t += HOUR, n += 1) {
    for (const meter of meters) node.receive(consumption(meter, t));
    if (temperatures) {
      const { hour } = local(t);
      // Kuala Lumpur: about 24 °C before dawn to 32 °C mid-afternoon.
      const value = 28 - 4 * Math.cos(((hour - 3) / 24) * 2 * Math.PI);
      node.receive({ topic: 'outdoor-temperature', payload: Number(value.toFixed(1)), ts: t + HOUR / 2 });
    }
    if (n % 200 === 199) await sleep(5);
  }
  await sleep(300);
}

describe('prepay-savings node', function () {
  this.timeout(60_000);
  let clock: ManualClock;

  beforeEach(async () => {
    clock = new ManualClock(NOV_30_2300);
    helper.settings({ userDir: tempUserDir(), prepay: { clock } });
    await startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('counts through a restart, counts a resend once, reports at midnight and on the 1st, serves CSV', async () => {
    await helper.load([savingsNode, catchNode], flow());
    const meters = ['E-1', 'E-2', 'E-3', 'E-9'];
    await feed(helper.getNode('sav'), OCT_1, Date.UTC(2026, 9, 31, 16), meters, true);
    const caught = collect(helper.getNode('caught')) as Msg[];
    const answers = collect(helper.getNode('months')) as Msg[];
    helper.getNode('sav').receive({ topic: 'report', payload: { period: 'month', month: '2026-10' } });
    await sleep(100);
    const october = answers[0]!.payload;

    // A restart on the same user directory: October's tallies are kept; October resent counts nothing.
    await helper.unload();
    await helper.load([savingsNode, catchNode], flow());
    const node = helper.getNode('sav');
    const caughtAfter = collect(helper.getNode('caught')) as Msg[];
    const days = collect(helper.getNode('days')) as Msg[];
    const months = collect(helper.getNode('months')) as Msg[];
    await feed(node, OCT_1, Date.UTC(2026, 9, 31, 16), ['E-1'], false);
    node.receive({ topic: 'report', payload: { period: 'month', month: '2026-10' } });
    await sleep(100);
    assert.deepEqual(months.shift()!.payload, october, 'the same October after a restart and a resend');
    const s1 = (october.units as Array<{ months: Row[] }>)[0]!.months[0]!;
    // 22 weekdays in October 2026 with 10 open hours each.
    let inside = 0;
    let all = 0;
    for (let t = OCT_1; t < Date.UTC(2026, 9, 31, 16); t += HOUR) {
      const e = energyWh('E-1', t);
      all += e;
      const { hour, weekday } = local(t);
      if (weekday >= 1 && weekday <= 5 && hour >= 8 && hour < 18) inside += e;
    }
    assert.equal(s1.energyKWh, all / 1000);
    assert.equal(s1.insideKWh, inside / 1000);
    assert.equal(s1.outsideKWh, (all - inside) / 1000);

    // November, then a consumption overlapping counted time in part.
    await feed(node, Date.UTC(2026, 9, 31, 16), NOV_30_2300, ['E-1', 'E-2', 'E-3'], true);
    // Half of it counted already (the last half hour counted), half new.
    node.receive(consumption('E-1', NOV_30_2300 - HOUR / 2));
    await sleep(100);
    await feed(node, NOV_30_2300, NOV_30_2300 + HOUR, ['E-1', 'E-2', 'E-3'], true);
    assert.equal(caught.length + caughtAfter.length, 1, JSON.stringify(caughtAfter.map((m) => m.error)));
    assert.match(
      String((caughtAfter[0]!.error as { message: string }).message),
      /overlaps time already counted/,
    );

    // Midnight on 1 December: 30 November's report on output 1, November's on output 2.
    clock.advance(HOUR + 2000);
    await sleep(200);
    assert.equal(days.length, 1);
    assert.equal(days[0]!.topic, 'savings/day');
    assert.equal(days[0]!.payload.label, '2026-11-30');
    assert.equal(months.length, 1);
    const november = months[0]!.payload;
    assert.equal(november.label, '2026-11');
    const units = november.units as Array<{ baseline: { model: { kind: string } | null }; months: Row[] }>;
    const s1Nov = units[0]!.months[0]!;
    assert.ok(units[0]!.baseline.model, 'a baseline model passes on October');
    assert.equal(s1Nov.savingsDays, 30);
    // Outside the schedule S-1 used 250 Wh an hour less: 14 hours on 21 weekdays, 24 on 9 weekend days.
    const expected = (21 * 14 + 9 * 24) * 0.25;
    assert.ok(
      Math.abs((s1Nov.savingsKWh as number) - expected) < 0.05 * expected,
      `savings ${s1Nov.savingsKWh} kWh, expected about ${expected}`,
    );
    const site = (november.site as { months: Row[] }).months[0]!;
    assert.equal(
      site.energyKWh,
      Math.round(units.reduce((a, u) => a + (u.months[0]!.energyKWh as number) * 1000, 0)) / 1000,
    );
    assert.equal(site.unitsWithBaseline, 2);

    // The admin route, as CSV: a header, a row per unit and day, a row per unit and month.
    const res = await helper
      .request()
      .get('/prepay-savings/sav/report?from=2026-11-01&to=2026-11-30&format=csv')
      .expect(200);
    const lines = res.text.trim().split('\n');
    assert.equal(lines[0]!.split(',')[0], 'unit');
    assert.equal(lines.length, 1 + 2 * 30 + 2);
    const monthRow = lines.find((l) => l.startsWith('S-1,month,2026-11'))!.split(',');
    assert.equal(Number(monthRow[11]), s1Nov.savingsKWh);
    await helper.request().get('/prepay-savings/sav/report?from=2026-11-31&to=2026-11-30').expect(400);
    await helper.request().get('/prepay-savings/nonode/report').expect(404);
  });

  it('refuses a wrong schedule at deploy, naming the row, and every message then goes to Catch', async () => {
    await helper.load(
      [savingsNode, catchNode],
      flow([UNITS[0], { unit: 'S-2', meters: 'E-2', schedule: 'Mon-Fry 08:00-18:00' }]),
    );
    const caught = collect(helper.getNode('caught')) as Msg[];
    helper.getNode('sav').receive(consumption('E-1', OCT_1));
    await sleep(100);
    assert.equal(caught.length, 1);
    assert.match(
      String((caught[0]!.error as { message: string }).message),
      /units row 2 \("S-2"\): schedule: entry 1 \("Mon-Fry 08:00-18:00"\): "fry" is not a day/,
    );
  });
});
