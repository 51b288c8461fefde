/**
 * Published tariffs of three more countries, priced through the prepay-tariff node (Node-RED, the real node
 * and its message handling): one reading of a month's use, and the same month as 15-minute readings, each
 * equal to the bill worked by hand below, to the minor unit.
 *
 * - Japan: Tokyo Electric Power Company (TEPCO), "Meter-rate lighting B" (従量電灯B), energy rates including
 *   10% consumption tax, in force from 1 October 2019 until the revision of June 2023: first 120 kWh of a
 *   month 19.88 yen/kWh, 120-300 kWh 26.48 yen/kWh, above 300 kWh 30.57 yen/kWh (the basic charge per
 *   contracted ampere, the fuel-cost adjustment and the renewable-energy surcharge are separate items and left
 *   out). 400 kWh in a month: 120 x 19.88 = 2,385.60; 180 x 26.48 = 4,766.40; 100 x 30.57 = 3,057.00;
 *   energy 10,209.00 yen = 10,209 yen.
 * - Singapore: Public Utilities Board (PUB), domestic water prices from 1 July 2018, per m3 a month: up to
 *   40 m3 water tariff S$1.21 + water conservation tax 50% of it (S$0.605) + waterborne fee S$0.92 =
 *   S$2.735; above 40 m3 S$1.52 + 65% (S$0.988) + S$1.18 = S$3.688; GST 7% (the rate in 2018) on the total.
 *   50 m3 in a month: 40 x 2.735 = 109.40; 10 x 3.688 = 36.88; 146.28 + GST 10.2396 = 156.5196, S$156.52.
 * - Hong Kong: Water Supplies Department, non-domestic water for trade purposes HK$4.58 per m3 (Waterworks
 *   Regulations, First Schedule; unchanged since 1995). 257.387 m3: 257.387 x 4.58 = 1,178.83246, HK$1,178.83.
 *
 * The 15-minute stream spreads the month's use over 2,880 readings in whole litres or Wh (some one more than
 * others), priced one message each; the node's cumulative rounding makes the stream bill what one reading bills.
 */
import assert from 'node:assert/strict';
import { Charge } from '../../dist/nodes/core/messages';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';

const tariffNode = loadBuiltNode('tariff/prepay-tariff.js');

const TARIFFS = {
  'tepco-meter-rate-b': {
    currency: 'JPY',
    utility: 'electricity',
    timezone: 'Asia/Tokyo',
    energy: {
      type: 'block',
      reset: 'month',
      blocks: [{ upTo: '120', rate: '19.88' }, { upTo: '300', rate: '26.48' }, { rate: '30.57' }],
    },
  },
  'pub-domestic-water-2018': {
    currency: 'SGD',
    utility: 'water',
    unit: 'm3',
    timezone: 'Asia/Singapore',
    energy: { type: 'block', reset: 'month', blocks: [{ upTo: '40', rate: '2.735' }, { rate: '3.688' }] },
    taxes: [{ name: 'GST', percent: '7' }],
  },
  'wsd-trade-water': {
    currency: 'HKD',
    utility: 'water',
    unit: 'm3',
    timezone: 'Asia/Hong_Kong',
    energy: { type: 'flat', rate: '4.58' },
  },
};

/**
 * The hand-worked bills, in minor units and exactly (sub-minor: 1/10,000 of the minor unit), and the month's
 * use in thousandths of the reading unit.
 */
const CASES: Array<{
  tariff: string;
  utility: string;
  unit: string;
  milli: number;
  zone: string;
  minor: bigint;
  subMinor: bigint;
}> = [
  {
    tariff: 'tepco-meter-rate-b',
    utility: 'electricity',
    unit: 'kWh',
    milli: 400_000,
    zone: '+09:00',
    minor: 10_209n,
    subMinor: 102_090_000n,
  },
  {
    tariff: 'pub-domestic-water-2018',
    utility: 'water',
    unit: 'm3',
    milli: 50_000,
    zone: '+08:00',
    minor: 15_652n,
    subMinor: 156_519_600n,
  },
  {
    tariff: 'wsd-trade-water',
    utility: 'water',
    unit: 'm3',
    milli: 257_387,
    zone: '+08:00',
    minor: 117_883n,
    subMinor: 1_178_832_460n,
  },
];

const QUARTER = 900_000;
const READINGS = 30 * 96;

/** Sub-minor to minor units, half-even (the node's rounding mode for these tariffs). */
function toMinor(subMinor: bigint): bigint {
  const q = subMinor / 10_000n;
  const r = subMinor % 10_000n;
  return r > 5_000n || (r === 5_000n && q % 2n === 1n) ? q + 1n : q;
}

const milliText = (milli: number): string => (milli / 1000).toFixed(3);

describe('published tariffs of Japan, Singapore and Hong Kong through the tariff node', function () {
  this.timeout(60_000);

  beforeEach(async function () {
    helper.settings({ userDir: tempUserDir() });
    await startServer();
  });

  afterEach(async function () {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  for (const c of CASES) {
    it(`${c.tariff}: one reading and a month of 15-minute readings both bill ${c.minor} minor units`, async function () {
      await helper.load(
        [tariffNode, catchNode],
        [
          {
            id: 't1',
            type: 'prepay-tariff',
            tariffs: JSON.stringify(TARIFFS),
            defaultTariff: '',
            mapping: '',
            select: 'tariff',
            selectType: 'msg',
            calendar: false,
            persist: false,
            wires: [['out']],
          },
          { id: 'out', type: 'helper' },
          { id: 'c1', type: 'catch', scope: ['t1'], uncaught: false, wires: [['caught']] },
          { id: 'caught', type: 'helper' },
        ],
      );
      const t1 = helper.getNode('t1');
      const out = collect(helper.getNode('out'));
      const caught = collect(helper.getNode('caught'));
      const start = Date.parse(`2022-06-01T00:00:00${c.zone}`);
      const reading = (
        account: string,
        i: number,
        milli: number,
        from: number,
        to: number,
      ): Record<string, unknown> => ({
        tariff: c.tariff,
        payload: {
          meterId: `${account}-M`,
          accountId: account,
          utility: c.utility,
          delta: milliText(milli),
          unit: c.unit,
          from,
          to,
          readingId: `${account}:${i}`,
          quality: 'good',
        },
      });

      // One reading of the month's use.
      t1.receive(reading('ONE', 0, c.milli, start, start + READINGS * QUARTER));
      // The month in 15-minute readings: `extra` of them one thousandth more than the others.
      const base = Math.floor(c.milli / READINGS);
      const extra = c.milli - base * READINGS;
      for (let i = 0; i < READINGS; i++) {
        const from = start + i * QUARTER;
        t1.receive(reading('STREAM', i, base + (i < extra ? 1 : 0), from, from + QUARTER));
        if (i % 500 === 0) await sleep(1);
      }
      for (let wait = 0; wait < 200 && out.length < READINGS + 1; wait++) await sleep(25);
      assert.deepEqual(caught, []);
      assert.equal(out.length, READINGS + 1);

      const total = (account: string): bigint =>
        out
          .map((m) => m.payload as Charge)
          .filter((charge) => charge.accountId === account)
          .reduce((sum, charge) => sum + BigInt(charge.amount), 0n);
      assert.equal(total('ONE'), c.subMinor);
      assert.equal(toMinor(total('ONE')), c.minor);
      assert.equal(toMinor(total('STREAM')), c.minor);
      assert.equal(
        total('STREAM'),
        total('ONE'),
        'the stream bills what one reading bills, to the sub-minor unit',
      );
    });
  }
});
