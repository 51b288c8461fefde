/**
 * Real published tariffs priced to their published figures.
 *
 * - Ofgem (GB energy regulator), "Energy price cap" rates for 1 October to 31 December 2024,
 *   announced 23 August 2024 (direct debit, GB average, VAT included): electricity 24.50 p/kWh +
 *   60.99 p/day, gas 6.24 p/kWh + 31.66 p/day. Ofgem's published typical annual dual-fuel bill at
 *   this cap: £1,717 (typical consumption 2,700 kWh electricity, 11,500 kWh gas).
 * - Tenaga Nasional Berhad (TNB, Malaysia), electricity tariff schedule effective 1 January 2014:
 *   Tariff A (domestic) inclining blocks: first 200 kWh 21.80 sen, next 100 kWh 33.40 sen, next
 *   300 kWh 51.60 sen, next 300 kWh 54.60 sen, above 900 kWh 57.10 sen; TNB's worked examples:
 *   300 kWh a month = RM 77.00, 1,000 kWh a month = RM 452.70.
 *   Tariff C2 (medium-voltage commercial): peak (08:00-22:00) 36.50 sen/kWh, off-peak 22.40 sen/kWh,
 *   maximum demand RM 45.10/kW in the peak period, minimum monthly charge RM 600.
 * - Gas volume to energy as on UK gas bills (Gas (Calculation of Thermal Energy) Regulations):
 *   kWh = m3 x volume correction 1.02264 x calorific value (MJ/m3) / 3.6;
 *   100 m3 at 39.3 MJ/m3 = 1,116.382 kWh exactly.
 */
import assert from 'node:assert/strict';
import { compileTariff } from '../../dist/nodes/core/tariff/compile';
import { ConsumptionInput, TariffEngine } from '../../dist/nodes/core/tariff/engine';
import { parseEngineState, serializeEngineState } from '../../dist/nodes/core/tariff/state';
import { CompiledTariff } from '../../dist/nodes/core/tariff/types';
import { OFGEM_ELECTRICITY_2024Q4, postedMinor, TNB_A, TNB_C2 } from '../support/tariff-fixtures';
import { Charge } from '../../dist/nodes/core/messages';

const DAY = 86_400_000;
const HALF_HOUR = 1_800_000;

function priced(engine: TariffEngine, tariff: CompiledTariff, input: ConsumptionInput): Charge {
  const outcome = engine.priceConsumption(tariff, input, { now: 0 });
  assert.equal(outcome.status, 'priced');
  return (outcome as { charge: Charge }).charge;
}

/** Sub-minor totals per component. */
function byComponent(charges: Charge[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of charges) for (const l of c.breakdown) out[l.component] = (out[l.component] ?? 0) + l.amount;
  return out;
}

const restart = (engine: TariffEngine): TariffEngine =>
  new TariffEngine(parseEngineState(JSON.parse(serializeEngineState(engine.snapshot()))));

describe('published tariffs', function () {
  it('Ofgem price cap 1 Oct-31 Dec 2024: the typical dual-fuel year costs £1,717', function () {
    const electricity = compileTariff(OFGEM_ELECTRICITY_2024Q4, 'ofgem-electricity');
    const gas = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        utility: 'gas',
        timezone: 'Europe/London',
        energy: { type: 'flat', rate: '6.24' },
        standingCharge: { perDay: '31.66' },
      },
      'ofgem-gas',
    );
    const engine = new TariffEngine();
    const year = (tariff: CompiledTariff, account: string, kwh: number): Charge[] => {
      const charges: Charge[] = [];
      const start = Date.parse('2024-10-01T00:00:00+01:00');
      // Twelve readings of a twelfth of the year's use each (to the Wh; the last takes the rest).
      const twelfth = Math.floor((kwh * 1000) / 12) / 1000;
      for (let m = 0; m < 12; m++) {
        charges.push(
          priced(engine, tariff, {
            meterId: `${account}-M`,
            accountId: account,
            readingId: `${account}:${m}`,
            delta: m < 11 ? twelfth : Math.round((kwh - 11 * twelfth) * 1000) / 1000,
            unit: 'kWh',
            from: start + m * 30 * DAY,
            to: start + (m + 1) * 30 * DAY,
          }),
        );
      }
      // A standing charge for each of 365 dates from 1 October 2024.
      for (let d = 0; d < 365; d++) {
        const date = new Date(Date.UTC(2024, 9, 1 + d)).toISOString().slice(0, 10);
        const standing = engine.calendarCharges(tariff, account, date);
        assert.equal(standing.length, 1, date);
        charges.push(...standing);
      }
      return charges;
    };
    const e = year(electricity, 'E', 2700);
    const g = year(gas, 'G', 11500);
    // 2,700 x 24.50 + 365 x 60.99 = 66,150 + 22,261.35 = 88,411.35 p
    assert.deepEqual(byComponent(e), { energy: 661_500_000, standing: 222_613_500 });
    // 11,500 x 6.24 + 365 x 31.66 = 71,760 + 11,555.90 = 83,315.90 p
    assert.deepEqual(byComponent(g), { energy: 717_600_000, standing: 115_559_000 });
    assert.equal(postedMinor(e), 88_411n); // £884.11
    assert.equal(postedMinor(g), 83_316n); // £833.16
    const total = postedMinor([...e, ...g]);
    assert.equal(total, 171_727n); // £1,717.27: Ofgem's published £1,717
    assert.equal(total / 100n, 1717n);
  });

  it('TNB tariff A (inclining blocks): 300 kWh = RM 77.00 and 1,000 kWh = RM 452.70; reset monthly, kept over restarts', function () {
    const tariffA = compileTariff(TNB_A, 'tnb-a');
    const june = Date.parse('2024-06-01T00:00:00+08:00');
    const july = Date.parse('2024-07-01T00:00:00+08:00');
    const reading = (id: string, delta: number, from: number, to: number): ConsumptionInput => ({
      meterId: 'M',
      accountId: 'H1',
      readingId: id,
      delta,
      unit: 'kWh',
      from,
      to,
    });

    // Each published example as one monthly reading.
    assert.equal(postedMinor([priced(new TariffEngine(), tariffA, reading('a', 300, june, july))]), 7700n);
    assert.equal(postedMinor([priced(new TariffEngine(), tariffA, reading('b', 1000, june, july))]), 45_270n);

    // June: 300 kWh in 30 daily readings of 10 kWh, restarting after 240 kWh (inside block 2).
    let engine = new TariffEngine();
    const juneCharges: Charge[] = [];
    for (let d = 0; d < 30; d++) {
      if (d === 24) engine = restart(engine);
      juneCharges.push(
        priced(engine, tariffA, reading(`jun-${d}`, 10, june + d * DAY, june + (d + 1) * DAY)),
      );
    }
    assert.deepEqual(byComponent(juneCharges), {
      'block.1': 43_600_000, // 200 x 21.80 sen
      'block.2': 33_400_000, // 100 x 33.40 sen
    });
    assert.equal(postedMinor(juneCharges), 7700n); // RM 77.00

    // July starts from the first block again: 1,000 kWh in four readings, restarting after 500 kWh.
    const julyCharges: Charge[] = [];
    for (let w = 0; w < 4; w++) {
      if (w === 2) engine = restart(engine);
      julyCharges.push(
        priced(engine, tariffA, reading(`jul-${w}`, 250, july + w * 7 * DAY, july + (w + 1) * 7 * DAY)),
      );
    }
    assert.deepEqual(
      julyCharges[0]?.breakdown.map((l) => [l.component, l.quantity]),
      [
        ['block.1', '200'],
        ['block.2', '50'],
      ],
    );
    assert.deepEqual(byComponent(julyCharges), {
      'block.1': 43_600_000, // 200 x 21.80 sen
      'block.2': 33_400_000, // 100 x 33.40 sen
      'block.3': 154_800_000, // 300 x 51.60 sen
      'block.4': 163_800_000, // 300 x 54.60 sen
      'block.5': 57_100_000, // 100 x 57.10 sen
    });
    assert.equal(postedMinor(julyCharges), 45_270n); // RM 452.70
  });

  it('TNB tariff C2: peak/off-peak energy, maximum demand in the peak period, and the RM 600 minimum', function () {
    const c2 = compileTariff(
      { ...TNB_C2, demand: { rate: '45.10', intervalMinutes: 30, periods: ['peak'] }, minimumMonthly: '600' },
      'tnb-c2',
    );
    const engine = new TariffEngine();
    // SHOP and KIOSK are tenants from 1 June; LATE moves in on 10 June.
    assert.deepEqual(engine.calendarCharges(c2, 'SHOP', '2024-06-01'), []);
    assert.deepEqual(engine.calendarCharges(c2, 'KIOSK', '2024-06-01'), []);
    assert.deepEqual(engine.calendarCharges(c2, 'LATE', '2024-06-10'), []);

    // SHOP, Monday 3 June, in half-hour readings: 100 kW through the peak (50 kWh per half hour)
    // but 130 kW in 15:00-15:30; 40 kW off-peak (20 kWh) but 180 kW in 23:00-23:30, which is
    // off-peak and so not maximum demand.
    const day = Date.parse('2024-06-03T00:00:00+08:00');
    const shop: Charge[] = [];
    for (let h = 0; h < 48; h++) {
      const from = day + h * HALF_HOUR;
      const peak = h >= 16 && h < 44; // 08:00-22:00
      const kwh = h === 30 ? 65 : h === 46 ? 90 : peak ? 50 : 20;
      shop.push(
        priced(engine, c2, {
          meterId: 'S',
          accountId: 'SHOP',
          readingId: `s${h}`,
          delta: kwh,
          unit: 'kWh',
          from,
          to: from + HALF_HOUR,
        }),
      );
    }
    // Peak 27 x 50 + 65 = 1,415 kWh x 36.50 sen = RM 516.475; off-peak 19 x 20 + 90 = 470 kWh x 22.40 sen = RM 105.28
    assert.deepEqual(byComponent(shop), { 'energy.offpeak': 105_280_000, 'energy.peak': 516_475_000 });
    assert.equal(postedMinor(shop), 62_176n); // RM 621.755 -> RM 621.76

    // KIOSK: 10 kWh off-peak in the month; LATE the same.
    for (const [account, meter] of [
      ['KIOSK', 'K'],
      ['LATE', 'L'],
    ]) {
      const c = priced(engine, c2, {
        meterId: meter as string,
        accountId: account,
        readingId: `${meter}1`,
        delta: 10,
        unit: 'kWh',
        from: day + 12 * DAY,
        to: day + 12 * DAY + 3_600_000,
      });
      assert.deepEqual(
        c.breakdown.map((l) => [l.component, l.amount]),
        [['energy.offpeak', 2_240_000]],
      ); // RM 2.24
    }

    // The month closes on the first local midnight of July.
    const july = Date.parse('2024-07-01T00:00:00+08:00');
    const [shopMonthly, ...shopRest] = engine.calendarCharges(c2, 'SHOP', '2024-07-01');
    assert.deepEqual(shopRest, []);
    assert.equal(shopMonthly?.kind, 'monthly');
    assert.equal(shopMonthly?.readingId, 'monthly:SHOP:electricity:2024-07'); // raised for July, closing June
    assert.equal(shopMonthly?.from, july);
    // 65 kWh in 30 minutes = 130 kW x RM 45.10 = RM 5,863.00; no minimum (the month is above RM 600).
    assert.deepEqual(
      shopMonthly?.breakdown.map((l) => [l.component, l.quantity, l.unit, l.amount]),
      [['demand', '130', 'kW', 5_863_000_000]],
    );
    // KIOSK: RM 2.24 lifted to RM 600: a RM 597.76 minimum charge, and no demand in the peak.
    const [kioskMonthly] = engine.calendarCharges(c2, 'KIOSK', '2024-07-01');
    assert.deepEqual(
      kioskMonthly?.breakdown.map((l) => [l.component, l.amount]),
      [['minimum', 597_760_000]],
    );
    assert.equal(postedMinor([kioskMonthly as Charge]), 59_776n);
    // LATE was not a tenant from the 1st: no minimum for June.
    assert.deepEqual(engine.calendarCharges(c2, 'LATE', '2024-07-01'), []);
  });

  it('gas: 100 m3 x 1.02264 x 39.3 MJ/m3 / 3.6 is exactly 1,116.382 kWh', function () {
    const gas = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        utility: 'gas',
        conversion: { from: 'm3', volumeCorrection: '1.02264', calorificValue: '39.3' },
        energy: { type: 'flat', rate: '6.24' },
      },
      'uk-gas',
    );
    const engine = new TariffEngine();
    const charge = priced(engine, gas, {
      meterId: 'G',
      readingId: 'g1',
      delta: 100,
      unit: 'm3',
      from: 0,
      to: 3_600_000,
    });
    assert.equal(charge.quantity, '1116.382');
    assert.equal(charge.unit, 'kWh');
    assert.equal(charge.utility, 'gas');
    // 1,116.382 x 6.24 p = 6,966.22368 p -> 69,662,236.8 sub-minor -> 69,662,237
    assert.equal(charge.amount, 69_662_237);
    // The same volume read in litres.
    const litres = priced(new TariffEngine(), gas, {
      meterId: 'G',
      readingId: 'g2',
      delta: 100_000,
      unit: 'L',
      from: 0,
      to: 3_600_000,
    });
    assert.equal(litres.quantity, '1116.382');
    assert.equal(litres.amount, 69_662_237);
  });
});
