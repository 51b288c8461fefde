/**
 * Published tariffs used by tests and benchmarks, written once (sources cited in
 * test/core/tariff-published.test.ts), and the ledger's posting rule for checking totals.
 */
import { CumulativeRounder, SUB_MINOR_PER_MINOR } from '../../dist/nodes/core/money';
import { Charge } from '../../dist/nodes/core/messages';

/** TNB tariff C2, medium-voltage commercial (schedule effective 1 January 2014). */
export const TNB_C2 = {
  currency: 'MYR',
  utility: 'electricity',
  timezone: 'Asia/Kuala_Lumpur',
  energy: {
    type: 'tou',
    rates: { peak: '0.365', offpeak: '0.224' },
    default: 'offpeak',
    schedule: [
      { days: ['weekday', 'saturday', 'sunday', 'holiday'], from: '08:00', to: '22:00', period: 'peak' },
    ],
  },
};

/** TNB tariff A, domestic inclining blocks (schedule effective 1 January 2014). */
export const TNB_A = {
  currency: 'MYR',
  utility: 'electricity',
  timezone: 'Asia/Kuala_Lumpur',
  energy: {
    type: 'block',
    reset: 'month',
    blocks: [
      { upTo: '200', rate: '0.218' },
      { upTo: '300', rate: '0.334' },
      { upTo: '600', rate: '0.516' },
      { upTo: '900', rate: '0.546' },
      { rate: '0.571' },
    ],
  },
};

/** Ofgem price cap 1 Oct - 31 Dec 2024, electricity, direct debit, VAT included. */
export const OFGEM_ELECTRICITY_2024Q4 = {
  currency: 'GBP',
  priceUnit: 'minor',
  utility: 'electricity',
  timezone: 'Europe/London',
  energy: { type: 'flat', rate: '24.50' },
  standingCharge: { perDay: '60.99' },
};

/** Minor units a ledger posts for these charges (running total, half-even). */
export function postedMinor(charges: Charge[]): bigint {
  const rounder = new CumulativeRounder(SUB_MINOR_PER_MINOR, 'half-even');
  let total = 0n;
  let minor = 0n;
  for (const charge of charges) {
    const step = rounder.add(total, BigInt(charge.amount));
    total = step.total;
    minor += step.emit;
  }
  return minor;
}
