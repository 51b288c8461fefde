/**
 * Units real tariffs are published in (nodes/core/tariff/units.ts): exact factors by their legal definitions,
 * so a tariff keeps the rate it is published with and readings in any unit of the same quantity are
 * converted exactly.
 */
import assert from 'node:assert/strict';
import { compileTariff } from '../../dist/nodes/core/tariff/compile';
import { TariffEngine } from '../../dist/nodes/core/tariff/engine';
import { canonicalUnit, unitFactor } from '../../dist/nodes/core/tariff/units';
import { Charge } from '../../dist/nodes/core/messages';

const ratio = (from: string, to: string): [bigint, bigint] => {
  const f = unitFactor(from, to);
  assert.ok(f, `${from} -> ${to}`);
  return [f.num, f.den];
};
/** a/b === c/d */
const same = ([a, b]: [bigint, bigint], [c, d]: [bigint, bigint]): void => assert.equal(a * d, c * b);

describe('tariff units', function () {
  it('volumes by their definitions: imperial and US gallons, cubic feet, ccf, kgal', function () {
    same(ratio('imp gal', 'L'), [454_609n, 100_000n]); // 4.54609 L
    same(ratio('US gal', 'L'), [3_785_411_784n, 1_000_000_000n]); // 231 in3 = 3.785411784 L
    same(ratio('ft3', 'm3'), [28_316_846_592n, 1_000_000_000_000n]); // 0.3048^3
    same(ratio('ft3', 'm3'), [3048n ** 3n, 10_000n ** 3n]);
    same(ratio('ccf', 'ft3'), [100n, 1n]);
    same(ratio('mcf', 'ccf'), [10n, 1n]);
    same(ratio('kgal', 'US gal'), [1000n, 1n]);
    same(ratio('US gal', 'ft3'), [231n * 1728n, 1728n * 1728n]); // 231 in3 of 1728 in3 per ft3
  });

  it('energy by its definitions: MJ, GJ, MWh, therm, MMBtu, ton-hour', function () {
    same(ratio('MJ', 'kWh'), [10n, 36n]); // 1 MJ = 1/3.6 kWh
    same(ratio('GJ', 'kWh'), [10_000n, 36n]);
    same(ratio('MWh', 'kWh'), [1000n, 1n]);
    // 1 therm = 100,000 Btu(IT) = 105,505,585.262 J = 29.307107017222... kWh
    same(ratio('therm', 'kWh'), [105_505_585_262n, 3_600_000_000n]);
    same(ratio('MMBtu', 'therm'), [10n, 1n]);
    // 1 ton-hour = 12,000 Btu(IT) = 12,660,670.23144 J
    same(ratio('RTh', 'kWh'), [1_266_067_023_144n, 360_000_000_000n]);
    assert.equal(unitFactor('therm', 'm3'), undefined);
  });

  it('spellings in any case, with spaces around; an ambiguous gallon is no unit', function () {
    assert.equal(canonicalUnit(' Imp Gal '), 'imp gal');
    assert.equal(canonicalUnit('HCF'), 'ccf');
    assert.equal(canonicalUnit('Therms'), 'therm');
    assert.equal(canonicalUnit('mmbtu'), 'MMBtu');
    assert.equal(canonicalUnit('gal'), undefined);
    assert.equal(canonicalUnit('gallon'), undefined);
  });

  it('a rate per imperial gallon prices m3 readings exactly, with no rate rounded to fit m3', function () {
    // 0.2 pence per imperial gallon is 43.99384966... pence per m3: no finite decimal.
    const tariff = compileTariff(
      {
        currency: 'GBP',
        priceUnit: 'minor',
        utility: 'water',
        unit: 'imp gal',
        energy: { type: 'flat', rate: '0.2' },
      },
      'gallons',
    );
    const engine = new TariffEngine();
    const price = (id: string, delta: string): Charge => {
      const outcome = engine.priceConsumption(
        tariff,
        { meterId: 'W1', readingId: id, delta, unit: 'm3', from: 0, to: 0 },
        { now: 0 },
      );
      assert.equal(outcome.status, 'priced');
      return (outcome as { charge: Charge }).charge;
    };
    // 4.54609 m3 is 1,000 imperial gallons: 200 pence exactly.
    const first = price('r1', '4.54609');
    assert.equal(first.quantity, '1000');
    assert.equal(first.unit, 'imp gal');
    assert.equal(first.amount, 2_000_000);
    // 1 m3 is 219.969248299... gallons: 43.99384966 pence, 439938.4966 sub-minor, 439938 emitted;
    // and a second m3 carries the rest: 2 m3 = 87.98769932 p -> 879877 in total.
    const second = price('r2', '1');
    const third = price('r3', '1');
    assert.equal(second.amount, 439_938);
    assert.equal(second.amount + third.amount, 879_877);
  });

  it('a therm tariff prices kWh readings, a kWh tariff prices MJ and GJ readings', function () {
    const therms = compileTariff(
      { currency: 'USD', utility: 'gas', unit: 'therm', energy: { type: 'flat', rate: '1.25' } },
      'th',
    );
    const engine = new TariffEngine();
    // 29.3071070172222... kWh per therm: 293.071070172 kWh is 9.99999999 therm, to the micro-therm 10.
    const outcome = engine.priceConsumption(
      therms,
      { meterId: 'G1', readingId: 'g1', delta: '293.071070172', unit: 'kWh', from: 0, to: 0 },
      { now: 0 },
    );
    assert.equal(outcome.status, 'priced');
    const charge = (outcome as { charge: Charge }).charge;
    assert.equal(charge.quantity, '10');
    assert.equal(charge.amount, 12_500_000); // 9.99999999999... therm x $1.25 = $12.4999999999..., $12.50 to the sub-cent
    const kwh = compileTariff({ currency: 'EUR', energy: { type: 'flat', rate: '0.10' } }, 'kwh');
    const gj = engine.priceConsumption(
      kwh,
      { meterId: 'H1', readingId: 'h1', delta: '0.9', unit: 'GJ', from: 0, to: 0 },
      { now: 0 },
    );
    // 0.9 GJ = 250 kWh exactly: EUR 25.00
    assert.equal((gj as { charge: Charge }).charge.amount, 25_000_000);
  });
});
